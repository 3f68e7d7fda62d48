"""DynamoDB global tables in the sandbox, through boto3 over HTTP.

The sandbox here runs on a frozen clock: ``sandbox.advance(s)`` moves it and runs the
simulations once, so each test sees the world just before and just after the lag
without sleeping. (test_seed.py covers the real clock and the ticker thread.)
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from typing import Any

import pytest

from mr_failover.sandbox import dynamodb as simulation
from mr_failover.sandbox.core import Sandbox
from mr_failover.sandbox.faults import Fault
from tests.sandbox.conftest import FROZEN_LAG

LAG = FROZEN_LAG  # the sb fixture (tests/sandbox/conftest.py) replicates after LAG
EAST, WEST, EU = "us-east-1", "us-west-2", "eu-west-1"


def make_global(
    ddb: Callable[[str], Any], sb: Sandbox, name: str = "orders", *regions: str
) -> None:
    ddb(EAST).create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    for region in regions or (WEST,):
        ddb(EAST).update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": region}}])
    sb.advance(LAG)


def get(ddb: Any, pk: str, table: str = "orders") -> dict[str, Any] | None:
    item: dict[str, Any] | None = ddb.get_item(
        TableName=table, Key={"pk": {"S": pk}}, ConsistentRead=True
    ).get("Item")
    return item


@pytest.fixture
def ddb(client: Callable[[str, str], Any]) -> Callable[[str], Any]:
    return lambda region: client("dynamodb", region)


def test_replica_is_created_then_active_with_same_schema_and_items(
    sb: Sandbox, ddb: Callable[[str], Any]
) -> None:
    ddb(EAST).create_table(
        TableName="orders",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb(EAST).put_item(TableName="orders", Item={"pk": {"S": "old"}, "sk": {"N": "1"}})

    out = ddb(EAST).update_table(
        TableName="orders", ReplicaUpdates=[{"Create": {"RegionName": WEST}}]
    )["TableDescription"]

    assert out["TableStatus"] == "UPDATING"
    assert out["GlobalTableVersion"] == "2019.11.21"
    assert out["Replicas"] == [
        {"RegionName": EAST, "ReplicaStatus": "ACTIVE"},
        {"RegionName": WEST, "ReplicaStatus": "CREATING"},
    ]
    west = ddb(WEST).describe_table(TableName="orders")["Table"]
    east = ddb(EAST).describe_table(TableName="orders")["Table"]
    assert west["KeySchema"] == east["KeySchema"]
    # Streams were off: adding a replica turns them on, on both sides.
    assert east["StreamSpecification"] == west["StreamSpecification"]
    assert west["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert west["Replicas"][1]["ReplicaStatus"] == "CREATING"

    sb.advance(LAG)

    for region in (EAST, WEST):
        table = ddb(region).describe_table(TableName="orders")["Table"]
        assert table["TableStatus"] == "ACTIVE"
        assert {r["RegionName"]: r["ReplicaStatus"] for r in table["Replicas"]} == {
            EAST: "ACTIVE",
            WEST: "ACTIVE",
        }
    # The backfill: items written before the replica existed are there.
    item = ddb(WEST).get_item(TableName="orders", Key={"pk": {"S": "old"}, "sk": {"N": "1"}})
    assert item["Item"]["pk"] == {"S": "old"}


def test_plain_table_has_no_replicas(sb: Sandbox, ddb: Callable[[str], Any]) -> None:
    ddb(EAST).create_table(
        TableName="plain",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table = ddb(EAST).describe_table(TableName="plain")["Table"]
    assert "Replicas" not in table
    assert "GlobalTableVersion" not in table


def test_replica_into_existing_table_is_refused(sb: Sandbox, ddb: Callable[[str], Any]) -> None:
    make_global(ddb, sb)
    with pytest.raises(ddb(EAST).exceptions.ClientError, match="already existed as tables"):
        ddb(EAST).update_table(
            TableName="orders", ReplicaUpdates=[{"Create": {"RegionName": WEST}}]
        )


def test_items_replicate_after_the_lag(sb: Sandbox, ddb: Callable[[str], Any]) -> None:
    make_global(ddb, sb)
    ddb(EAST).put_item(TableName="orders", Item={"pk": {"S": "a"}, "v": {"N": "1"}})

    sb.advance(LAG / 2)
    assert get(ddb(WEST), "a") is None

    sb.advance(LAG / 2)
    assert get(ddb(WEST), "a") == {"pk": {"S": "a"}, "v": {"N": "1"}}


def test_update_delete_and_batch_writes_replicate_both_ways(
    sb: Sandbox, ddb: Callable[[str], Any]
) -> None:
    make_global(ddb, sb)
    ddb(WEST).put_item(TableName="orders", Item={"pk": {"S": "u"}, "v": {"N": "1"}})
    ddb(WEST).put_item(TableName="orders", Item={"pk": {"S": "d"}})
    sb.advance(LAG)
    ddb(EAST).update_item(
        TableName="orders",
        Key={"pk": {"S": "u"}},
        UpdateExpression="SET v = v + :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    ddb(EAST).delete_item(TableName="orders", Key={"pk": {"S": "d"}})
    ddb(EAST).batch_write_item(
        RequestItems={
            "orders": [
                {"PutRequest": {"Item": {"pk": {"S": "b1"}}}},
                {"PutRequest": {"Item": {"pk": {"S": "b2"}}}},
            ]
        }
    )
    assert get(ddb(WEST), "d") is not None

    sb.advance(LAG)

    assert get(ddb(WEST), "u") == {"pk": {"S": "u"}, "v": {"N": "2"}}
    assert get(ddb(WEST), "d") is None
    assert get(ddb(WEST), "b1") is not None
    assert get(ddb(WEST), "b2") is not None


def test_three_regions_all_receive(sb: Sandbox, ddb: Callable[[str], Any]) -> None:
    make_global(ddb, sb, "orders", WEST, EU)
    ddb(EU).put_item(TableName="orders", Item={"pk": {"S": "x"}})
    sb.advance(LAG)
    assert get(ddb(EAST), "x") is not None
    assert get(ddb(WEST), "x") is not None


def test_last_writer_wins_even_when_the_older_write_arrives_last(
    sb: Sandbox, ddb: Callable[[str], Any]
) -> None:
    make_global(ddb, sb)
    ddb(WEST).put_item(TableName="orders", Item={"pk": {"S": "k"}, "v": {"S": "older"}})
    sb.add_fault(Fault(region=WEST))  # the older write is stuck in us-west-2
    sb.advance(0.01)
    ddb(EAST).put_item(TableName="orders", Item={"pk": {"S": "k"}, "v": {"S": "newer"}})
    sb.advance(LAG * 3)
    assert get(ddb(EAST), "k") == {"pk": {"S": "k"}, "v": {"S": "newer"}}

    sb.heal(WEST)
    sb.advance(LAG)  # now the older write reaches us-east-1, and the newer us-west-2

    assert get(ddb(EAST), "k") == {"pk": {"S": "k"}, "v": {"S": "newer"}}
    assert get(ddb(WEST), "k") == {"pk": {"S": "k"}, "v": {"S": "newer"}}


def test_no_replication_into_a_region_that_is_down_then_catch_up(
    sb: Sandbox, ddb: Callable[[str], Any]
) -> None:
    make_global(ddb, sb)
    sb.add_fault(Fault(region=WEST, service="dynamodb"))
    ddb(EAST).put_item(TableName="orders", Item={"pk": {"S": "during"}})
    sb.advance(LAG * 10)
    # The region's API is down, so look at the stored table behind it.
    west_table = sb.backend("dynamodb", WEST).tables["orders"]
    assert len(west_table) == 0
    # The replica is shown as it was (see docs/SANDBOX-data.md).
    replicas = ddb(EAST).describe_table(TableName="orders")["Table"]["Replicas"]
    assert {r["RegionName"]: r["ReplicaStatus"] for r in replicas}[WEST] == "ACTIVE"

    sb.heal(WEST, "dynamodb")
    sb.advance(0.0)

    assert get(ddb(WEST), "during") == {"pk": {"S": "during"}}


def test_no_replication_out_of_a_region_that_is_down(
    sb: Sandbox, ddb: Callable[[str], Any]
) -> None:
    make_global(ddb, sb)
    ddb(WEST).put_item(TableName="orders", Item={"pk": {"S": "stuck"}})
    sb.add_fault(Fault(region=WEST))
    sb.advance(LAG * 10)
    assert get(ddb(EAST), "stuck") is None
    sb.heal(WEST)
    sb.advance(0.0)
    assert get(ddb(EAST), "stuck") is not None


def test_replication_latency_metric_in_the_sending_region(
    sb: Sandbox, ddb: Callable[[str], Any], client: Callable[[str, str], Any]
) -> None:
    make_global(ddb, sb)
    ddb(EAST).put_item(TableName="orders", Item={"pk": {"S": "m"}})
    sb.advance(LAG + 0.05)

    cw_east = client("cloudwatch", EAST)
    metrics = cw_east.list_metrics(Namespace="AWS/DynamoDB", MetricName="ReplicationLatency")
    dims = {
        tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"])) for m in metrics["Metrics"]
    }
    assert dims == {(("ReceivingRegion", WEST), ("TableName", "orders"))}
    now = dt.datetime.now(dt.UTC)
    stats = cw_east.get_metric_statistics(
        Namespace="AWS/DynamoDB",
        MetricName="ReplicationLatency",
        Dimensions=[
            {"Name": "TableName", "Value": "orders"},
            {"Name": "ReceivingRegion", "Value": WEST},
        ],
        StartTime=now - dt.timedelta(minutes=5),
        EndTime=now + dt.timedelta(minutes=1),
        Period=60,
        Statistics=["Maximum"],
    )
    (point,) = stats["Datapoints"]
    assert point["Maximum"] == pytest.approx((LAG + 0.05) * 1000)
    # Nothing was sent from us-west-2, so nothing is published there.
    cw_west = client("cloudwatch", WEST)
    assert cw_west.list_metrics(Namespace="AWS/DynamoDB")["Metrics"] == []


def test_replica_delete_removes_the_table(sb: Sandbox, ddb: Callable[[str], Any]) -> None:
    make_global(ddb, sb, "orders", WEST, EU)
    out = ddb(EAST).update_table(
        TableName="orders", ReplicaUpdates=[{"Delete": {"RegionName": EU}}]
    )
    statuses = {r["RegionName"]: r["ReplicaStatus"] for r in out["TableDescription"]["Replicas"]}
    assert statuses[EU] == "DELETING"
    sb.advance(LAG)
    replicas = ddb(EAST).describe_table(TableName="orders")["Table"]["Replicas"]
    assert {r["RegionName"] for r in replicas} == {EAST, WEST}
    assert ddb(EU).list_tables()["TableNames"] == []


# --- version 2017.11.29 (Legacy): CreateGlobalTable / DescribeGlobalTable -------------------


def make_legacy(ddb: Callable[[str], Any], sb: Sandbox, name: str = "legacy") -> None:
    """Two empty tables with streams, joined by CreateGlobalTable (the legacy way)."""
    for region in (EAST, WEST):
        ddb(region).create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
    out = ddb(EAST).create_global_table(
        GlobalTableName=name, ReplicationGroup=[{"RegionName": EAST}, {"RegionName": WEST}]
    )["GlobalTableDescription"]
    assert out["GlobalTableStatus"] == "CREATING"
    sb.advance(LAG)


def test_a_legacy_global_table_is_described_by_describe_global_table_only(
    sb: Sandbox, ddb: Callable[[str], Any]
) -> None:
    # rule: dynamodb-legacy-global-tables
    make_legacy(ddb, sb)
    out = ddb(WEST).describe_global_table(GlobalTableName="legacy")["GlobalTableDescription"]
    assert out["GlobalTableStatus"] == "ACTIVE"
    assert [r["RegionName"] for r in out["ReplicationGroup"]] == [EAST, WEST]
    # DescribeTable's Replicas and GlobalTableVersion belong to version 2019.11.21.
    table = ddb(EAST).describe_table(TableName="legacy")["Table"]
    assert "Replicas" not in table and "GlobalTableVersion" not in table
    # Items replicate both ways, as in a current-version global table.
    ddb(WEST).put_item(TableName="legacy", Item={"pk": {"S": "w"}})
    sb.advance(LAG)
    assert get(ddb(EAST), "w", table="legacy") == {"pk": {"S": "w"}}


def test_describe_global_table_does_not_know_a_current_version_table(
    sb: Sandbox, ddb: Callable[[str], Any]
) -> None:
    make_global(ddb, sb, "current")
    with pytest.raises(ddb(EAST).exceptions.GlobalTableNotFoundException):
        ddb(EAST).describe_global_table(GlobalTableName="current")


def test_create_global_table_needs_empty_streamed_tables_in_every_region(
    sb: Sandbox, ddb: Callable[[str], Any]
) -> None:
    ddb(EAST).create_table(
        TableName="lone",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    group = [{"RegionName": EAST}, {"RegionName": WEST}]
    with pytest.raises(ddb(EAST).exceptions.TableNotFoundException):
        ddb(EAST).create_global_table(GlobalTableName="lone", ReplicationGroup=group)
    ddb(WEST).create_table(
        TableName="lone",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(ddb(EAST).exceptions.ClientError, match="Streams"):
        ddb(EAST).create_global_table(GlobalTableName="lone", ReplicationGroup=group)
    make_legacy(ddb, sb, "twice")
    with pytest.raises(ddb(EAST).exceptions.GlobalTableAlreadyExistsException):
        ddb(EAST).create_global_table(GlobalTableName="twice", ReplicationGroup=group)


def test_the_tool_reads_both_versions_replicas(sb: Sandbox, ddb: Callable[[str], Any]) -> None:
    from mr_failover.resources import dynamodb

    make_legacy(ddb, sb)
    make_global(ddb, sb, "current")
    legacy = dynamodb.observe_table(ddb(EAST), "legacy")
    assert (legacy.version, legacy.legacy) == ("2017.11.29", True)
    assert [r.region for r in legacy.replicas] == [EAST, WEST]
    current = dynamodb.observe_table(ddb(EAST), "current")
    assert (current.version, current.legacy) == ("2019.11.21", False)
    assert [r.region for r in current.replicas] == [EAST, WEST]


# Last: the `sandbox` fixture starts a second sandbox, which then serves the patched moto.
@pytest.mark.parametrize("hook", simulation.HOOKS)
def test_patched_moto_attribute_exists_and_is_wrapped(sandbox: Sandbox, hook: str) -> None:
    # The simulation patches moto 5.2.5's internals: a moto upgrade must fail here first.
    module_name, cls_name, attr = hook.rsplit(".", 2)
    cls = getattr(importlib.import_module(module_name), cls_name)
    patched = vars(cls)[attr]
    function = patched.fget if isinstance(patched, property) else patched
    assert function.__code__.co_filename == simulation.__file__, f"{hook} is not patched"
