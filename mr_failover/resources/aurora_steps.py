"""Aurora promotions as mutation steps: move the global writer, or promote a read replica.

Three moves, each one :class:`~mr_failover.engine.plan.Step` whose action reads fresh state on
every call: ``SwitchoverGlobalCluster`` (planned, no data loss), ``FailoverGlobalCluster``
with ``AllowDataLoss`` (the writer's region is down) and ``PromoteReadReplicaDBCluster``
(a cross-region binlog replica cluster). Global moves are asynchronous on AWS: the
``FailoverState`` of ``DescribeGlobalClusters`` goes ``pending`` -> ``switching-over`` /
``failing-over`` and disappears, and only then does ``IsWriter`` move. Every call here
goes to the region the Aurora user guide names: ``SwitchoverGlobalCluster`` to the current
primary's region, ``FailoverGlobalCluster`` to the target's (which answers when the
writer's region does not).

A move already under way towards the same target counts as "in place" (``holds``), so a
run killed after its call, once resumed, waits for the move instead of sending it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from mr_failover.aws import call, call_error, error_code
from mr_failover.engine.plan import Step, StepAction
from mr_failover.errors import AwsCallError
from mr_failover.resources.aurora import (
    ClusterFinding,
    GlobalClusterFinding,
    arn_region,
    cluster_finding,
    observe_global_cluster,
)

GlobalMoveKind = Literal["switchover", "failover"]

# Aurora documents global moves in minutes; past this the step fails and says what it
# sees (the move itself keeps going on AWS, and a resume waits for it again).
MOVE_TIMEOUT = 1800.0
# Poll every 2 s (the first wait 1.5-2 s, with jitter), so the end of a move is noticed
# within 2 s: a DescribeGlobalClusters / DescribeDBClusters every 2 s is far below the
# RDS API's rate limits, and a move takes minutes, so backing off would only add delay.
MOVE_POLL = 1.5
MOVE_MAX_POLL = 2.0

_NOT_FOUND = {"DBClusterNotFoundFault", "DBClusterNotFound"}


@dataclass(frozen=True)
class ClusterDetail:
    """A cluster as a promotion needs it: the status finding plus its writer endpoint."""

    finding: ClusterFinding
    endpoint: str | None
    instances: int = 0  # DBClusterMembers: 0 is a headless cluster
    read_replicas: tuple[str, ...] = ()  # ReadReplicaIdentifiers (cross-region replicas)


def describe_cluster(client: Any, cluster_id: str) -> dict[str, Any] | None:
    """DescribeDBClusters' entry for ``cluster_id`` in the client's region, or None."""
    try:
        out = client.describe_db_clusters(DBClusterIdentifier=cluster_id)
    except Exception as exc:
        if error_code(exc) in _NOT_FOUND:
            return None
        raise call_error(client, "describe_db_clusters", exc) from None
    clusters = out.get("DBClusters", [])
    return dict(clusters[0]) if clusters else None


def read_cluster(client: Any, cluster_id: str) -> ClusterDetail | None:
    """The cluster ``cluster_id`` in the client's region, or None when it does not exist."""
    c = describe_cluster(client, cluster_id)
    if c is None:
        return None
    return ClusterDetail(
        finding=cluster_finding(c),
        endpoint=c.get("Endpoint"),
        instances=len(c.get("DBClusterMembers") or ()),
        read_replicas=tuple(str(r) for r in c.get("ReadReplicaIdentifiers") or ()),
    )


# --- what the Aurora user guide requires of a managed switchover or failover --------------

# rule: aurora-engine-versions
# "Patch level compatibility for managed cross-Region switchovers and failovers" in
# "Upgrading an Amazon Aurora global database",
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-global-database-upgrade.html#aurora-global-database-upgrade.minor.incompatibility:
# the members must run the same major and minor version; patch levels may differ only
# for Aurora PostgreSQL 11.17, 12.12, 13.8, 14.5 or higher minors and any 15+; no Aurora
# MySQL minor allows differing patch levels.
PATCH_TOLERANT_POSTGRES = {11: 17, 12: 12, 13: 8, 14: 5}
PATCH_TOLERANT_POSTGRES_FROM_MAJOR = 15


