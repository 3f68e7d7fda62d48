"""The shipped JSON Schema is generated from the model and cannot go stale."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from mr_failover import topology
from mr_failover.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_SCHEMA = ROOT / "mr_failover" / "data" / "regions.schema.json"
EXAMPLE = ROOT / "config" / "regions.yaml"


def test_shipped_schema_equals_the_generated_one() -> None:
    # If this fails: mr-failover schema > mr_failover/data/regions.schema.json
    assert json.loads(SHIPPED_SCHEMA.read_text()) == topology.json_schema()


def test_the_example_points_editors_at_the_shipped_schema() -> None:
    first = EXAMPLE.read_text().splitlines()[0]
    assert first.startswith(topology.SCHEMA_URL_COMMENT)
    target = EXAMPLE.parent / first.removeprefix(topology.SCHEMA_URL_COMMENT)
    assert target.resolve() == SHIPPED_SCHEMA.resolve()


def test_config_example_is_the_packaged_example() -> None:
    assert EXAMPLE.read_text() == topology.shipped_example()


def test_the_schema_is_a_valid_schema_and_accepts_the_example() -> None:
    schema = topology.json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(EXAMPLE.read_text()), schema)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("account_id",), "1234"),
        (("regions", "us-west-2", "aurora", "role"), "primary"),
        (("regions", "us-west-2", "aurora", "clustr"), "x"),
        (("policy", "rpo_seconds"), -1),
        (("primary_region",), "Virginia"),
    ],
)
def test_the_schema_refuses_what_the_loader_refuses(
    tmp_path: Path, path: tuple[str, ...], value: object
) -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, topology.json_schema())
    file = tmp_path / "t.yaml"
    file.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError):
        topology.load(file)


def test_schema_refuses_a_region_key_that_is_not_region_shaped() -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["regions"]["oregon"] = data["regions"].pop("us-west-2")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, topology.json_schema())


def test_the_region_pattern_accepts_every_region_botocore_knows() -> None:
    regions = topology.known_regions()
    assert "us-east-1" in regions
    assert [r for r in regions if not re.match(topology.REGION_PATTERN, r)] == []
