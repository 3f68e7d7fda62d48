"""promote's planning and steps with botocore Stubber: AWS states the sandbox never shows.

Engine versions that differ, lag above the RPO with a published write rate, a move
already under way (someone else's, or this run's before it was killed), a writer region
answering 503, a move that ends without moving the writer. Stubber checks every request
against the RDS / CloudWatch / Route 53 service models.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from mr_failover.engine.executor import StepFailedError, execute
from mr_failover.errors import RefusedError, UsageError
from mr_failover.operations.promote import NothingToDo, plan_promotion
from mr_failover.resources.aurora_steps import version_mismatch
from mr_failover.topology import Topology
from tests.clocks import FakeClock
from tests.route53_health import endpoint, stub_health

EAST, WEST = "us-east-1", "us-west-2"
GID = "app-global"
V1, V2 = "8.0.mysql_aurora.3.05.2", "8.0.mysql_aurora.3.04.0"
ARN = {
    EAST: "arn:aws:rds:us-east-1:123456789012:cluster:app-use1",
    WEST: "arn:aws:rds:us-west-2:123456789012:cluster:app-usw2",
}
CLUSTER = {EAST: "app-use1", WEST: "app-usw2"}
CHECK = {EAST: "hc-east", WEST: "hc-west"}
NOW = datetime(2026, 11, 27, 12, 0, 30, tzinfo=UTC)


def topology(mode: str = "global") -> Topology:
    def aurora(region: str) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "cluster": CLUSTER[region],
            "role": "writer" if region == EAST else "secondary",
            "mode": mode,
        }
        if mode == "global":
            spec["global_cluster"] = GID
        return spec

    return Topology.model_validate(
        {
            "application": "app",
            "account_id": "123456789012",
            "primary_region": EAST,
            "policy": {"rpo_seconds": 60, "rto_seconds": 900},
            "regions": {
                region: {
                    "traffic": {"health_checks": [{"name": f"api-{region}", "id": CHECK[region]}]},
                    "aurora": aurora(region),
                }
                for region in (EAST, WEST)
            },
        }
    )


TOPOLOGY = topology()


class Stubs:
    """One stubbed client per (service, region); a ClientSource for the core."""

    def __init__(self) -> None:
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        self.clients: dict[tuple[str, str], Any] = {}
        self.stubs: dict[tuple[str, str], Stubber] = {}
        keys = (
            ("rds", EAST),
            ("rds", WEST),
            ("cloudwatch", WEST),
            ("route53", EAST),
            ("cloudwatch", EAST),  # Route 53's health metrics
        )
        for key in keys:
            client = session.client(key[0], region_name=key[1])  # type: ignore[call-overload]
            self.clients[key] = client
            self.stubs[key] = Stubber(client)

    def client(self, service: str, region: str) -> Any:
        return self.clients[(service, region)]

    def __getitem__(self, key: tuple[str, str]) -> Stubber:
        return self.stubs[key]

    # --- responses --------------------------------------------------------------------

    def global_cluster(
        self, writer: str = EAST, failover: dict[str, Any] | None = None, region: str = WEST
    ) -> None:
        g: dict[str, Any] = {
            "GlobalClusterIdentifier": GID,
            "Status": "available",
            "Engine": "aurora-mysql",
            "EngineVersion": V1,
            "GlobalClusterMembers": [
                {
                    "DBClusterArn": ARN[r],
                    "IsWriter": r == writer,
                    "SynchronizationStatus": "connected",
                }
                for r in (EAST, WEST)
            ],
        }
        if failover is not None:
            g["FailoverState"] = failover
        self.stubs[("rds", region)].add_response(
            "describe_global_clusters", {"GlobalClusters": [g]}, {"GlobalClusterIdentifier": GID}
        )

    def cluster(
        self,
        region: str,
        *,
        version: str = V1,
        status: str = "available",
        source: str | None = None,
        headless: bool = False,
    ) -> None:
        c: dict[str, Any] = {
            "DBClusterIdentifier": CLUSTER[region],
            "DBClusterArn": ARN[region],
            "Status": status,
            "Engine": "aurora-mysql",
            "EngineVersion": version,
            "Endpoint": f"{CLUSTER[region]}.cluster-x.{region}.rds.amazonaws.com",
            "DBClusterMembers": []
            if headless
            else [{"DBInstanceIdentifier": f"{CLUSTER[region]}-1", "IsClusterWriter": True}],
        }
        if source:
            c["ReplicationSourceIdentifier"] = source
        self.stubs[("rds", region)].add_response(
            "describe_db_clusters", {"DBClusters": [c]}, {"DBClusterIdentifier": CLUSTER[region]}
        )

    def cluster_down(self, region: str) -> None:
        self.stubs[("rds", region)].add_client_error(
            "describe_db_clusters",
            service_error_code="ServiceUnavailable",
            service_message="Service unavailable",
            http_status_code=503,
        )

    def metrics(self, *values: float | None) -> None:
        """Latest datapoints: (RPO lag, replication lag, write I/O) of a global secondary,
        each lag under its (DBClusterIdentifier, SourceRegion) set first, then under
        DBClusterIdentifier alone (None there); or the one binlog lag of a replica."""
        if len(values) == 3:
            rpo, repl, wio = values
            values = (rpo, None, repl, None, wio)
        results = [
            {
                "Id": f"q{i}",
                "StatusCode": "Complete",
                "Timestamps": [] if v is None else [NOW - timedelta(seconds=20)],
                "Values": [] if v is None else [v],
            }
            for i, v in enumerate(values)
        ]
        self.stubs[("cloudwatch", WEST)].add_response(
            "get_metric_data", {"MetricDataResults": results}
        )

    def no_lag_metrics(self, *names: str) -> None:
        """ListMetrics finds none of ``names`` for the target cluster."""
        for name in names:
            self.stubs[("cloudwatch", WEST)].add_response(
                "list_metrics",
                {"Metrics": []},
                {
                    "Namespace": "AWS/RDS",
                    "MetricName": name,
                    "Dimensions": [{"Name": "DBClusterIdentifier", "Value": CLUSTER[WEST]}],
                },
            )

    def healthy(self, region: str = WEST, inverted: bool = False) -> None:
        stub = self.stubs[("route53", EAST)]
        stub.add_response(
            "get_health_check",
            {
                "HealthCheck": {
                    "Id": CHECK[region],
                    "CallerReference": CHECK[region],
                    "HealthCheckConfig": {
                        "Type": "HTTPS",
                        "FullyQualifiedDomainName": "api.example.com",
                        "Inverted": inverted,
                    },
                    "HealthCheckVersion": 1,
                }
            },
            {"HealthCheckId": CHECK[region]},
        )
        stub_health(
            self.stubs[("cloudwatch", EAST)],
            {CHECK[region]: endpoint(100.0, inverted=inverted)},
        )


@pytest.fixture
def aws() -> Iterator[Stubs]:
    stubs = Stubs()
    for stub in stubs.stubs.values():
        stub.activate()
    yield stubs
    for stub in stubs.stubs.values():
        stub.assert_no_pending_responses()
        stub.deactivate()


def plan_reads(aws: Stubs, *, east_version: str = V1, lag_ms: float | None = 80.0) -> None:
    """Every read of a plan with both regions up, in each client's order."""
    aws.global_cluster()
    aws.cluster(WEST)
    aws.cluster(EAST, version=east_version)
    aws.healthy()
    aws.metrics(lag_ms, lag_ms, None)


