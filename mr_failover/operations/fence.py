"""``fence``: make sure a split-brain region's database cannot take writes.

A region is split brain when its Aurora cluster accepts writes without being the global
writer (:func:`mr_failover.resources.aurora.split_brain`): a secondary detached by hand,
or an old primary that came back standalone after an unplanned failover, when Aurora's
best-effort fencing did not hold. AWS cannot turn an existing standalone cluster back
into a secondary (a secondary is always a new cluster created with
``GlobalClusterIdentifier``), and refuses ``StopDBCluster`` on a member of a global
database, so :func:`plan_fence` offers two ways:

* ``stop`` (the default): ``StopDBCluster``; the diverged writes stay in the stopped
  cluster, to reconcile the writes the failover lost. Undone by ``StartDBCluster``.
* ``rejoin``: rename the diverged cluster to ``<id>-fenced-<UTC yyyymmddHHMM>``, stop
  it, and create a new secondary under the original identifier (settings copied from
  the old cluster) with a reader instance; wait until it is available and connected.
  The application's endpoint, which carries the identifier, then names a read-only
  secondary.

In replica mode (binlog read replicas) only ``stop`` exists: re-creating a binlog
replica is not one API call. Whatever the database plan, the region's traffic is kept
drained with drain's own steps (they hold when the region already is drained). Fence
refuses when the region holds the global writer, and says so when the database is
already fenced (stopped, or a secondary), keeping only the traffic drained. Every step
reads real state, so a resumed run (re-planned from what it finds: a renamed cluster, a
secondary being created) repeats nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from mr_failover.engine.plan import Clock, Plan, Step
from mr_failover.errors import AwsCallError, RefusedError, UsageError
from mr_failover.operations.promote import _aurora as aurora_spec
from mr_failover.resources.arc_steps import SafetyRuleBlockedError
from mr_failover.resources.aurora import (
    ClusterFinding,
    cluster_finding,
    observe_global_cluster,
    split_brain,
)
from mr_failover.resources.aurora_steps import (
    FENCE_STOPPED,
    cluster_instances,
    clusters_named,
    create_reader_step,
    create_secondary_step,
    describe_cluster,
    describe_move,
    read_cluster,
    rejoined_step,
    rename_step,
    stop_step,
)

if TYPE_CHECKING:
    from mr_failover.aws import ClientSource
    from mr_failover.topology import Aurora, Topology

Database = Literal["stop", "rejoin"]
DATABASES: tuple[Database, ...] = ("stop", "rejoin")
FENCED_MARK = "-fenced-"
READER_MARK = "-reader-"
STAMP_FORMAT = "%Y%m%d%H%M"
STAMP_LEN = len("yyyymmddHHMM")
IDENTIFIER_MAX = 63  # DB cluster and instance identifiers

TrafficSteps = Callable[..., tuple[list[Step], tuple[str, ...]]]

AUTO_START = (
    "AWS starts a stopped Aurora cluster again after seven days: reconcile its writes and "
    "delete it (or stop it again) before then."
)
NO_REJOIN_API = (
    "AWS has no call that turns an existing standalone cluster back into a secondary (a "
    "secondary is always a new cluster created with GlobalClusterIdentifier), and refuses "
    "StopDBCluster on a member of a global database."
)


class IsWriterError(RefusedError):
    """The region holds the writer: fencing it would stop the application's writes."""


@dataclass(frozen=True)
class DatabasePlan:
    """What fence does to the database: ``action`` is "stop", "rejoin" or "none"."""

    action: str
    steps: tuple[Step, ...]
    notes: tuple[str, ...]
    fenced_cluster: str | None = None


def prefix(base: str, mark: str) -> str:
    """``<base><mark>``, leaving room for a stamp within AWS's 63 characters (no ``--``)."""
    return base[: IDENTIFIER_MAX - len(mark) - STAMP_LEN].rstrip("-") + mark


def fenced_prefix(cluster_id: str) -> str:
    """What every fenced copy of ``cluster_id`` is named, before its stamp."""
    return prefix(cluster_id, FENCED_MARK)


def _database(spec: Aurora, region: str, database: str | None) -> Database:
    chosen = database or "stop"
    if chosen not in DATABASES:
        raise UsageError(f"unknown --database {chosen!r}; choose stop or rejoin")
    if spec.mode == "replica" and chosen == "rejoin":
        raise UsageError(
            f"{region}'s cluster is a binlog read replica (aurora.mode: replica): only "
            "--database stop exists there, because re-creating a binlog replica is not one "
            "API call (a new cluster with ReplicationSourceIdentifier, binlog settings and a "
            "full copy of the data); rebuild it by hand once the data is reconciled"
        )
    return "rejoin" if chosen == "rejoin" else "stop"


