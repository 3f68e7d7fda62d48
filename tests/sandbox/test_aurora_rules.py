"""The Aurora user guide's rules for global database moves, as the sandbox enforces them.

Each test names the rule id of docs/SANDBOX.md's rules table. A sandbox that accepted
what these refuse would let the tool's old beliefs pass unseen.
"""

from __future__ import annotations

import botocore.exceptions
import pytest

from mr_failover.sandbox.aurora import versions_refusal
from mr_failover.sandbox.client import SandboxClient
from tests.sandbox.conftest import AwsFactory
from tests.sandbox.test_aurora import (
    DURATION,
    EAST,
    VERSION,
    WEST,
    add_instance,
    code,
    describe,
    make_global,
    writer_arn,
)

ARGS = {"GlobalClusterIdentifier": "app-global"}


def test_switchover_is_accepted_only_in_the_primarys_region(
    aws: AwsFactory, control: SandboxClient
) -> None:
    """rule: aurora-move-region"""
    arns = make_global(aws)
    args = {**ARGS, "TargetDbClusterIdentifier": arns["secondary"]}
    with pytest.raises(botocore.exceptions.ClientError) as err:
        aws("rds", WEST).switchover_global_cluster(**args)
    assert code(err) == "InvalidParameterValue"
    assert "send it to us-east-1" in str(err.value)
    aws("rds", EAST).switchover_global_cluster(**args)
    control.advance(DURATION + 1)
    assert writer_arn(describe(aws)) == arns["secondary"]


def test_failover_is_accepted_only_in_the_targets_region(
    aws: AwsFactory, control: SandboxClient
) -> None:
    """rule: aurora-move-region"""
    arns = make_global(aws)
    args = {**ARGS, "TargetDbClusterIdentifier": arns["secondary"], "AllowDataLoss": True}
    with pytest.raises(botocore.exceptions.ClientError) as err:
        aws("rds", EAST).failover_global_cluster(**args)
    assert code(err) == "InvalidParameterValue"
    assert "send it to us-west-2" in str(err.value)
    aws("rds", WEST).failover_global_cluster(**args)


def test_a_headless_target_is_refused_until_it_has_an_instance(
    aws: AwsFactory, control: SandboxClient
) -> None:
    """rule: aurora-headless-target"""
    arns = make_global(aws, instances=False)
    add_instance(aws("rds", EAST), "app-use1")
    args = {**ARGS, "TargetDbClusterIdentifier": arns["secondary"]}
    with pytest.raises(botocore.exceptions.ClientError) as err:
        aws("rds", EAST).switchover_global_cluster(**args)
    assert code(err) == "InvalidDBClusterStateFault"
    assert "no DB instance" in str(err.value)
    add_instance(aws("rds", WEST), "app-usw2")
    aws("rds", EAST).switchover_global_cluster(**args)


@pytest.mark.parametrize(
    ("engine", "versions", "refused"),
    [
        ("aurora-mysql", {"8.0.mysql_aurora.3.05.2", "8.0.mysql_aurora.3.05.1"}, True),
        ("aurora-mysql", {"8.0.mysql_aurora.3.05.2", "8.0.mysql_aurora.3.04.0"}, True),
        ("aurora-postgresql", {"14.9.2", "14.9.1"}, False),  # 14.5+ allows patch levels
        ("aurora-postgresql", {"13.7.1", "13.7.2"}, True),  # below 13.8
        ("aurora-postgresql", {"15.4", "15.4.9"}, False),
        ("aurora-postgresql", {"15.4", "15.5"}, True),  # minor differs
        ("aurora-postgresql", {"14.9"}, False),
    ],
)
def test_engine_version_rule(engine: str, versions: set[str], refused: bool) -> None:
    """rule: aurora-engine-versions"""
    assert (versions_refusal(engine, versions) is not None) is refused


def test_a_patch_difference_the_guide_allows_is_accepted(
    aws: AwsFactory, control: SandboxClient
) -> None:
    """rule: aurora-engine-versions: Aurora PostgreSQL 14.9 members on two patch levels."""
    east, west = aws("rds", EAST), aws("rds", WEST)
    east.create_global_cluster(
        GlobalClusterIdentifier="pg-global", Engine="aurora-postgresql", EngineVersion="14.9"
    )
    east.create_db_cluster(
        DBClusterIdentifier="pg-use1",
        Engine="aurora-postgresql",
        EngineVersion="14.9.2",
        GlobalClusterIdentifier="pg-global",
        MasterUsername="admin",
        MasterUserPassword="password123",
    )
    target = west.create_db_cluster(
        DBClusterIdentifier="pg-usw2",
        Engine="aurora-postgresql",
        EngineVersion="14.9.1",
        GlobalClusterIdentifier="pg-global",
    )["DBCluster"]["DBClusterArn"]
    for client, cluster in ((east, "pg-use1"), (west, "pg-usw2")):
        client.create_db_instance(
            DBInstanceIdentifier=f"{cluster}-1",
            DBClusterIdentifier=cluster,
            Engine="aurora-postgresql",
            DBInstanceClass="db.r6g.large",
        )
    out = east.switchover_global_cluster(
        GlobalClusterIdentifier="pg-global", TargetDbClusterIdentifier=target
    )["GlobalCluster"]
    assert out["FailoverState"]["Status"] == "pending"