def _version_parts(engine: str, version: str) -> tuple[int, ...] | None:
    """(major, minor[, patch]) of an Aurora engine version, as the guide counts them.

    Aurora MySQL's ``EngineVersion`` carries the Aurora version after ``mysql_aurora.``
    (``8.0.mysql_aurora.3.05.2`` is 3.05.2); Aurora PostgreSQL's is ``major.minor``
    (its patch, such as 15.4.9, is not part of ``EngineVersion``).
    """
    text = version.split("mysql_aurora.", 1)[1] if "mysql_aurora." in version else version
    try:
        return tuple(int(p) for p in text.split("."))
    except ValueError:
        return None


def version_mismatch(engine: str, ours: str, theirs: str) -> str | None:
    """Why AWS refuses a managed move between ``ours`` and ``theirs``, or None."""
    if ours == theirs:
        return None
    a, b = _version_parts(engine, ours), _version_parts(engine, theirs)
    if a is None or b is None or len(a) < 2 or len(b) < 2:
        return "the versions cannot be compared, so Aurora may refuse the move"
    if a[:2] != b[:2]:
        return "Aurora requires the same major and minor version"
    if "postgresql" in engine:
        major, minor = a[0], a[1]
        if major >= PATCH_TOLERANT_POSTGRES_FROM_MAJOR or minor >= PATCH_TOLERANT_POSTGRES.get(
            major, 10**6
        ):
            return None
        return (
            f"Aurora PostgreSQL {major}.{minor} needs identical patch levels (patch levels may "
            "differ from 11.17, 12.12, 13.8, 14.5 and 15 on)"
        )
    return "no Aurora MySQL version allows members on different patch levels"


def describe_move(g: GlobalClusterFinding) -> str:
    """``switching-over from us-east-1 to us-west-2`` or ``writer in us-east-1``."""
    f = g.failover
    if f is not None:
        src = arn_region(f.from_cluster_arn or "") or "?"
        dst = arn_region(f.to_cluster_arn or "") or "?"
        return f"FailoverState {f.status} from {src} to {dst}"
    return f"writer in {g.writer_region or 'no region'}"


class GlobalMove(StepAction):
    """Switch over or fail over a global database to ``target_arn``; wait; verify."""

    def __init__(
        self, client: Any, global_id: str, target_arn: str, *, kind: GlobalMoveKind
    ) -> None:
        self.client = client
        self.global_id = global_id
        self.target_arn = target_arn
        self.kind = kind
        self._last: GlobalClusterFinding | None = None
        # Set once a move towards the target was seen: a FailoverState that then goes
        # away ends the wait even if the writer did not move (cancelled), and verify says so.
        self._seen_move = False

    def _read(self) -> GlobalClusterFinding:
        self._last = observe_global_cluster(self.client, self.global_id)
        f = self._last.failover
        if f is not None and f.to_cluster_arn == self.target_arn:
            self._seen_move = True
        return self._last

    def _is_writer(self, g: GlobalClusterFinding) -> bool:
        member = g.member(self.target_arn)
        return member is not None and member.is_writer

    def holds(self) -> bool:
        g = self._read()
        if g.failover is not None:
            return g.failover.to_cluster_arn == self.target_arn
        return self._is_writer(g)

    def apply(self) -> None:
        if self.kind == "switchover":
            call(
                self.client,
                "switchover_global_cluster",
                GlobalClusterIdentifier=self.global_id,
                TargetDbClusterIdentifier=self.target_arn,
            )
        else:
            call(
                self.client,
                "failover_global_cluster",
                GlobalClusterIdentifier=self.global_id,
                TargetDbClusterIdentifier=self.target_arn,
                AllowDataLoss=True,
            )
        self._seen_move = True

    def settled(self) -> bool:
        g = self._read()
        if g.failover is not None:
            return False
        return self._is_writer(g) or self._seen_move

    def state(self) -> str:
        return describe_move(self._last) if self._last else ""

    def verify(self) -> str | None:
        g = self._read()
        if g.failover is not None:
            return f"the move has not ended: {describe_move(g)}"
        if not self._is_writer(g):
            return (
                f"the move ended but the writer is in {g.writer_region or 'no region'}, not "
                f"{arn_region(self.target_arn)} (cancelled?); check the global cluster's events"
            )
        return None


