"""Aurora global database moves in the sandbox, through boto3 over HTTP.

The fixture's switchover takes 60 sandbox seconds; tests move the sandbox clock with
``control.advance`` to look at a move mid-way and after it ends.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import botocore.exceptions
import pytest

from mr_failover.sandbox.client import SandboxClient
from tests.sandbox.conftest import TEST_SETTINGS, AwsFactory

EAST, WEST = "us-east-1", "us-west-2"
VERSION = "8.0.mysql_aurora.3.05.2"
DURATION = TEST_SETTINGS.aurora_failover_seconds


def make_global(
    aws: AwsFactory, west_version: str = VERSION, *, instances: bool = True
) -> dict[str, str]:
    east, west = aws("rds", EAST), aws("rds", WEST)
    east.create_global_cluster(
        GlobalClusterIdentifier="app-global", Engine="aurora-mysql", EngineVersion=VERSION
    )
    writer = east.create_db_cluster(
        DBClusterIdentifier="app-use1",
        Engine="aurora-mysql",
        EngineVersion=VERSION,
        GlobalClusterIdentifier="app-global",
        MasterUsername="admin",
        MasterUserPassword="password123",
    )["DBCluster"]["DBClusterArn"]
    secondary = west.create_db_cluster(
        DBClusterIdentifier="app-usw2",
        Engine="aurora-mysql",
        EngineVersion=west_version,
        GlobalClusterIdentifier="app-global",
    )["DBCluster"]["DBClusterArn"]
    if instances:
        for client, cluster in ((east, "app-use1"), (west, "app-usw2")):
            add_instance(client, cluster)
    return {"writer": writer, "secondary": secondary}


def add_instance(client: Any, cluster: str) -> None:
    client.create_db_instance(
        DBInstanceIdentifier=f"{cluster}-1",
        DBClusterIdentifier=cluster,
        Engine="aurora-mysql",
        DBInstanceClass="db.r6g.large",
    )


def describe(aws: AwsFactory, region: str = EAST) -> dict[str, Any]:
    out: dict[str, Any] = aws("rds", region).describe_global_clusters(
        GlobalClusterIdentifier="app-global"
    )["GlobalClusters"][0]
    return out


def writer_arn(gc: dict[str, Any]) -> str:
    return next(m["DBClusterArn"] for m in gc["GlobalClusterMembers"] if m["IsWriter"])


def code(err: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


def test_switchover_moves_through_failover_state(aws: AwsFactory, control: SandboxClient) -> None:
    arns = make_global(aws)
    out = aws("rds", EAST).switchover_global_cluster(
        GlobalClusterIdentifier="app-global", TargetDbClusterIdentifier=arns["secondary"]
    )["GlobalCluster"]
    assert out["FailoverState"] == {
        "Status": "pending",
        "FromDbClusterArn": arns["writer"],
        "ToDbClusterArn": arns["secondary"],
        "IsDataLossAllowed": False,
    }
    control.advance(DURATION / 2)
    mid = describe(aws)
    assert mid["FailoverState"]["Status"] == "switching-over"
    assert writer_arn(mid) == arns["writer"]  # IsWriter moves only at the end
    control.advance(DURATION / 2 + 1)
    done = describe(aws, WEST)
    assert "FailoverState" not in done
    assert writer_arn(done) == arns["secondary"]
    assert {m["SynchronizationStatus"] for m in done["GlobalClusterMembers"]} == {"connected"}


def test_switchover_is_refused_while_a_member_region_is_down(
    aws: AwsFactory, control: SandboxClient
) -> None:
    arns = make_global(aws)
    control.fail_region(EAST)
    with pytest.raises(botocore.exceptions.ClientError) as err:
        aws("rds", WEST).switchover_global_cluster(
            GlobalClusterIdentifier="app-global", TargetDbClusterIdentifier=arns["secondary"]
        )
    assert code(err) == "InvalidGlobalClusterStateFault"
    assert "us-east-1" in str(err.value)


def test_failover_with_data_loss_while_the_writer_region_is_down(
    aws: AwsFactory, control: SandboxClient
) -> None:
    arns = make_global(aws)
    control.fail_region(EAST)
    west = aws("rds", WEST)
    out = west.failover_global_cluster(
        GlobalClusterIdentifier="app-global",
        TargetDbClusterIdentifier=arns["secondary"],
        AllowDataLoss=True,
    )["GlobalCluster"]
    assert out["FailoverState"]["IsDataLossAllowed"] is True
    control.advance(DURATION / 2)
    assert describe(aws, WEST)["FailoverState"]["Status"] == "failing-over"
    control.advance(DURATION)
    done = describe(aws, WEST)
    assert writer_arn(done) == arns["secondary"]
    sync = {m["DBClusterArn"]: m["SynchronizationStatus"] for m in done["GlobalClusterMembers"]}
    assert sync == {arns["writer"]: "pending-resync", arns["secondary"]: "connected"}
    control.heal_region(EAST)
    control.advance(DURATION + 1)  # the old writer is rebuilt once its region is back
    assert {m["SynchronizationStatus"] for m in describe(aws)["GlobalClusterMembers"]} == {
        "connected"
    }


def test_failover_switchover_form_and_bad_combinations(
    aws: AwsFactory, control: SandboxClient
) -> None:
    arns = make_global(aws)
    west = aws("rds", WEST)
    args = {"GlobalClusterIdentifier": "app-global", "TargetDbClusterIdentifier": arns["secondary"]}
    for flags in ({}, {"AllowDataLoss": True, "Switchover": True}):
        with pytest.raises(botocore.exceptions.ClientError) as err:
            west.failover_global_cluster(**args, **flags)
        assert code(err) == "InvalidParameterCombination"
    out = aws("rds", EAST).failover_global_cluster(**args, Switchover=True)["GlobalCluster"]
    assert out["FailoverState"]["IsDataLossAllowed"] is False
    control.advance(DURATION / 2)
    assert describe(aws)["FailoverState"]["Status"] == "switching-over"


@pytest.mark.parametrize(
    ("global_id", "target", "expected"),
    [
        ("nope", "secondary", "GlobalClusterNotFoundFault"),
        ("app-global", "unknown", "DBClusterNotFoundFault"),
        ("app-global", "writer", "InvalidGlobalClusterStateFault"),
    ],
)
def test_refusals(
    aws: AwsFactory, control: SandboxClient, global_id: str, target: str, expected: str
) -> None:
    arns = make_global(aws)
    with pytest.raises(botocore.exceptions.ClientError) as err:
        aws("rds", WEST).switchover_global_cluster(
            GlobalClusterIdentifier=global_id,
            TargetDbClusterIdentifier=arns.get(target, "arn:aws:rds:us-west-2:1:cluster:x"),
        )
    assert code(err) == expected


def test_a_second_move_is_refused_while_one_is_in_progress(
    aws: AwsFactory, control: SandboxClient
) -> None:
    arns = make_global(aws)
    west = aws("rds", WEST)
    args = {"GlobalClusterIdentifier": "app-global", "TargetDbClusterIdentifier": arns["secondary"]}
    aws("rds", EAST).switchover_global_cluster(**args)
    with pytest.raises(botocore.exceptions.ClientError) as err:
        west.failover_global_cluster(**args, AllowDataLoss=True)
    assert code(err) == "InvalidGlobalClusterStateFault"


def test_engine_versions_that_differ_are_refused(aws: AwsFactory, control: SandboxClient) -> None:
    arns = make_global(aws, west_version="8.0.mysql_aurora.3.04.0")
    with pytest.raises(botocore.exceptions.ClientError) as err:
        aws("rds", WEST).failover_global_cluster(
            GlobalClusterIdentifier="app-global",
            TargetDbClusterIdentifier=arns["secondary"],
            AllowDataLoss=True,
        )
    assert code(err) == "InvalidGlobalClusterStateFault"
    assert "engine versions" in str(err.value)


def test_remove_from_global_cluster_in_the_members_region(
    aws: AwsFactory, control: SandboxClient
) -> None:
    arns = make_global(aws)
    with pytest.raises(botocore.exceptions.ClientError) as err:
        aws("rds", EAST).remove_from_global_cluster(
            GlobalClusterIdentifier="app-global", DbClusterIdentifier=arns["secondary"]
        )
    assert code(err) == "DBClusterNotFoundFault"
    control.fail_region(EAST)  # detaching is the lever that works in an outage
    out = aws("rds", WEST).remove_from_global_cluster(
        GlobalClusterIdentifier="app-global", DbClusterIdentifier=arns["secondary"]
    )["GlobalCluster"]
    assert [m["DBClusterArn"] for m in out["GlobalClusterMembers"]] == [arns["writer"]]


def test_the_writer_cannot_leave_while_secondaries_remain(
    aws: AwsFactory, control: SandboxClient
) -> None:
    arns = make_global(aws)
    with pytest.raises(botocore.exceptions.ClientError) as err:
        aws("rds", EAST).remove_from_global_cluster(
            GlobalClusterIdentifier="app-global", DbClusterIdentifier=arns["writer"]
        )
    assert code(err) == "InvalidGlobalClusterStateFault"


def lag_values(aws: AwsFactory, region: str, cluster: str, metric: str) -> list[float]:
    now = dt.datetime.now(dt.UTC)
    points = aws("cloudwatch", region).get_metric_statistics(
        Namespace="AWS/RDS",
        MetricName=metric,
        Dimensions=[{"Name": "DBClusterIdentifier", "Value": cluster}],
        StartTime=now - dt.timedelta(minutes=10),
        EndTime=now + dt.timedelta(hours=1),  # the sandbox clock runs ahead
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    return [p["Maximum"] for p in points]


def test_lag_metrics_in_the_secondarys_region(aws: AwsFactory, control: SandboxClient) -> None:
    make_global(aws)
    control.settings(aurora_replication_lag_ms=250)
    control.advance(1.5)
    for metric in ("AuroraGlobalDBReplicationLag", "AuroraGlobalDBRPOLag"):
        assert lag_values(aws, WEST, "app-usw2", metric) == [250.0]
        assert lag_values(aws, EAST, "app-usw2", metric) == []
    assert lag_values(aws, EAST, "app-use1", "AuroraGlobalDBReplicationLag") == []


def test_lag_grows_while_the_writer_region_is_down(aws: AwsFactory, control: SandboxClient) -> None:
    make_global(aws)
    control.settings(aurora_replication_lag_ms=100)
    control.fail_region(EAST)
    control.advance(1.5)
    control.advance(10)
    assert max(lag_values(aws, WEST, "app-usw2", "AuroraGlobalDBRPOLag")) >= 10_000