def test_switchover_plan_goes_to_the_primarys_region(aws: Stubs) -> None:
    """rule: aurora-move-region (the old plan sent it to the target, us-west-2)."""
    plan_reads(aws)
    plan = plan_promotion(TOPOLOGY, aws, WEST, now=NOW)
    (step,) = plan.steps
    assert step.id == "aurora:switchover:app-global:app-usw2"
    assert (step.service, step.call) == ("rds", "SwitchoverGlobalCluster")
    assert dict(step.params) == {
        "GlobalClusterIdentifier": GID,
        "TargetDbClusterIdentifier": ARN[WEST],
    }
    assert (step.region, step.plane, step.plane_region) == (EAST, "control", EAST)
    assert step.action is not None and step.action.client is aws.client("rds", EAST)  # type: ignore[attr-defined]
    assert step.undoable and step.undo == "mr-failover promote --region us-east-1 --mode switchover"
    assert plan.params == {"region": WEST, "mode": "switchover", "allow_data_loss": False}
    assert plan.notes[0].startswith(
        "rds:SwitchoverGlobalCluster is sent to us-east-1's endpoint (the current primary's"
    )
    assert "not copied" in plan.notes[-1]


def test_engine_versions_that_differ_are_refused(aws: Stubs) -> None:
    aws.global_cluster()
    aws.cluster(WEST)
    aws.cluster(EAST, version=V2)
    with pytest.raises(RefusedError) as err:
        plan_promotion(TOPOLOGY, aws, WEST, now=NOW)
    assert str(err.value) == (
        f"refused: engine versions differ: app-usw2 (us-west-2) runs {V1}, app-use1 "
        f"(us-east-1) runs {V2}; Aurora cannot move the writer between versions (Aurora "
        "requires the same major and minor version): upgrade the members to one version first"
    )
    assert err.value.exit_code == 3