class PromoteReplica(StepAction):
    """Promote a cross-region read replica cluster to a standalone writer; wait; verify."""

    def __init__(self, client: Any, cluster_id: str) -> None:
        self.client = client
        self.cluster_id = cluster_id
        self._last: ClusterDetail | None = None

    def _read(self) -> ClusterDetail:
        found = read_cluster(self.client, self.cluster_id)
        if found is None:
            raise AwsCallError(
                self.client.meta.region_name,
                "rds:DescribeDBClusters",
                f"no cluster {self.cluster_id}",
            )
        self._last = found
        return found

    def holds(self) -> bool:
        return not self._read().finding.replication_source

    def apply(self) -> None:
        call(self.client, "promote_read_replica_db_cluster", DBClusterIdentifier=self.cluster_id)

    def settled(self) -> bool:
        c = self._read().finding
        return not c.replication_source and c.status == "available"

    def state(self) -> str:
        if self._last is None:
            return ""
        c = self._last.finding
        source = f", replicating from {c.replication_source}" if c.replication_source else ""
        return f"cluster {c.id} is {c.status}{source}"


def move_region(kind: GlobalMoveKind, target_region: str, writer_region: str | None) -> str:
    """The region whose RDS endpoint receives the move.

    # rule: aurora-move-region
    "Using switchover or failover in Amazon Aurora Global Database",
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-global-database-disaster-recovery.html:
    for ``switchover-global-cluster``, "--region – Specify the AWS Region where the primary
    DB cluster of the Aurora global database is running"; for ``failover-global-cluster``,
    "--region – Specify the AWS Region where the secondary DB cluster that you want to be
    the new primary ... is running".
    """
    if kind == "switchover" and writer_region:
        return writer_region
    return target_region


def global_move_step(
    client: Any,
    *,
    global_id: str,
    target_cluster: str,
    target_arn: str,
    target_region: str,
    writer_region: str | None,
    kind: GlobalMoveKind,
) -> Step:
    """The step that moves ``global_id``'s writer to ``target_cluster`` in ``target_region``.

    ``client`` is for the region the call goes to (:func:`move_region`).
    """
    params: dict[str, Any] = {
        "GlobalClusterIdentifier": global_id,
        "TargetDbClusterIdentifier": target_arn,
    }
    if kind == "failover":
        params["AllowDataLoss"] = True
        title = f"fail over {global_id} to {target_cluster} ({target_region}), data loss allowed"
        call_name = "FailoverGlobalCluster"
    else:
        title = f"switch over {global_id} to {target_cluster} ({target_region})"
        call_name = "SwitchoverGlobalCluster"
    # A switchover is undone by switching back; a failover's lost writes are not.
    undoable = kind == "switchover" and writer_region is not None
    return Step(
        id=f"aurora:{kind}:{global_id}:{target_cluster}",
        title=title,
        service="rds",
        call=call_name,
        params=params,
        region=move_region(kind, target_region, writer_region),
        plane="control",
        plane_region=move_region(kind, target_region, writer_region),
        undoable=undoable,
        undo=f"mr-failover promote --region {writer_region} --mode switchover"
        if undoable
        else None,
        timeout=MOVE_TIMEOUT,
        poll=MOVE_POLL,
        max_poll=MOVE_MAX_POLL,
        action=GlobalMove(client, global_id, target_arn, kind=kind),
    )


def promote_replica_step(client: Any, *, cluster_id: str, region: str) -> Step:
    """The step that promotes the read replica cluster ``cluster_id`` in ``region``."""
    return Step(
        id=f"aurora:promote-replica:{cluster_id}",
        title=f"promote read replica cluster {cluster_id} ({region}) to a standalone writer",
        service="rds",
        call="PromoteReadReplicaDBCluster",
        params={"DBClusterIdentifier": cluster_id},
        region=region,
        plane="control",
        plane_region=region,
        undoable=False,
        timeout=MOVE_TIMEOUT,
        poll=MOVE_POLL,
        max_poll=MOVE_MAX_POLL,
        action=PromoteReplica(client, cluster_id),
    )


# --- fencing a diverged cluster: stop it, or rename it and rejoin as a secondary ----------

# Stopping, renaming and creating a cluster or an instance take minutes on AWS.
FENCE_TIMEOUT = 1800.0
FENCE_STOPPED = ("stopping", "stopped")