def _other_option(chosen: Database, cluster: str, region: str) -> str:
    if chosen == "stop":
        return (
            f"other option: --database rejoin renames {cluster} to "
            f"{cluster}{FENCED_MARK}<UTC yyyymmddHHMM>, stops it, and creates {cluster} again "
            "as a new secondary of the global cluster (CreateDBCluster with "
            "GlobalClusterIdentifier) with a reader instance"
        )
    return (
        f"other option: --database stop only stops {cluster} ({region}), which keeps its name "
        "and its data; the region then has no database until it is rebuilt"
    )


def plan_fence(
    topology: Topology,
    factory: ClientSource,
    region: str,
    *,
    database: str | None = None,
    clock: Clock,
    now: datetime | None = None,
    traffic: TrafficSteps | None = None,
    override_safety_rules: Sequence[str] = (),
) -> Plan:
    """The plan for ``fence --region region``: traffic kept drained, database fenced.

    ``traffic``: the region's drain steps (default: drain's own,
    :func:`mr_failover.operations.drain.drain_traffic_steps`); tests inject their own.
    ``override_safety_rules``: ARC safety rules the traffic steps override (a region
    whose lever is routing_control), as ``drain --override-safety-rule`` does.
    """
    from mr_failover.operations.drain import controls_memo, drain_traffic_steps

    spec = aurora_spec(topology, region)
    chosen = _database(spec, region, database)
    # Checked before any read: an override for another lever is a mistake on the line.
    controls = controls_memo(topology.regions[region], region, override_safety_rules)
    now = now or datetime.fromtimestamp(clock.time(), UTC)
    db = plan_database(topology, factory, region, chosen, now=now)
    traffic = traffic or drain_traffic_steps
    notes: list[str] = []
    try:
        # Traffic first: requests stop reaching the region, so the diverged database stops
        # receiving new writes while it is stopped or renamed (minutes on AWS).
        steps, traffic_notes = traffic(topology, factory, region, clock=clock, controls=controls)
        notes += traffic_notes
    except (RefusedError, UsageError, AwsCallError) as exc:
        # The database is what must be fenced; traffic that cannot be drained now is said.
        steps = []
        again = f"drain it once possible: mr-failover drain --region {region}"
        if isinstance(exc, SafetyRuleBlockedError):
            again = (
                "after checking, fence again with the flags above: "
                f"mr-failover fence --region {region} --override-safety-rule ARN"
            )
        notes.append(f"traffic: this plan does not drain {region} ({exc}); {again}")
    return Plan(
        command="fence",
        params={
            "region": region,
            "database": chosen,
            "action": db.action,
            "cluster": spec.cluster,
            "fenced_cluster": db.fenced_cluster,
            # What the routing-control lever found, and the overrides (shown, journaled).
            **controls.params(),
        },
        steps=(*steps, *db.steps),
        notes=(*db.notes, *notes),
    )


def plan_database(
    topology: Topology, factory: ClientSource, region: str, database: Database, *, now: datetime
) -> DatabasePlan:
    """The database half of the fence, from a fresh read of ``region``."""
    spec = aurora_spec(topology, region)
    if spec.mode == "replica":
        return _plan_replica(topology, factory, region, spec)
    return _plan_global(factory, region, spec, database, now)


