"""Validated topology files read back from the cache (topology.load, mr_failover.diskcache):
only a file validated before, byte for byte, by the same code; never an invalid one, a
torn entry, or an entry naming anything but the topology's own models."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from mr_failover import topology
from mr_failover.errors import ConfigError

EXAMPLE = topology.shipped_example()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("MR_FAILOVER_CACHE_DIR", str(folder))
    return folder


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.topology"))


def _write(tmp_path: Path, text: str, name: str = "regions.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _no_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(file: Path, text: str) -> topology.Topology:
        raise AssertionError(f"{file} was validated, not read back from the cache")

    monkeypatch.setattr(topology, "_validate", refuse)


def test_a_file_validated_before_is_read_back_equal(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = topology.load(_write(tmp_path, EXAMPLE))
    (entry,) = _entries(cache)
    assert (entry.stat().st_mode & 0o777, cache.stat().st_mode & 0o777) == (0o600, 0o700)
    _no_validation(monkeypatch)
    # The same text under another name is the same topology: the key is the text.
    again = topology.load(_write(tmp_path, EXAMPLE, "copy.yaml"))
    assert again == first and again is not first
    assert again.writer_region() == first.writer_region()
    assert again.model_dump() == first.model_dump()


def test_a_changed_file_is_validated_again(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, EXAMPLE)
    topology.load(path)
    path.write_text(EXAMPLE.replace("application: ", "application: x", 1))
    changed = topology.load(path)
    assert changed.application.startswith("x")
    assert len(_entries(cache)) == 2
    # An error in the changed text is found, though the old text's entry is there.
    path.write_text(EXAMPLE.replace("primary_region: ", "primary_region: mars-1 #", 1))
    with pytest.raises(ConfigError, match="mars-1"):
        topology.load(path)


def test_an_invalid_file_is_never_cached(tmp_path: Path, cache: Path) -> None:
    path = _write(tmp_path, EXAMPLE.replace("account_id: ", "account_id: 12 #", 1))
    for _ in range(2):
        with pytest.raises(ConfigError, match="account_id"):
            topology.load(path)
    assert _entries(cache) == []


def test_a_torn_entry_is_validated_afresh_and_written_again(tmp_path: Path, cache: Path) -> None:
    path = _write(tmp_path, EXAMPLE)
    expected = topology.load(path)
    (entry,) = _entries(cache)
    whole = entry.read_bytes()
    entry.write_bytes(whole[: len(whole) // 2])  # cut short, as by a full disk
    assert topology.load(path) == expected
    assert entry.read_bytes() == whole


def test_an_entry_naming_anything_but_a_topology_model_is_refused(
    tmp_path: Path, cache: Path
) -> None:
    path = _write(tmp_path, EXAMPLE)
    expected = topology.load(path)
    (entry,) = _entries(cache)
    marker = tmp_path / "ran"

    class Planted:
        def __reduce__(self) -> tuple[object, ...]:
            return (os.mkdir, (str(marker),))

    entry.write_bytes(pickle.dumps(Planted()))
    assert topology.load(path) == expected
    assert not marker.exists()
    # A model of another module, or plain data, is no topology either.
    entry.write_bytes(pickle.dumps({"application": "shop"}))
    assert topology.load(path) == expected
    entry.write_bytes(pickle.dumps(expected.regions["us-east-1"]))
    assert topology.load(path) == expected


def test_other_code_does_not_read_the_entry(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, EXAMPLE)
    topology.load(path)
    monkeypatch.setattr(topology, "_code_fingerprint", lambda: "another version of the code")
    topology.load(path)
    assert len(_entries(cache)) == 2


def test_the_cache_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MR_FAILOVER_CACHE_DIR", "off")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    topology.load(_write(tmp_path, EXAMPLE))
    assert list(tmp_path.rglob("*.topology")) == []


def test_a_folder_others_may_write_in_is_not_used(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache.mkdir()
    os.chmod(cache, 0o777)
    path = _write(tmp_path, EXAMPLE)
    topology.load(path)
    assert _entries(cache) == []