def _require(client: Any, cluster_id: str) -> dict[str, Any]:
    found = describe_cluster(client, cluster_id)
    if found is None:
        raise AwsCallError(
            client.meta.region_name, "rds:DescribeDBClusters", f"no cluster {cluster_id}"
        )
    return found


def cluster_instances(client: Any, cluster_id: str) -> list[dict[str, Any]]:
    """The DB instances of ``cluster_id`` (DescribeDBInstances, filter db-cluster-id)."""
    out = call(
        client,
        "describe_db_instances",
        Filters=[{"Name": "db-cluster-id", "Values": [cluster_id]}],
    )
    return list(out.get("DBInstances", []))


def clusters_named(client: Any, prefix: str) -> list[ClusterFinding]:
    """Every cluster of the client's region whose identifier starts with ``prefix``.

    DescribeDBClusters filters on exact identifiers only, so the region's clusters are
    listed (paginated) and matched here.
    """
    found: list[ClusterFinding] = []
    marker: str | None = None
    while True:
        params: dict[str, Any] = {"Marker": marker} if marker else {}
        out = call(client, "describe_db_clusters", **params)
        found += [
            cluster_finding(c)
            for c in out.get("DBClusters", [])
            if str(c.get("DBClusterIdentifier", "")).startswith(prefix)
        ]
        marker = out.get("Marker")
        if not marker:
            return found


class RenameCluster(StepAction):
    """ModifyDBCluster NewDBClusterIdentifier: the diverged cluster gives up its name."""

    def __init__(self, client: Any, old: str, new: str) -> None:
        self.client = client
        self.old = old
        self.new = new
        self._status = ""

    def holds(self) -> bool:
        found = describe_cluster(self.client, self.new)
        self._status = str(found.get("Status", "")) if found else "not renamed yet"
        return found is not None

    def apply(self) -> None:
        call(
            self.client,
            "modify_db_cluster",
            DBClusterIdentifier=self.old,
            NewDBClusterIdentifier=self.new,
            ApplyImmediately=True,
        )

    def settled(self) -> bool:
        # "renaming" until done; then it can be stopped, and the old name is free.
        return self.holds() and self._status in ("available", *FENCE_STOPPED)

    def state(self) -> str:
        return f"{self.new}: {self._status}"


class StopCluster(StepAction):
    """StopDBCluster; settles when the cluster is ``stopped`` (its data is kept)."""

    def __init__(self, client: Any, cluster_id: str) -> None:
        self.client = client
        self.cluster_id = cluster_id
        self._status = ""

    def _read(self) -> str:
        self._status = str(_require(self.client, self.cluster_id).get("Status", ""))
        return self._status

    def holds(self) -> bool:
        return self._read() in FENCE_STOPPED

    def apply(self) -> None:
        call(self.client, "stop_db_cluster", DBClusterIdentifier=self.cluster_id)

    def settled(self) -> bool:
        return self._read() == "stopped"

    def state(self) -> str:
        return f"cluster {self.cluster_id} is {self._status or '?'}"


class CreateSecondary(StepAction):
    """CreateDBCluster with GlobalClusterIdentifier: a new secondary of the global cluster."""

    def __init__(self, client: Any, params: dict[str, Any]) -> None:
        self.client = client
        self.params = params
        self.cluster_id = str(params["DBClusterIdentifier"])
        self.global_id = str(params["GlobalClusterIdentifier"])
        self._status = ""

    def holds(self) -> bool:
        found = describe_cluster(self.client, self.cluster_id)
        if found is None:
            self._status = "not created yet"
            return False
        self._status = str(found.get("Status", ""))
        g = observe_global_cluster(self.client, self.global_id)
        # The name is only ours once it is a member: a standalone cluster under it is
        # the diverged one, which the rename step has to move out of the way first.
        return g.member(str(found["DBClusterArn"])) is not None

    def apply(self) -> None:
        call(self.client, "create_db_cluster", **self.params)

    def settled(self) -> bool:
        return self.holds() and self._status == "available"

    def state(self) -> str:
        return f"cluster {self.cluster_id}: {self._status}"