def test_after_a_failover_other_secondaries_rebuild_and_the_old_volume_is_snapshotted(
    aws: AwsFactory, control: SandboxClient
) -> None:
    """rule: aurora-rebuild-after-failover"""
    arns = make_global(aws)
    eu = aws("rds", "eu-west-1")
    third = eu.create_db_cluster(
        DBClusterIdentifier="app-euw1",
        Engine="aurora-mysql",
        EngineVersion=VERSION,
        GlobalClusterIdentifier="app-global",
    )["DBCluster"]["DBClusterArn"]
    add_instance(eu, "app-euw1")
    control.fail_region(EAST)
    aws("rds", WEST).failover_global_cluster(
        **ARGS, TargetDbClusterIdentifier=arns["secondary"], AllowDataLoss=True
    )
    control.advance(DURATION + 1)
    sync = {
        m["DBClusterArn"]: m["SynchronizationStatus"]
        for m in describe(aws, WEST)["GlobalClusterMembers"]
    }
    assert sync[third] == "pending-resync"  # rebuilt to the new primary's point in time
    assert sync[arns["writer"]] == "pending-resync"
    control.heal_region(EAST)
    control.advance(1)
    snapshots = aws("rds", EAST).describe_db_cluster_snapshots(DBClusterIdentifier="app-use1")
    names = [s["DBClusterSnapshotIdentifier"] for s in snapshots["DBClusterSnapshots"]]
    assert any(n.startswith("rds:unplanned-global-failover-app-use1-") for n in names)
    control.advance(DURATION + 1)
    assert {m["SynchronizationStatus"] for m in describe(aws)["GlobalClusterMembers"]} == {
        "connected"
    }


def test_stop_is_refused_for_a_replication_source_and_a_replica(
    aws: AwsFactory, control: SandboxClient
) -> None:
    """rule: aurora-stop-limits"""
    east, west = aws("rds", EAST), aws("rds", WEST)
    source = east.create_db_cluster(
        DBClusterIdentifier="bin-use1",
        Engine="aurora-mysql",
        MasterUsername="admin",
        MasterUserPassword="password123",
    )["DBCluster"]["DBClusterArn"]
    west.create_db_cluster(
        DBClusterIdentifier="bin-usw2",
        Engine="aurora-mysql",
        ReplicationSourceIdentifier=source,
        MasterUsername="admin",
        MasterUserPassword="password123",
    )
    for client, cluster in ((east, "bin-use1"), (west, "bin-usw2")):
        with pytest.raises(botocore.exceptions.ClientError) as err:
            client.stop_db_cluster(DBClusterIdentifier=cluster)
        assert code(err) == "InvalidDBClusterStateFault"
    west.promote_read_replica_db_cluster(DBClusterIdentifier="bin-usw2")
    east.stop_db_cluster(DBClusterIdentifier="bin-use1")  # no replica left: it stops


def test_the_only_member_of_a_global_database_can_stop(
    aws: AwsFactory, control: SandboxClient
) -> None:
    """rule: aurora-stop-limits"""
    east = aws("rds", EAST)
    east.create_global_cluster(GlobalClusterIdentifier="solo", Engine="aurora-mysql")
    east.create_db_cluster(
        DBClusterIdentifier="solo-use1",
        Engine="aurora-mysql",
        GlobalClusterIdentifier="solo",
        MasterUsername="admin",
        MasterUserPassword="password123",
    )
    east.stop_db_cluster(DBClusterIdentifier="solo-use1")


def test_lag_is_published_under_both_dimension_sets(
    aws: AwsFactory, control: SandboxClient
) -> None:
    """rule: aurora-lag-dimensions"""
    make_global(aws)
    control.advance(1.5)
    cw = aws("cloudwatch", WEST)
    listed = cw.list_metrics(
        Namespace="AWS/RDS",
        MetricName="AuroraGlobalDBRPOLag",
        Dimensions=[{"Name": "DBClusterIdentifier", "Value": "app-usw2"}],
    )["Metrics"]
    sets = sorted(tuple(sorted(d["Name"] for d in m["Dimensions"])) for m in listed)
    assert sets == [("DBClusterIdentifier",), ("DBClusterIdentifier", "SourceRegion")]
    source = next(m for m in listed if len(m["Dimensions"]) == 2)
    assert {"Name": "SourceRegion", "Value": EAST} in source["Dimensions"]
