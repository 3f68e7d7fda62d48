"""The sandbox's model of Aurora fencing, and the calls ``fence`` makes, over HTTP.

``aurora_fencing: fails`` leaves the old writer of a failover made while its region was
down standalone and writable (a split brain) once the region is back; a detach leaves a
standalone writable cluster; StopDBCluster is refused for a global database member and
accepted for a standalone one; a rename keeps the cluster's instances and frees its name
for a new secondary created with GlobalClusterIdentifier.
"""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest

from mr_failover.sandbox.client import SandboxClient
from tests.sandbox.conftest import AwsFactory
from tests.sandbox.test_aurora import DURATION, EAST, VERSION, WEST, code, describe, make_global


def cluster(aws: AwsFactory, region: str, cluster_id: str) -> dict[str, Any]:
    (found,) = aws("rds", region).describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"]
    return dict(found)


def fail_over_while_east_is_down(aws: AwsFactory, control: SandboxClient) -> dict[str, str]:
    arns = make_global(aws)
    control.fail_region(EAST)
    aws("rds", WEST).failover_global_cluster(
        GlobalClusterIdentifier="app-global",
        TargetDbClusterIdentifier=arns["secondary"],
        AllowDataLoss=True,
    )
    control.advance(DURATION + 1)
    control.heal_region(EAST)
    return arns


def test_fencing_that_fails_leaves_the_old_writer_standalone_and_writable(
    aws: AwsFactory, control: SandboxClient
) -> None:
    control.settings(aurora_fencing="fails")
    arns = fail_over_while_east_is_down(aws, control)
    members = [m["DBClusterArn"] for m in describe(aws, WEST)["GlobalClusterMembers"]]
    assert members == [arns["secondary"]]
    old = cluster(aws, EAST, "app-use1")
    assert old["Status"] == "available" and not old.get("GlobalClusterIdentifier")
    control.advance(DURATION * 2)  # no resync ever brings it back
    assert len(describe(aws)["GlobalClusterMembers"]) == 1


def test_fencing_that_succeeds_brings_the_old_writer_back_as_a_secondary(
    aws: AwsFactory, control: SandboxClient
) -> None:
    arns = fail_over_while_east_is_down(aws, control)  # the default: "succeeds"
    sync = {
        m["DBClusterArn"]: m["SynchronizationStatus"] for m in describe(aws)["GlobalClusterMembers"]
    }
    assert sync == {arns["writer"]: "pending-resync", arns["secondary"]: "connected"}


def test_fencing_that_fails_needs_the_writer_region_down_at_the_failover(
    aws: AwsFactory, control: SandboxClient
) -> None:
    control.settings(aurora_fencing="fails")
    arns = make_global(aws)
    aws("rds", WEST).failover_global_cluster(
        GlobalClusterIdentifier="app-global",
        TargetDbClusterIdentifier=arns["secondary"],
        AllowDataLoss=True,
    )
    control.advance(DURATION + 1)
    assert len(describe(aws)["GlobalClusterMembers"]) == 2


def test_the_setting_takes_only_its_words(control: SandboxClient) -> None:
    assert control.settings(aurora_fencing="fails")["aurora_fencing"] == "fails"
    with pytest.raises(Exception, match="succeeds, fails"):
        control.settings(aurora_fencing="sometimes")


def test_stop_is_refused_for_a_member_and_accepted_standalone(
    aws: AwsFactory, control: SandboxClient
) -> None:
    arns = make_global(aws)
    west = aws("rds", WEST)
    with pytest.raises(botocore.exceptions.ClientError) as err:
        west.stop_db_cluster(DBClusterIdentifier="app-usw2")
    assert code(err) == "InvalidDBClusterStateFault"
    west.remove_from_global_cluster(
        GlobalClusterIdentifier="app-global", DbClusterIdentifier=arns["secondary"]
    )
    detached = cluster(aws, WEST, "app-usw2")
    assert detached["Status"] == "available" and not detached.get("GlobalClusterIdentifier")
    west.stop_db_cluster(DBClusterIdentifier="app-usw2")
    assert cluster(aws, WEST, "app-usw2")["Status"] == "stopped"
    west.start_db_cluster(DBClusterIdentifier="app-usw2")
    assert cluster(aws, WEST, "app-usw2")["Status"] == "available"


def test_rename_then_a_new_secondary_under_the_old_name(
    aws: AwsFactory, control: SandboxClient
) -> None:
    arns = make_global(aws)  # each cluster with its instance <cluster>-1
    west = aws("rds", WEST)
    west.remove_from_global_cluster(
        GlobalClusterIdentifier="app-global", DbClusterIdentifier=arns["secondary"]
    )
    west.create_db_cluster(
        DBClusterIdentifier="taken",
        Engine="aurora-mysql",
        MasterUsername="a",
        MasterUserPassword="password123",
    )
    with pytest.raises(botocore.exceptions.ClientError) as err:
        west.modify_db_cluster(
            DBClusterIdentifier="app-usw2", NewDBClusterIdentifier="taken", ApplyImmediately=True
        )
    assert code(err) == "DBClusterAlreadyExistsFault"
    west.modify_db_cluster(
        DBClusterIdentifier="app-usw2",
        NewDBClusterIdentifier="app-usw2-fenced-202611271200",
        ApplyImmediately=True,
    )
    renamed = cluster(aws, WEST, "app-usw2-fenced-202611271200")
    assert [m["DBInstanceIdentifier"] for m in renamed["DBClusterMembers"]] == ["app-usw2-1"]
    # The old name is free: a new secondary (created within the same minute) takes it.
    new = west.create_db_cluster(
        DBClusterIdentifier="app-usw2",
        Engine="aurora-mysql",
        EngineVersion=VERSION,
        GlobalClusterIdentifier="app-global",
    )["DBCluster"]
    assert cluster(aws, WEST, "app-usw2")["DBClusterMembers"] == []
    west.create_db_instance(
        DBInstanceIdentifier="app-usw2-reader",
        DBClusterIdentifier="app-usw2",
        Engine="aurora-mysql",
        DBInstanceClass="db.r6g.large",
    )
    members = {m["DBClusterArn"]: m for m in describe(aws, WEST)["GlobalClusterMembers"]}
    assert members[new["DBClusterArn"]]["IsWriter"] is False
    assert members[new["DBClusterArn"]]["SynchronizationStatus"] == "connected"
    assert [
        m["DBInstanceIdentifier"] for m in cluster(aws, WEST, "app-usw2")["DBClusterMembers"]
    ] == ["app-usw2-reader"]