@pytest.mark.parametrize(
    ("engine", "ours", "theirs", "refused"),
    [
        ("aurora-mysql", "8.0.mysql_aurora.3.05.2", "8.0.mysql_aurora.3.05.1", True),
        ("aurora-postgresql", "14.9", "14.9", False),
        ("aurora-postgresql", "14.9.2", "14.9.1", False),  # patch levels may differ
        ("aurora-postgresql", "13.7.2", "13.7.1", True),  # not below 13.8
        ("aurora-postgresql", "16.1", "16.2", True),  # the minor differs
    ],
)
def test_engine_version_rule(engine: str, ours: str, theirs: str, refused: bool) -> None:
    """rule: aurora-engine-versions (the old check refused any two different strings)."""
    assert (version_mismatch(engine, ours, theirs) is not None) is refused


def test_a_headless_target_is_refused(aws: Stubs) -> None:
    """rule: aurora-headless-target (the old plan let it through)."""
    aws.global_cluster()
    aws.cluster(WEST, headless=True)
    with pytest.raises(RefusedError) as err:
        plan_promotion(TOPOLOGY, aws, WEST, now=NOW)
    assert str(err.value).startswith(
        "refused: app-usw2 (us-west-2) has no DB instance (a headless secondary); Aurora "
        "needs one before a switchover or failover"
    )


def test_switchover_is_not_refused_for_lag_above_the_rpo(aws: Stubs) -> None:
    """rule: aurora-switchover-rpo-zero (the old plan refused this: lag 95 s > RPO 60 s)."""
    plan_reads(aws, lag_ms=95_000.0)
    plan = plan_promotion(TOPOLOGY, aws, WEST, now=NOW)
    assert plan.steps[0].call == "SwitchoverGlobalCluster"
    assert (
        "replication lag into app-usw2: 95.00 s (AuroraGlobalDBRPOLag); a switchover "
        "synchronizes first and loses nothing: the larger the lag, the longer it takes"
    ) in plan.notes


def failover_reads(aws: Stubs, *lag: float | None) -> None:
    """Every read of a plan with the writer's region answering 503."""
    aws.global_cluster()
    aws.cluster(WEST)
    aws.cluster_down(EAST)
    aws.healthy()
    aws.metrics(*lag)


def test_failover_lag_above_the_rpo_is_refused_with_the_writes_it_would_lose(
    aws: Stubs,
) -> None:
    """rule: aurora-failover-rpo (the old plan never judged a failover against the RPO)."""
    failover_reads(aws, 95_000.0, 90_000.0, 6_000.0)  # 95 s of lag, 100 write I/Os per second
    with pytest.raises(RefusedError) as err:
        plan_promotion(TOPOLOGY, aws, WEST, allow_data_loss=True, now=NOW)
    assert str(err.value) == (
        "refused: a failover to us-west-2 would break the RPO: replication lag into us-west-2 "
        "is 95.0 s, above the RPO of 60 s (measured lag 95.00 s (AuroraGlobalDBRPOLag), about "
        "9500 write I/Os at the recent rate of 100.0/s (AuroraGlobalDBReplicatedWriteIO)); "
        "wait for the lag to fall (mr-failover status), or accept a loss beyond the RPO with "
        "--beyond-rpo"
    )


def test_failover_lag_above_the_rpo_proceeds_with_beyond_rpo(aws: Stubs) -> None:
    failover_reads(aws, 95_000.0, 90_000.0, None)
    plan = plan_promotion(TOPOLOGY, aws, WEST, allow_data_loss=True, beyond_rpo=True, now=NOW)
    assert plan.steps[0].call == "FailoverGlobalCluster"
    assert plan.params["beyond_rpo"] is True
    assert any(
        n.startswith("--beyond-rpo: replication lag into us-west-2 is 95.0 s") for n in plan.notes
    )


