"""Packaging: the data files ship with the package and load through importlib.resources.

``setup.cfg``'s ``package_data`` is the whole list of non-module files in the wheel
(``include_package_data`` is off, so setuptools no longer mistakes ``data/`` and
``data/drills/`` for packages it would ignore). A data file added to the tree without a
matching pattern would be missing from an installed copy: the first test catches that.
"""

from __future__ import annotations

import configparser
import fnmatch
import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import yaml

import mr_failover
from mr_failover import topology as topo
from mr_failover.drill import load_scenario

REPO = Path(__file__).resolve().parents[2]
PACKAGE = Path(mr_failover.__file__).resolve().parent


def _package_data_patterns() -> list[str]:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    assert cfg.get("options", "include_package_data") == "False"
    raw = cfg.get("options.package_data", "mr_failover")
    return [p.strip() for p in raw.replace("\n", ",").split(",") if p.strip()]


def _data_files() -> list[str]:
    """Every non-module file under the package, relative to it (caches excluded)."""
    return sorted(
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    )


def test_every_data_file_in_the_package_is_listed_in_package_data() -> None:
    patterns = _package_data_patterns()
    files = _data_files()
    assert {"data/regions.yaml", "data/regions.schema.json", "py.typed"} <= set(files)
    assert any(f.startswith("data/drills/") for f in files)
    unlisted = [f for f in files if not any(fnmatch.fnmatch(f, p) for p in patterns)]
    assert unlisted == []
    # Each pattern matches something: a stale one would hide a renamed file.
    assert all(any(fnmatch.fnmatch(f, p) for f in files) for p in patterns)


def test_the_example_topology_and_its_schema_load_as_resources() -> None:
    data = resources.files("mr_failover") / "data"
    example = yaml.safe_load((data / "regions.yaml").read_text())
    assert set(example["regions"]) == {"us-east-1", "us-west-2"}
    assert topo.shipped_example() == (data / "regions.yaml").read_text()
    schema = json.loads((data / "regions.schema.json").read_text())
    # (test_topology_schema.py checks it matches the model; here: it is the file shipped.)
    assert schema["title"] == "mr-failover topology"
    assert (resources.files("mr_failover") / "py.typed").is_file()


def test_the_shipped_drills_load_as_resources() -> None:
    drills = resources.files("mr_failover") / "data" / "drills"
    names = sorted(d.name for d in drills.iterdir() if d.name.endswith(".yaml"))
    assert "region-outage.yaml" in names
    with resources.as_file(resources.files("mr_failover") / "data" / "regions.yaml") as path:
        example = topo.load(path)
    for name in names:
        with resources.as_file(drills / name) as path:
            scenario = load_scenario(path, example)  # parsed and checked against the example
        assert scenario.steps, name


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mr_failover", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout
    assert "promote" in result.stdout