def _plan_global(
    factory: ClientSource, region: str, spec: Aurora, database: Database, now: datetime
) -> DatabasePlan:
    assert spec.global_cluster is not None  # the topology model requires it for global
    gid, cid = spec.global_cluster, spec.cluster
    rds = factory.client("rds", region)
    # Asked of the fenced region itself: it answers whether or not the writer's does.
    g = observe_global_cluster(rds, gid)
    if g.failover is not None:
        raise RefusedError(
            f"refused: global cluster {gid} is moving ({describe_move(g)}); wait until its "
            "FailoverState is gone, then check mr-failover status"
        )
    raw = describe_cluster(rds, cid)
    fenced = _newest_fenced(rds, cid)
    other = _other_option(database, cid, region)
    if raw is None:
        if fenced is None:
            raise RefusedError(
                f"refused: no cluster {cid} in {region} (rds:DescribeDBClusters) and no "
                f"{fenced_prefix(cid)}* copy: nothing to fence; fix regions.{region}.aurora"
            )
        if database != "rejoin":
            raise RefusedError(
                f"refused: a rejoin of {cid} is half done ({fenced.id} exists, {cid} does not); "
                f"finish it: mr-failover fence --region {region} --database rejoin"
            )
        return _rejoin(rds, region, gid, cid, fenced.id, (other,))
    found = cluster_finding(raw)
    member = g.member(found.arn)
    if member is not None and member.is_writer:
        raise IsWriterError(
            f"refused: {cid} ({region}) is the writer of global cluster {gid}; fencing it "
            "would stop the application's writes. Fence the region that diverged, or move "
            "the writer first (mr-failover promote --region R)"
        )
    if member is not None:
        if database == "rejoin" and fenced is not None:
            # A rejoin whose new secondary exists: finish what is left (a resumed run).
            left = _rejoin(rds, region, gid, cid, fenced.id, (other,))
            if any(s.action is not None and not s.action.holds() for s in left.steps):
                return left
        kept = f"; the diverged data is kept in {fenced.id} ({fenced.status})" if fenced else ""
        return DatabasePlan(
            "none",
            (),
            (
                f"database already fenced: {cid} ({region}) is a secondary of {gid} "
                f"({member.synchronization or 'connected'}) and accepts no writes{kept}; "
                "this plan only keeps the region's traffic drained",
            ),
            fenced.id if fenced else None,
        )
    if found.status in FENCE_STOPPED:
        return DatabasePlan(
            "none",
            (),
            (
                f"database already fenced: {cid} ({region}) is {found.status}, outside global "
                f"cluster {gid}; this plan only keeps the region's traffic drained",
                AUTO_START,
            ),
        )
    if found.status != "available":
        raise RefusedError(
            f"refused: {cid} ({region}) is {found.status}, outside global cluster {gid}; wait "
            f"until it is available, then run mr-failover fence --region {region} again"
        )
    where = f"the global writer is in {g.writer_region}" if g.writer_region else "no writer"
    head = f"SPLIT BRAIN: {cid} ({region}) accepts writes but is not a member of {gid} ({where})"
    if database == "stop":
        require_stoppable(cid, region, tuple(raw.get("ReadReplicaIdentifiers") or ()))
        return DatabasePlan(
            "stop",
            (stop_step(rds, region=region, cluster_id=cid),),
            (
                head,
                f"database: --database stop: StopDBCluster {cid}; its writes since it diverged "
                "stay in it, to reconcile the writes the failover lost",
                AUTO_START,
                other,
                NO_REJOIN_API,
            ),
        )
    new_name = fenced_prefix(cid) + now.astimezone(UTC).strftime(STAMP_FORMAT)
    return _rejoin(rds, region, gid, cid, new_name, (head, other), source=cid)


def require_stoppable(cluster_id: str, region: str, replicas: tuple[str, ...]) -> None:
    """Refuse a stop AWS refuses: a cluster with cross-Region read replicas.

    # rule: aurora-stop-limits
    "You can't stop and start a cluster that has a cross-Region read replica"
    ("Limitations for stopping and starting Aurora DB clusters",
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-cluster-stop-start.html).
    A read replica cluster is never stopped here (fence treats it as already fenced), and a
    global member is detached first, so those two limits are not reached.
    """
    if replicas:
        raise RefusedError(
            f"refused: {cluster_id} ({region}) has cross-Region read replicas "
            f"({', '.join(replicas)}), and Aurora cannot stop a cluster that has one; promote "
            "or delete the replicas first (aws rds promote-read-replica-db-cluster), or block "
            "its writes another way (security group, read_only parameter)"
        )


def _newest_fenced(rds: Any, cluster_id: str) -> ClusterFinding | None:
    prefix = fenced_prefix(cluster_id)
    found = [c for c in clusters_named(rds, prefix) if c.id[len(prefix) :].isdigit()]
    return max(found, key=lambda c: c.id) if found else None