def test_failover_without_a_lag_datapoint_is_refused_and_says_why(aws: Stubs) -> None:
    """rule: aurora-failover-rpo: a missing datapoint never passes silently."""
    failover_reads(aws, None, None, None)
    aws.no_lag_metrics("AuroraGlobalDBRPOLag", "AuroraGlobalDBReplicationLag")
    with pytest.raises(RefusedError) as err:
        plan_promotion(TOPOLOGY, aws, WEST, allow_data_loss=True, now=NOW)
    assert str(err.value).startswith(
        "refused: a failover to us-west-2 would break the RPO: the loss cannot be measured: "
        "no lag datapoint in the last 15 minutes (CloudWatch holds no AuroraGlobalDBRPOLag or "
        "AuroraGlobalDBReplicationLag for app-usw2 in its region)"
    )


def test_replication_lag_is_used_when_rpo_lag_is_not_published(aws: Stubs) -> None:
    failover_reads(aws, None, 61_000.0, None)
    with pytest.raises(RefusedError, match=r"61\.0 s, above the RPO of 60 s.*ReplicationLag\)"):
        plan_promotion(TOPOLOGY, aws, WEST, allow_data_loss=True, now=NOW)


def test_a_move_in_progress_elsewhere_is_refused(aws: Stubs) -> None:
    aws.global_cluster(
        failover={
            "Status": "switching-over",
            "FromDbClusterArn": ARN[WEST],
            "ToDbClusterArn": ARN[EAST],
            "IsDataLossAllowed": False,
        },
        writer=WEST,
    )
    aws.cluster(WEST)
    with pytest.raises(RefusedError) as err:
        plan_promotion(TOPOLOGY, aws, WEST, now=NOW)
    assert str(err.value) == (
        "refused: global cluster app-global is already moving (FailoverState switching-over "
        "from us-west-2 to us-east-1); wait until its FailoverState is gone, then check "
        "`mr-failover status`"
    )


def test_a_move_to_the_target_in_progress_is_waited_for_not_repeated(aws: Stubs) -> None:
    moving = {
        "Status": "failing-over",
        "FromDbClusterArn": ARN[EAST],
        "ToDbClusterArn": ARN[WEST],
        "IsDataLossAllowed": True,
    }
    aws.global_cluster(failover=moving)
    aws.cluster(WEST)
    aws.cluster_down(EAST)
    # No lag / health reads and no --allow-data-loss needed: the decision was made.
    plan = plan_promotion(TOPOLOGY, aws, WEST, resuming=True, now=NOW)
    (step,) = plan.steps
    assert step.call == "FailoverGlobalCluster"  # the kind of the move under way
    assert any("already under way" in n for n in plan.notes)
    aws.global_cluster(failover=moving)  # holds: yes, under way -> skipped
    aws.global_cluster(failover=moving)  # settled? not yet
    aws.global_cluster(writer=WEST)  # settled
    aws.global_cluster(writer=WEST)  # verify
    result = execute(plan, clock=FakeClock())
    assert [o.status for o in result.outcomes] == ["skipped"]


def test_switchover_waits_through_failover_state_then_verifies(aws: Stubs) -> None:
    plan_reads(aws)
    plan = plan_promotion(TOPOLOGY, aws, WEST, now=NOW)
    state = {"FromDbClusterArn": ARN[EAST], "ToDbClusterArn": ARN[WEST], "IsDataLossAllowed": False}
    aws.global_cluster(region=EAST)  # holds? no
    aws[("rds", EAST)].add_response(
        "switchover_global_cluster",
        {"GlobalCluster": {"GlobalClusterIdentifier": GID}},
        {"GlobalClusterIdentifier": GID, "TargetDbClusterIdentifier": ARN[WEST]},
    )
    aws.global_cluster(failover={"Status": "pending", **state}, region=EAST)
    aws.global_cluster(failover={"Status": "switching-over", **state}, region=EAST)
    aws.global_cluster(writer=WEST, region=EAST)
    aws.global_cluster(writer=WEST, region=EAST)  # verify, fresh
    clock = FakeClock()
    result = execute(plan, clock=clock)
    assert [o.status for o in result.outcomes] == ["applied"]
    # Two waits on the fake clock, polling every 2 s at most (the first 1.5-2 s).
    assert 3.5 <= clock.t <= 4.0