class CreateReader(StepAction):
    """CreateDBInstance in the new secondary: a cluster without an instance serves nothing."""

    def __init__(self, client: Any, params: dict[str, Any]) -> None:
        self.client = client
        self.params = params
        self.cluster_id = str(params["DBClusterIdentifier"])
        self._states: list[str] = []

    def holds(self) -> bool:
        instances = cluster_instances(self.client, self.cluster_id)
        self._states = [str(i.get("DBInstanceStatus", "")) for i in instances]
        return bool(instances)

    def apply(self) -> None:
        call(self.client, "create_db_instance", **self.params)

    def settled(self) -> bool:
        return self.holds() and "available" in self._states

    def state(self) -> str:
        shown = ", ".join(self._states) or "no instance yet"
        return f"instances of {self.cluster_id}: {shown}"


class Rejoined(StepAction):
    """Nothing to call: wait until the cluster is an available, connected secondary."""

    def __init__(self, client: Any, cluster_id: str, global_id: str) -> None:
        self.client = client
        self.cluster_id = cluster_id
        self.global_id = global_id
        self._last = ""

    def holds(self) -> bool:
        found = _require(self.client, self.cluster_id)
        g = observe_global_cluster(self.client, self.global_id)
        member = g.member(str(found["DBClusterArn"]))
        status = str(found.get("Status", ""))
        if member is None:
            self._last = f"{self.cluster_id} ({status}) is not a member of {self.global_id}"
            return False
        sync = member.synchronization or "connected"
        self._last = f"{self.cluster_id} is {status}, {sync}" + (
            ", WRITER" if member.is_writer else ""
        )
        return status == "available" and sync == "connected" and not member.is_writer

    def apply(self) -> None:
        """Nothing to change: the step is the wait."""

    def settled(self) -> bool:
        return self.holds()

    def state(self) -> str:
        return self._last


def _fence_step(
    step_id: str,
    title: str,
    call_name: str,
    params: dict[str, Any],
    region: str,
    action: StepAction,
    *,
    undo: str | None = None,
) -> Step:
    return Step(
        id=step_id,
        title=title,
        service="rds",
        call=call_name,
        params=params,
        region=region,
        plane="control",
        plane_region=region,
        undoable=undo is not None,
        undo=undo,
        timeout=FENCE_TIMEOUT,
        poll=MOVE_POLL,
        max_poll=MOVE_MAX_POLL,
        action=action,
    )


def rename_step(client: Any, *, region: str, old: str, new: str) -> Step:
    params = {"DBClusterIdentifier": old, "NewDBClusterIdentifier": new, "ApplyImmediately": True}
    return _fence_step(
        f"fence:rename:{old}",
        f"rename the diverged cluster {old} ({region}) to {new}",
        "ModifyDBCluster",
        params,
        region,
        RenameCluster(client, old, new),
    )


def stop_step(client: Any, *, region: str, cluster_id: str) -> Step:
    return _fence_step(
        f"fence:stop:{cluster_id}",
        f"stop cluster {cluster_id} ({region}); its data is kept",
        "StopDBCluster",
        {"DBClusterIdentifier": cluster_id},
        region,
        StopCluster(client, cluster_id),
        undo=f"aws rds start-db-cluster --region {region} --db-cluster-identifier {cluster_id}",
    )


def create_secondary_step(client: Any, *, region: str, params: dict[str, Any]) -> Step:
    cluster_id = str(params["DBClusterIdentifier"])
    return _fence_step(
        f"fence:create-secondary:{cluster_id}",
        f"create {cluster_id} ({region}) as a new secondary of {params['GlobalClusterIdentifier']}",
        "CreateDBCluster",
        params,
        region,
        CreateSecondary(client, params),
    )


def create_reader_step(client: Any, *, region: str, params: dict[str, Any]) -> Step:
    return _fence_step(
        f"fence:create-reader:{params['DBClusterIdentifier']}",
        f"add reader instance {params['DBInstanceIdentifier']} ({params['DBInstanceClass']}) "
        f"to {params['DBClusterIdentifier']}",
        "CreateDBInstance",
        params,
        region,
        CreateReader(client, params),
    )


def rejoined_step(client: Any, *, region: str, cluster_id: str, global_id: str) -> Step:
    return _fence_step(
        f"fence:rejoined:{cluster_id}",
        f"wait until {cluster_id} ({region}) is an available, connected secondary of {global_id}",
        "DescribeGlobalClusters",
        {"GlobalClusterIdentifier": global_id},
        region,
        Rejoined(client, cluster_id, global_id),
    )