def _rejoin(
    rds: Any,
    region: str,
    gid: str,
    cid: str,
    fenced: str,
    head: tuple[str, ...],
    *,
    source: str | None = None,
) -> DatabasePlan:
    """Rename ``source`` (or nothing: already renamed) to ``fenced``, stop it, recreate."""
    raw = describe_cluster(rds, source or fenced)
    if raw is None:
        raise AwsCallError(region, "rds:DescribeDBClusters", f"no cluster {source or fenced}")
    stamp = fenced[-STAMP_LEN:]
    secondary: dict[str, Any] = {
        "DBClusterIdentifier": cid,
        "GlobalClusterIdentifier": gid,
        "Engine": raw["Engine"],
        "EngineVersion": raw["EngineVersion"],
    }
    if raw.get("DBSubnetGroup"):
        secondary["DBSubnetGroupName"] = raw["DBSubnetGroup"]
    groups = [g["VpcSecurityGroupId"] for g in raw.get("VpcSecurityGroups", [])]
    if groups:
        secondary["VpcSecurityGroupIds"] = groups
    if raw.get("DBClusterParameterGroup"):
        secondary["DBClusterParameterGroupName"] = raw["DBClusterParameterGroup"]
    if raw.get("StorageEncrypted") and raw.get("KmsKeyId"):
        # A cross-region secondary of an encrypted global database needs a key of its
        # own region: the old cluster's, in the same region.
        secondary |= {"StorageEncrypted": True, "KmsKeyId": raw["KmsKeyId"]}
    reader = {
        "DBInstanceIdentifier": prefix(cid, READER_MARK) + stamp,
        "DBClusterIdentifier": cid,
        "Engine": raw["Engine"],
        "DBInstanceClass": _writer_class(rds, raw),
    }
    old = source or cid
    steps = (
        rename_step(rds, region=region, old=old, new=fenced),
        stop_step(rds, region=region, cluster_id=fenced),
        create_secondary_step(rds, region=region, params=secondary),
        create_reader_step(rds, region=region, params=reader),
        rejoined_step(rds, region=region, cluster_id=cid, global_id=gid),
    )
    notes = (
        *head,
        f"database: --database rejoin: {old} is renamed {fenced} and stopped (its writes since "
        f"it diverged are kept there, to reconcile); {cid} is created again as a new secondary "
        f"of {gid} with a {reader['DBInstanceClass']} reader, and the run waits until it is "
        "available and connected. The application's endpoint names the read-only secondary.",
        "settings copied from the old cluster: engine, engine version, subnet group, security "
        "groups, cluster parameter group, KMS key when encrypted; alarms, DB parameter groups "
        "and IAM roles are not",
        f"to go back: delete the new secondary {cid} and its instance, rename {fenced} to "
        f"{cid} and start it (aws rds start-db-cluster)",
        AUTO_START,
        NO_REJOIN_API,
    )
    return DatabasePlan("rejoin", steps, notes, fenced)


def _writer_class(rds: Any, raw: dict[str, Any]) -> str:
    """The instance class of the old cluster's writer (else of any of its instances)."""
    cluster_id = str(raw["DBClusterIdentifier"])
    instances = cluster_instances(rds, cluster_id)
    writers = {
        m["DBInstanceIdentifier"]
        for m in raw.get("DBClusterMembers", [])
        if m.get("IsClusterWriter")
    }
    ordered = sorted(instances, key=lambda i: i["DBInstanceIdentifier"] not in writers)
    if not ordered:
        raise RefusedError(
            f"refused: {cluster_id} has no instance to copy an instance class from for the "
            "new secondary's reader; fence with --database stop, or add an instance first"
        )
    return str(ordered[0]["DBInstanceClass"])


def _plan_replica(
    topology: Topology, factory: ClientSource, region: str, spec: Aurora
) -> DatabasePlan:
    rds = factory.client("rds", region)
    found = read_cluster(rds, spec.cluster)
    if found is None:
        raise RefusedError(
            f"refused: no cluster {spec.cluster} in {region} (rds:DescribeDBClusters); fix "
            f"regions.{region}.aurora.cluster"
        )
    c = found.finding
    replica_note = (
        "replica mode: only --database stop exists, because re-creating a binlog read replica "
        "is not one API call; rebuild the replica by hand once the data is reconciled"
    )
    if c.status in FENCE_STOPPED or (c.status == "available" and c.replication_source):
        what = c.status if c.status in FENCE_STOPPED else f"a replica of {c.replication_source}"
        return DatabasePlan(
            "none",
            (),
            (
                f"database already fenced: {c.id} ({region}) is {what} and accepts no writes; "
                "this plan only keeps the region's traffic drained",
            ),
        )
    if c.status != "available":
        raise RefusedError(
            f"refused: {c.id} ({region}) is {c.status}; wait until it is available, then run "
            f"mr-failover fence --region {region} again"
        )
    clusters = {region: c}
    for name, other in topology.regions.items():
        if name == region or other.aurora is None:
            continue
        try:
            theirs = read_cluster(factory.client("rds", name), other.aurora.cluster)
        except AwsCallError as exc:
            raise RefusedError(
                f"refused: cannot tell whether {c.id} ({region}) is the only cluster that "
                f"accepts writes: {name} does not answer ({exc.detail}); retry once it does"
            ) from None
        if theirs is not None:
            clusters[name] = theirs.finding
    judged = split_brain("replica", clusters, None)
    if region not in judged.split:
        raise IsWriterError(
            f"refused: {c.id} ({region}) is the only cluster that accepts writes, so it is the "
            "writer; fencing it would stop the application's writes"
        )
    require_stoppable(c.id, region, found.read_replicas)
    return DatabasePlan(
        "stop",
        (stop_step(rds, region=region, cluster_id=c.id),),
        (
            f"SPLIT BRAIN: {judged.why(region)}; this plan stops {c.id} ({region}): make sure "
            "it is the one that must not take writes",
            f"database: --database stop: StopDBCluster {c.id}; its writes stay in it, to reconcile",
            AUTO_START,
            replica_note,
        ),
    )