def test_a_move_that_ends_without_moving_the_writer_fails_verification(aws: Stubs) -> None:
    plan_reads(aws)
    plan = plan_promotion(TOPOLOGY, aws, WEST, now=NOW)
    aws.global_cluster(region=EAST)
    aws[("rds", EAST)].add_response(
        "switchover_global_cluster", {"GlobalCluster": {"GlobalClusterIdentifier": GID}}
    )
    aws.global_cluster(
        failover={
            "Status": "cancelling",
            "FromDbClusterArn": ARN[EAST],
            "ToDbClusterArn": ARN[WEST],
        },
        region=EAST,
    )
    aws.global_cluster(region=EAST)  # FailoverState gone, writer still east
    aws.global_cluster(region=EAST)  # verify
    with pytest.raises(StepFailedError) as err:
        execute(plan, clock=FakeClock())
    assert "the move ended but the writer is in us-east-1, not us-west-2 (cancelled?)" in str(
        err.value
    )


def test_switchover_is_refused_when_the_writer_region_answers_503(aws: Stubs) -> None:
    aws.global_cluster()
    aws.cluster(WEST)
    aws.cluster_down(EAST)
    with pytest.raises(RefusedError) as err:
        plan_promotion(TOPOLOGY, aws, WEST, mode="switchover", now=NOW)
    assert str(err.value) == (
        "refused: a switchover needs every region, but the writer's region us-east-1 does not "
        "answer (ServiceUnavailable: Service unavailable); if it is down, fail over instead: "
        "mr-failover promote --region us-west-2 --mode failover --allow-data-loss"
    )


def test_failover_is_the_default_when_the_writer_is_down_and_needs_the_flag(aws: Stubs) -> None:
    aws.global_cluster()
    aws.cluster(WEST)
    aws.cluster_down(EAST)
    aws.healthy()
    aws.metrics(2_000.0, 1_500.0, 3_000.0)  # 2 s, 50 write I/Os per second
    with pytest.raises(RefusedError) as err:
        plan_promotion(TOPOLOGY, aws, WEST, now=NOW)
    assert str(err.value) == (
        "refused: a failover to us-west-2 loses the writes us-east-1 had not replicated: "
        "measured lag 2.00 s (AuroraGlobalDBRPOLag), about 100 write I/Os at the recent rate "
        "of 50.0/s (AuroraGlobalDBReplicatedWriteIO); rerun with --allow-data-loss to accept "
        "that"
    )


def test_failover_with_the_flag_plans_allow_data_loss(aws: Stubs) -> None:
    aws.global_cluster()
    aws.cluster(WEST)
    aws.cluster_down(EAST)
    aws.healthy()
    aws.metrics(2_000.0, 1_500.0, None)
    plan = plan_promotion(TOPOLOGY, aws, WEST, allow_data_loss=True, now=NOW)
    (step,) = plan.steps
    assert step.call == "FailoverGlobalCluster"
    assert step.params["AllowDataLoss"] is True
    assert not step.undoable  # lost writes do not come back
    assert any(
        n.startswith("AllowDataLoss: writes us-east-1 had not replicated") for n in plan.notes
    )
    # rule: aurora-rebuild-after-failover: the plan says what AWS does next.
    assert any(
        n.startswith("After the failover AWS rebuilds every other secondary") for n in plan.notes
    )


def test_unhealthy_target_traffic_is_refused(aws: Stubs) -> None:
    aws.global_cluster()
    aws.cluster(WEST)
    aws.cluster(EAST)
    aws.healthy(inverted=True)
    with pytest.raises(RefusedError) as err:
        plan_promotion(TOPOLOGY, aws, WEST, now=NOW)
    assert str(err.value).startswith(
        "refused: us-west-2's traffic is not healthy: api-us-west-2 is unhealthy (checkers: "
        "100% report healthy; inverted); fix its endpoint or restore its checks"
    )


def test_target_not_available_is_refused(aws: Stubs) -> None:
    aws.global_cluster()
    aws.cluster(WEST, status="modifying")
    with pytest.raises(RefusedError, match="app-usw2 in us-west-2 is modifying, not available"):
        plan_promotion(TOPOLOGY, aws, WEST, now=NOW)


def test_missing_target_cluster_is_refused(aws: Stubs) -> None:
    aws.global_cluster()
    aws[("rds", WEST)].add_client_error(
        "describe_db_clusters", service_error_code="DBClusterNotFoundFault", http_status_code=404
    )
    with pytest.raises(RefusedError, match="cluster app-usw2 does not exist in us-west-2"):
        plan_promotion(TOPOLOGY, aws, WEST, now=NOW)


