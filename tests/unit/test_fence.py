"""fence's planning and steps with botocore Stubber: stop, rejoin, refusals, replica mode.

Stubber checks every RDS request against the service model. The region's traffic steps
are drain's (tested with drain); here a stand-in returns none, or refuses.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from mr_failover.engine.executor import execute
from mr_failover.errors import EXIT_REFUSED, RefusedError, UsageError
from mr_failover.operations.fence import IsWriterError, fenced_prefix, plan_fence
from mr_failover.topology import Topology
from tests.unit.test_promote import (
    ARN,
    CLUSTER,
    EAST,
    GID,
    V1,
    WEST,
    FakeClock,
    Stubs,
    topology,
)

NOW = datetime(2026, 11, 27, 12, 34, 56, tzinfo=UTC)
FENCED = f"{CLUSTER[WEST]}-fenced-202611271234"
FENCED_ARN = f"arn:aws:rds:{WEST}:123456789012:cluster:{FENCED}"
KEY = "arn:aws:kms:us-west-2:123456789012:key/abc"


def no_traffic(*_args: Any, **_kw: Any) -> tuple[list[Any], tuple[str, ...]]:
    return [], ("traffic: drained already",)


def raw(
    cluster_id: str = CLUSTER[WEST], arn: str = ARN[WEST], status: str = "available", **extra: Any
) -> dict[str, Any]:
    return {
        "DBClusterIdentifier": cluster_id,
        "DBClusterArn": arn,
        "Status": status,
        "Engine": "aurora-mysql",
        "EngineVersion": V1,
        "DBSubnetGroup": "app-subnets",
        "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-1", "Status": "active"}],
        "DBClusterParameterGroup": "app-params",
        "StorageEncrypted": True,
        "KmsKeyId": KEY,
        "DBClusterMembers": [
            {"DBInstanceIdentifier": "app-usw2-2", "IsClusterWriter": False},
            {"DBInstanceIdentifier": "app-usw2-1", "IsClusterWriter": True},
        ],
        **extra,
    }


class FenceStubs(Stubs):
    def members(self, *members: tuple[str, bool], region: str = WEST, moving: bool = False) -> None:
        g: dict[str, Any] = {
            "GlobalClusterIdentifier": GID,
            "Status": "available",
            "GlobalClusterMembers": [
                {"DBClusterArn": arn, "IsWriter": w, "SynchronizationStatus": "connected"}
                for arn, w in members
            ],
        }
        if moving:
            g["FailoverState"] = {"Status": "failing-over", "ToDbClusterArn": ARN[WEST]}
        self[("rds", region)].add_response(
            "describe_global_clusters", {"GlobalClusters": [g]}, {"GlobalClusterIdentifier": GID}
        )

    def described(self, cluster_id: str, found: dict[str, Any] | None, region: str = WEST) -> None:
        if found is None:
            self[("rds", region)].add_client_error(
                "describe_db_clusters",
                service_error_code="DBClusterNotFoundFault",
                expected_params={"DBClusterIdentifier": cluster_id},
            )
        else:
            self[("rds", region)].add_response(
                "describe_db_clusters", {"DBClusters": [found]}, {"DBClusterIdentifier": cluster_id}
            )

    def listing(self, *found: dict[str, Any]) -> None:
        self[("rds", WEST)].add_response("describe_db_clusters", {"DBClusters": list(found)}, {})

    def instances(self, cluster_id: str) -> None:
        self[("rds", WEST)].add_response(
            "describe_db_instances",
            {
                "DBInstances": [
                    {"DBInstanceIdentifier": "app-usw2-2", "DBInstanceClass": "db.r6g.large"},
                    {"DBInstanceIdentifier": "app-usw2-1", "DBInstanceClass": "db.r6g.2xlarge"},
                ]
            },
            {"Filters": [{"Name": "db-cluster-id", "Values": [cluster_id]}]},
        )

    def done(self) -> None:
        for stub in self.stubs.values():
            stub.assert_no_pending_responses()


@pytest.fixture
def stubs() -> Any:
    s = FenceStubs()
    for stub in s.stubs.values():
        stub.activate()
    yield s
    for stub in s.stubs.values():
        stub.deactivate()


def fence(
    stubs: FenceStubs, database: str | None = None, t: Topology | None = None, **kw: Any
) -> Any:
    kw.setdefault("traffic", no_traffic)
    return plan_fence(
        t or topology(), stubs, WEST, database=database, clock=FakeClock(), now=NOW, **kw
    )


def split(stubs: FenceStubs) -> None:
    """us-west-2 detached, available: the global cluster only knows us-east-1."""
    stubs.members((ARN[EAST], True))
    stubs.described(CLUSTER[WEST], raw())
    stubs.listing()


def test_split_brain_stop_plan_and_its_step(stubs: FenceStubs) -> None:
    split(stubs)
    plan = fence(stubs)
    assert [s.id for s in plan.steps] == [f"fence:stop:{CLUSTER[WEST]}"]
    assert plan.params == {
        "region": WEST,
        "database": "stop",
        "action": "stop",
        "cluster": CLUSTER[WEST],
        "fenced_cluster": None,
    }
    assert plan.notes[0].startswith("SPLIT BRAIN: app-usw2 (us-west-2) accepts writes")
    assert any(n.startswith("other option: --database rejoin") for n in plan.notes)
    assert any("seven days" in n for n in plan.notes)
    assert plan.notes[-1] == "traffic: drained already"
    (step,) = plan.steps
    assert step.undoable and step.undo is not None and "start-db-cluster" in step.undo
    stubs.described(CLUSTER[WEST], raw())  # holds? available: no
    stubs[("rds", WEST)].add_response(
        "stop_db_cluster",
        {"DBCluster": raw(status="stopping")},
        {"DBClusterIdentifier": "app-usw2"},
    )
    stubs.described(CLUSTER[WEST], raw(status="stopping"))  # not settled yet
    for _ in range(3):  # settled, then verify's holds and settled
        stubs.described(CLUSTER[WEST], raw(status="stopped"))
    result = execute(plan, clock=FakeClock())
    assert result.applied == 1
    stubs.done()


def test_split_brain_rejoin_copies_the_old_clusters_settings(stubs: FenceStubs) -> None:
    split(stubs)
    stubs.described(CLUSTER[WEST], raw())
    stubs.instances(CLUSTER[WEST])
    plan = fence(stubs, "rejoin")
    stubs.done()
    ids = [s.id.split(":")[1] for s in plan.steps]
    assert ids == ["rename", "stop", "create-secondary", "create-reader", "rejoined"]
    rename, stop, create, reader, _ = plan.steps
    assert rename.params == {
        "DBClusterIdentifier": CLUSTER[WEST],
        "NewDBClusterIdentifier": FENCED,
        "ApplyImmediately": True,
    }
    assert stop.params == {"DBClusterIdentifier": FENCED}
    assert create.params == {
        "DBClusterIdentifier": CLUSTER[WEST],
        "GlobalClusterIdentifier": GID,
        "Engine": "aurora-mysql",
        "EngineVersion": V1,
        "DBSubnetGroupName": "app-subnets",
        "VpcSecurityGroupIds": ["sg-1"],
        "DBClusterParameterGroupName": "app-params",
        "StorageEncrypted": True,
        "KmsKeyId": KEY,
    }
    # The old writer's class, not the first instance listed.
    assert reader.params["DBInstanceClass"] == "db.r6g.2xlarge"
    assert reader.params["DBInstanceIdentifier"] == f"{CLUSTER[WEST]}-reader-202611271234"
    assert plan.params["fenced_cluster"] == FENCED
    assert any(n.startswith("other option: --database stop") for n in plan.notes)


def test_the_writer_region_is_refused(stubs: FenceStubs) -> None:
    stubs.members((ARN[EAST], False), (ARN[WEST], True))
    stubs.described(CLUSTER[WEST], raw())
    stubs.listing()
    with pytest.raises(IsWriterError, match="is the writer of global cluster") as err:
        fence(stubs)
    assert err.value.exit_code == EXIT_REFUSED


def test_a_move_in_progress_is_refused(stubs: FenceStubs) -> None:
    stubs.members((ARN[EAST], True), (ARN[WEST], False), moving=True)
    with pytest.raises(RefusedError, match="is moving"):
        fence(stubs)


@pytest.mark.parametrize("database", ["stop", "rejoin"])
def test_a_secondary_is_already_fenced_traffic_only(stubs: FenceStubs, database: str) -> None:
    stubs.members((ARN[EAST], True), (ARN[WEST], False))
    stubs.described(CLUSTER[WEST], raw())
    stubs.listing()
    plan = fence(stubs, database)
    assert plan.steps == () and plan.params["action"] == "none"
    assert plan.notes[0].startswith("database already fenced: app-usw2 (us-west-2) is a secondary")


def test_a_stopped_standalone_cluster_is_already_fenced(stubs: FenceStubs) -> None:
    stubs.members((ARN[EAST], True))
    stubs.described(CLUSTER[WEST], raw(status="stopped"))
    stubs.listing()
    plan = fence(stubs)
    assert plan.steps == () and "is stopped" in plan.notes[0]


def test_a_half_done_rejoin_is_finished_not_restarted(stubs: FenceStubs) -> None:
    older = raw(f"{CLUSTER[WEST]}-fenced-202501010000", "arn:old", status="stopped")
    # Renamed, not yet re-created: only rejoin may finish it.
    stubs.members((ARN[EAST], True))
    stubs.described(CLUSTER[WEST], None)
    stubs.listing(older, raw(FENCED, FENCED_ARN, status="stopped"), raw("other", "arn:x"))
    with pytest.raises(RefusedError, match="half done"):
        fence(stubs, "stop")
    stubs.members((ARN[EAST], True))
    stubs.described(CLUSTER[WEST], None)
    stubs.listing(older, raw(FENCED, FENCED_ARN, status="stopped"))
    stubs.described(FENCED, raw(FENCED, FENCED_ARN, status="stopped"))
    stubs.instances(FENCED)
    plan = fence(stubs, "rejoin")
    stubs.done()
    assert plan.params["fenced_cluster"] == FENCED  # the newest copy, whose stamp it keeps
    assert plan.steps[0].params["NewDBClusterIdentifier"] == FENCED


def test_traffic_that_cannot_be_drained_is_a_note_not_a_refusal(stubs: FenceStubs) -> None:
    def refusing(*_a: Any, **_k: Any) -> Any:
        raise RefusedError("refused: health check api-us-west-2 is disabled")

    split(stubs)
    plan = fence(stubs, traffic=refusing)
    assert [s.call for s in plan.steps] == ["StopDBCluster"]
    assert "this plan does not drain us-west-2 (refused: health check" in plan.notes[-1]


def test_unknown_region_or_database(stubs: FenceStubs) -> None:
    with pytest.raises(UsageError, match="unknown region"):
        plan_fence(topology(), stubs, "eu-west-1", clock=FakeClock(), traffic=no_traffic)
    with pytest.raises(UsageError, match="choose stop or rejoin"):
        fence(stubs, "delete")


def test_identifiers_stay_within_63_characters() -> None:
    long = "a" * 50 + "-" + "b" * 10
    prefix = fenced_prefix(long)
    assert len(prefix + "202611271234") <= 63 and "--" not in prefix
    assert prefix.endswith("-fenced-")


# --- replica mode ----------------------------------------------------------------------


def replica(stubs: FenceStubs, east_source: str | None = None, east_down: bool = False) -> None:
    stubs.cluster(WEST)  # writable: no ReplicationSourceIdentifier
    if east_down:
        stubs.cluster_down(EAST)
    else:
        stubs.cluster(EAST, source=east_source)


def test_replica_mode_has_no_rejoin(stubs: FenceStubs) -> None:
    with pytest.raises(UsageError, match="only --database stop exists"):
        fence(stubs, "rejoin", topology("replica"))


def test_replica_mode_stops_one_of_two_writable_clusters(stubs: FenceStubs) -> None:
    replica(stubs)
    plan = fence(stubs, t=topology("replica"))
    assert [s.call for s in plan.steps] == ["StopDBCluster"]
    assert "2 clusters accept writes" in plan.notes[0]
    assert any("re-creating a binlog read replica is not one API call" in n for n in plan.notes)


def test_replica_mode_refuses_the_only_writable_cluster(stubs: FenceStubs) -> None:
    replica(stubs, east_source=ARN[WEST])
    with pytest.raises(IsWriterError, match="only cluster that accepts writes"):
        fence(stubs, t=topology("replica"))


def test_replica_mode_refuses_when_another_region_does_not_answer(stubs: FenceStubs) -> None:
    replica(stubs, east_down=True)
    with pytest.raises(RefusedError, match="us-east-1 does not answer"):
        fence(stubs, t=topology("replica"))


def test_a_cluster_with_cross_region_read_replicas_is_not_stopped(stubs: FenceStubs) -> None:
    """rule: aurora-stop-limits (the old plan sent a StopDBCluster AWS refuses)."""
    stubs.members((ARN[EAST], True))
    replica_arn = "arn:aws:rds:eu-west-1:123456789012:cluster:app-euw1"
    stubs.described(CLUSTER[WEST], raw(ReadReplicaIdentifiers=[replica_arn]))
    stubs.listing()
    with pytest.raises(RefusedError) as err:
        fence(stubs)
    assert str(err.value).startswith(
        f"refused: app-usw2 (us-west-2) has cross-Region read replicas ({replica_arn}), and "
        "Aurora cannot stop a cluster that has one"
    )
