"""botocore's parsed models cached on disk (mr_failover.aws._ModelCache): read back when
the model file is unchanged, parsed again when it changed or the cache is unusable."""

from __future__ import annotations

import gzip
import json
import marshal
import os
from pathlib import Path

import pytest

from mr_failover import aws, statedir
from mr_failover.diskcache import DiskCache


def _model(folder: Path, body: dict[str, object], *, gz: bool = False) -> str:
    base = folder / "svc" / "2020-01-01" / "service-2"
    base.parent.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(body).encode()
    if gz:
        Path(f"{base}.json.gz").write_bytes(gzip.compress(raw))
    else:
        Path(f"{base}.json").write_text(raw.decode())
    return str(base)


def _cached(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.marshal"))


@pytest.mark.parametrize("gz", [False, True])
def test_an_unchanged_model_is_read_back_from_the_cache(tmp_path: Path, gz: bool) -> None:
    cache = tmp_path / "cache"
    base = _model(tmp_path / "models", {"version": "2.0", "operations": {"A": {}}}, gz=gz)
    loader = aws._PlainJsonFileLoader(aws._ModelCache(DiskCache(cache)))
    assert loader.load_file(base) == {"version": "2.0", "operations": {"A": {}}}
    (entry,) = _cached(cache)
    assert (entry.stat().st_mode & 0o777, cache.stat().st_mode & 0o777) == (0o600, 0o700)
    # What the cache holds is what is returned (the JSON is not parsed again).
    entry.write_bytes(marshal.dumps({"from": "cache"}))
    assert loader.load_file(base) == {"from": "cache"}


def test_a_changed_model_file_is_parsed_again(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    base = _model(tmp_path / "models", {"operations": {"A": {}}})
    loader = aws._PlainJsonFileLoader(aws._ModelCache(DiskCache(cache)))
    loader.load_file(base)
    _model(tmp_path / "models", {"operations": {"A": {}, "B": {}}})  # other size: other key
    assert loader.load_file(base) == {"operations": {"A": {}, "B": {}}}
    assert len(_cached(cache)) == 2


def test_a_torn_cache_entry_is_parsed_and_written_again(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    base = _model(tmp_path / "models", {"operations": {"A": {}}})
    loader = aws._PlainJsonFileLoader(aws._ModelCache(DiskCache(cache)))
    loader.load_file(base)
    (entry,) = _cached(cache)
    entry.write_bytes(marshal.dumps({"x": 1})[:-3])  # cut short, as by a crash
    assert loader.load_file(base) == {"operations": {"A": {}}}
    assert marshal.loads(entry.read_bytes()) == {"operations": {"A": {}}}


def test_a_folder_others_may_write_in_is_not_used(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    os.chmod(cache, 0o777)
    base = _model(tmp_path / "models", {"operations": {}})
    loader = aws._PlainJsonFileLoader(aws._ModelCache(DiskCache(cache)))
    assert loader.load_file(base) == {"operations": {}}
    assert _cached(cache) == []


def test_the_cache_can_be_turned_off_and_a_missing_file_is_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MR_FAILOVER_CACHE_DIR", "off")
    assert statedir.cache_dir() is None
    loader = aws._new_loader(None)
    assert loader.load_service_model("sts", "service-2")["metadata"]["serviceId"] == "STS"
    file_loader = aws._PlainJsonFileLoader(aws._ModelCache(DiskCache(tmp_path / "cache")))
    assert file_loader.load_file(str(tmp_path / "nothing-here")) is None
    monkeypatch.setenv("MR_FAILOVER_CACHE_DIR", str(tmp_path / "c"))
    aws._new_loader(None).load_service_model("sts", "service-2")
    assert _cached(tmp_path / "c")  # on by default, in the folder named


def test_a_service_model_is_kept_without_its_documentation(tmp_path: Path) -> None:
    doc = {"documentation": "<p>words</p>"}
    body = {
        "documentation": "<p>the service</p>",
        "operations": {
            "Get": {
                **doc,
                "documentationUrl": "https://docs.example",
                "input": {"shape": "GetIn", **doc},
                "errors": [{"shape": "Nope", **doc}],
            }
        },
        "shapes": {
            # A member may be named "documentation": it is kept, its doc string is not.
            "GetIn": {"type": "structure", "members": {"documentation": {"shape": "S", **doc}}},
            "L": {"type": "list", "member": {"shape": "S", **doc}, **doc},
            "S": {"type": "string", **doc},
        },
    }
    loader = aws._PlainJsonFileLoader(aws._ModelCache(DiskCache(tmp_path / "cache")))
    expected = {
        "operations": {"Get": {"input": {"shape": "GetIn"}, "errors": [{"shape": "Nope"}]}},
        "shapes": {
            "GetIn": {"type": "structure", "members": {"documentation": {"shape": "S"}}},
            "L": {"type": "list", "member": {"shape": "S"}},
            "S": {"type": "string"},
        },
    }
    base = _model(tmp_path / "models", body)
    assert loader.load_file(base) == expected  # parsed
    assert loader.load_file(base) == expected  # read back


def test_a_real_client_works_from_models_without_documentation(tmp_path: Path) -> None:
    from botocore.stub import Stubber

    loader = aws._new_loader(None)
    loader.file_loader = aws._PlainJsonFileLoader(aws._ModelCache(DiskCache(tmp_path / "c")))
    model = loader.load_service_model("dynamodb", "service-2")
    assert "documentation" not in model["operations"]["DescribeTable"]
    session = aws._session(None)
    session.register_component("data_loader", loader)
    client = session.create_client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    with Stubber(client) as stub:
        stub.add_response(
            "describe_table", {"Table": {"TableName": "orders"}}, {"TableName": "orders"}
        )
        assert client.describe_table(TableName="orders")["Table"]["TableName"] == "orders"