def test_target_already_the_writer_is_nothing_to_do(aws: Stubs) -> None:
    aws.global_cluster(writer=WEST)
    aws.cluster(WEST)
    with pytest.raises(NothingToDo) as err:
        plan_promotion(TOPOLOGY, aws, WEST, now=NOW)
    assert (
        str(err.value) == "nothing to do: app-usw2 (us-west-2) is already the writer of app-global"
    )
    assert err.value.exit_code == 0


def test_modes_must_match_the_topology(aws: Stubs) -> None:
    with pytest.raises(UsageError, match="global database member"):
        plan_promotion(TOPOLOGY, aws, WEST, mode="replica", now=NOW)
    with pytest.raises(UsageError, match="read replica"):
        plan_promotion(topology("replica"), aws, WEST, mode="switchover", now=NOW)
    with pytest.raises(UsageError, match="unknown region 'eu-west-1'"):
        plan_promotion(TOPOLOGY, aws, "eu-west-1", now=NOW)


def test_replica_promotion_needs_a_lag_datapoint(aws: Stubs) -> None:
    aws.cluster(WEST, source=ARN[EAST])
    aws.cluster(EAST)
    aws.healthy()
    aws.metrics(None)
    aws.no_lag_metrics("AuroraBinlogReplicaLag")
    with pytest.raises(RefusedError, match="no replication lag datapoint for app-usw2"):
        plan_promotion(topology("replica"), aws, WEST, now=NOW)


def test_replica_promotion_plan_and_run(aws: Stubs) -> None:
    aws.cluster(WEST, source=ARN[EAST])
    aws.cluster(EAST)
    aws.healthy()
    aws.metrics(3.0)  # AuroraBinlogReplicaLag is in seconds
    plan = plan_promotion(topology("replica"), aws, WEST, now=NOW)
    (step,) = plan.steps
    assert (step.id, step.call, step.region) == (
        "aurora:promote-replica:app-usw2",
        "PromoteReadReplicaDBCluster",
        WEST,
    )
    assert not step.undoable
    aws.cluster(WEST, source=ARN[EAST])  # holds? no
    aws[("rds", WEST)].add_response(
        "promote_read_replica_db_cluster",
        {"DBCluster": {"DBClusterIdentifier": "app-usw2"}},
        {"DBClusterIdentifier": "app-usw2"},
    )
    aws.cluster(WEST, status="promoting")
    aws.cluster(WEST)
    aws.cluster(WEST)  # verify: holds
    aws.cluster(WEST)  # verify: settled
    result = execute(plan, clock=FakeClock())
    assert [o.status for o in result.outcomes] == ["applied"]


def test_switchover_is_refused_while_another_secondarys_region_does_not_answer() -> None:
    """Aurora synchronizes every secondary first (SwitchoverGlobalCluster): with a third
    member's region down, the plan refuses, naming it, before any move is sent."""
    eu = "eu-west-1"
    data = TOPOLOGY.model_dump(mode="json", exclude_none=True)
    data["regions"][eu] = {
        "traffic": {"health_checks": [{"name": "api-eu", "id": "hc-eu"}]},
        "aurora": {"cluster": "app-euw1", "role": "secondary", "mode": "global"}
        | {"global_cluster": GID},
    }
    three = Topology.model_validate(data)
    stubs = Stubs()
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    stubs.clients[("rds", eu)] = session.client("rds", region_name=eu)
    stubs.stubs[("rds", eu)] = Stubber(stubs.clients[("rds", eu)])
    for stub in stubs.stubs.values():
        stub.activate()
    stubs.global_cluster()
    stubs.cluster(WEST)
    stubs.cluster(EAST)  # the writer answers
    stubs[("rds", eu)].add_client_error(
        "describe_db_clusters",
        service_error_code="ServiceUnavailable",
        service_message="Service unavailable",
        http_status_code=503,
        expected_params={"DBClusterIdentifier": "app-euw1"},
    )
    with pytest.raises(RefusedError) as err:
        plan_promotion(three, stubs, WEST, now=NOW)
    assert str(err.value) == (
        "refused: a switchover first synchronizes every secondary, and eu-west-1 does not "
        "answer (eu-west-1: ServiceUnavailable: Service unavailable); wait until it does, "
        "remove its cluster from the global database (rds:RemoveFromGlobalCluster), or fail "
        "over instead: mr-failover promote --region us-west-2 --mode failover --allow-data-loss"
    )
    for stub in stubs.stubs.values():
        stub.assert_no_pending_responses()
        stub.deactivate()
