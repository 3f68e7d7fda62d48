"""Aurora global database moves the way AWS makes them, on top of moto's RDS.

moto 5.2.5 lacks ``SwitchoverGlobalCluster`` and ``FailoverGlobalCluster``, ignores
``RemoveFromGlobalCluster`` outside us-east-1, and has no lag metrics. This module adds
them to moto's ``RDSResponse`` (moto dispatches an action to the method of the same
snake_case name and renders model attributes named after the output members):

- a move is accepted, then ``FailoverState`` goes ``pending`` -> ``switching-over`` /
  ``failing-over`` over ``settings.aurora_failover_seconds``, then ``IsWriter`` moves and
  ``FailoverState`` disappears;
- refusals where AWS refuses (unknown global cluster or target, target already the
  writer, engine versions that differ, a move in progress, a switchover while a member
  region is down), with AWS's error codes;
- ``SynchronizationStatus`` per member (``pending-resync`` for an old writer after a
  failover with data loss, and for a member whose region is down);
- ``AuroraGlobalDBReplicationLag`` / ``AuroraGlobalDBRPOLag`` in each secondary's region;
- Aurora's best-effort fencing of the old writer after a failover with data loss, as the
  setting ``aurora_fencing`` says: ``succeeds`` (default) rebuilds it as a pending-resync
  secondary; ``fails`` leaves it, when its region was down at the failover, detached from
  the global cluster, standalone and writable once its region is back (a split brain);
- the documented preconditions of a move: the request reaches the right region
  (switchover: the primary's; failover: the target's), the target has a DB instance, and
  the members' engine versions allow it (same major and minor; patch levels may differ
  only for the Aurora PostgreSQL minors the guide lists);
- after a failover, the other secondaries are rebuilt (``pending-resync``) and the old
  primary's volume is snapshotted as ``rds:unplanned-global-failover-<cluster>-<time>``
  when its region answers again;
- ``StopDBCluster`` refused for a global database member (unless it is the only one), a
  cluster with a cross-region read replica, and a read replica cluster; a
  rename (``ModifyDBCluster NewDBClusterIdentifier``) that keeps the cluster's instances,
  refuses a name in use, and frees the old name for a new cluster.

Everything installed here is tied to moto 5.2.5 (tests/sandbox/test_moto_pin.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mr_failover.sandbox.state import Hooks

if TYPE_CHECKING:
    from mr_failover.sandbox.state import SandboxState

# What this module adds to or replaces on moto's RDSResponse / GlobalCluster.
HOOKS = (
    "moto.rds.responses.RDSResponse.switchover_global_cluster",
    "moto.rds.responses.RDSResponse.failover_global_cluster",
    "moto.rds.responses.RDSResponse.remove_from_global_cluster",
    "moto.rds.responses.RDSResponse.describe_global_clusters",
    "moto.rds.models.GlobalCluster.global_cluster_members",
    "moto.rds.models.RDSBackend.stop_db_cluster",
    "moto.rds.models.RDSBackend.modify_db_cluster",
    "moto.rds.models.DBCluster.save_automated_backup",
)
PENDING_SHARE = 0.2  # first part of a move shows "pending", as on AWS
METRIC_INTERVAL = 1.0  # sandbox seconds between lag datapoints
# The lag metrics' dimension sets (see publish_lag_metrics); tests may narrow them.
LAG_DIMENSIONS_BOTH = ("cluster", "cluster+source")
# Patch levels may differ from these Aurora PostgreSQL minors on (and any 15+).
_PG_PATCH_TOLERANT = {11: 17, 12: 12, 13: 8, 14: 5}

_hooks = Hooks("Aurora")
_sandbox = _hooks.sandbox


@dataclass
class Move:
    kind: str  # "switchover" | "failover"
    from_arn: str
    to_arn: str
    data_loss: bool
    started: float
    writer_down: bool = False  # the old writer's region was down when the move began


@dataclass
class AuroraState:
    moves: dict[str, Move] = field(default_factory=dict)  # global cluster id -> move
    resync_since: dict[str, float] = field(default_factory=dict)  # cluster arn -> since
    writer_down_since: dict[str, float] = field(default_factory=dict)  # gc id -> since
    # Old primaries whose volume is snapshotted once their region answers: arn -> when
    # the failover ended (the snapshot's point of failure).
    snapshot_due: dict[str, float] = field(default_factory=dict)
    lag_dimensions: tuple[str, ...] = LAG_DIMENSIONS_BOTH


def _state(sandbox: SandboxState) -> AuroraState:
    state: AuroraState = sandbox.state("aurora", AuroraState)
    return state


def install(sandbox: SandboxState) -> None:
    """Point the hooks at ``sandbox`` (patching moto once per process); add the tickers."""
    _hooks.install(sandbox, _patch_moto)
    sandbox.every(sandbox.settings.tick, lambda: advance(sandbox))
    sandbox.every(METRIC_INTERVAL, lambda: publish_lag_metrics(sandbox))


# --- errors, in AWS's codes --------------------------------------------------------------


def _error(code: str, message: str) -> Exception:
    from moto.rds.exceptions import RDSClientError

    return RDSClientError(code, message)


def _flag(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    return str(value).lower() == "true"


def _find_global(identifier: str) -> Any:
    from moto.rds.models import rds_backends

    sandbox = _sandbox()
    clusters = rds_backends[sandbox.account_id]["us-east-1"].global_clusters
    ident = str(identifier or "")
    gc = clusters.get(ident.lower())
    if gc is None:
        gc = next((g for g in clusters.values() if g.global_cluster_arn == ident), None)
    if gc is None:
        raise _error("GlobalClusterNotFoundFault", f"Global cluster {ident} not found.")
    return gc


def _member(gc: Any, identifier: str) -> Any:
    for member in gc.members:
        if identifier in (member.db_cluster_arn, member.db_cluster_identifier):
            return member
    raise _error(
        "DBClusterNotFoundFault",
        f"DBCluster {identifier} is not a member of global cluster {gc.global_cluster_identifier}.",
    )


def _writer(gc: Any) -> Any:
    writers = [m for m in gc.members if m.is_writer]
    if not writers and gc.members:
        # moto leaves the source cluster of CreateGlobalCluster(SourceDBClusterIdentifier)
        # with is_writer False; on AWS that cluster is the writer.
        gc.members[0].is_writer = True
        writers = [gc.members[0]]
    return writers[0] if writers else None


def _version_key(version: str) -> tuple[int, ...] | None:
    tail = version.rsplit("mysql_aurora.", 1)[-1]
    parts = tail.split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else None


def versions_refusal(engine: str, versions: set[str]) -> str | None:
    """Why the members' engine versions forbid a managed move, or None.

    # rule: aurora-engine-versions
    "Patch level compatibility for managed cross-Region switchovers and failovers",
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-global-database-upgrade.html#aurora-global-database-upgrade.minor.incompatibility:
    same major and minor; differing patch levels only for Aurora PostgreSQL 11.17,
    12.12, 13.8, 14.5 and higher minors, and 15 or higher majors; never for Aurora MySQL.
    """
    if len(versions) < 2:
        return None
    keys = {v: _version_key(v) for v in versions}
    if any(k is None or len(k) < 2 for k in keys.values()):
        return "the versions cannot be compared"
    if len({k[:2] for k in keys.values() if k}) > 1:
        return "the major or minor versions differ"
    if "postgres" not in engine:
        return "Aurora MySQL needs identical patch levels"
    major, minor = next(iter(keys.values()))[:2]  # type: ignore[index]
    if major >= 15 or minor >= _PG_PATCH_TOLERANT.get(major, 10**6):
        return None
    return f"Aurora PostgreSQL {major}.{minor} needs identical patch levels"


def _wrong_region(kind: str, request_region: str, writer: Any, target: Any) -> str | None:
    """The region the move must be sent to, when the request came to another one.

    # rule: aurora-move-region
    "Using switchover or failover in Amazon Aurora Global Database",
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-global-database-disaster-recovery.html:
    ``switchover-global-cluster --region`` is "the AWS Region where the primary DB cluster
    ... is running"; ``failover-global-cluster --region`` is the Region of "the secondary
    DB cluster that you want to be the new primary". The guide gives the procedure, not
    the error for another region: the refusal's code is the sandbox's (docs/SANDBOX.md).
    """
    right = writer.region if kind == "switchover" and writer is not None else target.region
    return right if request_region != right else None


def _begin_move(request_region: str, params: dict[str, Any], kind: str, data_loss: bool) -> Any:
    sandbox = _sandbox()
    with sandbox.lock:
        gc = _find_global(params.get("GlobalClusterIdentifier", ""))
        target_id = params.get("TargetDbClusterIdentifier") or ""
        if not target_id:
            raise _error("InvalidParameterValue", "TargetDbClusterIdentifier is required.")
        target = _member(gc, target_id)
        state = _state(sandbox)
        name = gc.global_cluster_identifier
        if name in state.moves:
            raise _error(
                "InvalidGlobalClusterStateFault",
                f"Global cluster {name} is already {gc.failover_state['Status']}; "
                "wait until FailoverState is gone.",
            )
        writer = _writer(gc)
        if writer is target:
            raise _error(
                "InvalidGlobalClusterStateFault",
                f"DB cluster {target.db_cluster_identifier} is already the writer of {name}.",
            )
        versions = {m.engine_version for m in gc.members}
        why = versions_refusal(str(gc.engine or ""), versions)
        if why is not None:
            raise _error(
                "InvalidGlobalClusterStateFault",
                f"Members of global cluster {name} run different engine versions "
                f"({', '.join(sorted(versions))}): {why}; upgrade them first.",
            )
        if not target.members:
            # rule: aurora-headless-target
            # "Before you can perform a switchover or failover to a headless secondary
            # Aurora DB cluster, you must add a DB instance to it" (same page as above).
            raise _error(
                "InvalidDBClusterStateFault",
                f"DB cluster {target.db_cluster_identifier} has no DB instance; add one "
                "before a switchover or failover.",
            )
        if kind == "switchover":
            down = sorted({m.region for m in gc.members if sandbox.region_down(m.region, "rds")})
            if down:
                raise _error(
                    "InvalidGlobalClusterStateFault",
                    f"Global cluster {name} cannot switch over while {', '.join(down)} is "
                    "unavailable; use FailoverGlobalCluster with AllowDataLoss.",
                )
        elif sandbox.region_down(target.region, "rds"):
            raise _error(
                "InvalidDBClusterStateFault",
                f"DB cluster {target.db_cluster_identifier} is unavailable.",
            )
        right = _wrong_region(kind, request_region, writer, target)
        if right is not None:
            call = "SwitchoverGlobalCluster" if kind == "switchover" else "FailoverGlobalCluster"
            raise _error(
                "InvalidParameterValue",
                f"{call} for {name} was sent to {request_region}; send it to {right} "
                f"({'the primary' if kind == 'switchover' else 'the target'}'s region).",
            )
        from_arn = writer.db_cluster_arn if writer is not None else ""
        writer_down = writer is not None and sandbox.region_down(writer.region, "rds")
        state.moves[name] = Move(
            kind, from_arn, target.db_cluster_arn, data_loss, sandbox.now(), writer_down
        )
        gc.failover_state = {
            "Status": "pending",
            "FromDbClusterArn": from_arn,
            "ToDbClusterArn": target.db_cluster_arn,
            "IsDataLossAllowed": data_loss,
        }
        return gc


def advance(sandbox: SandboxState) -> None:
    """Move every global cluster move along the sandbox clock (the ticker)."""
    from moto.rds.models import rds_backends

    state = _state(sandbox)
    now = sandbox.now()
    clusters = rds_backends[sandbox.account_id]["us-east-1"].global_clusters
    duration = sandbox.settings.aurora_failover_seconds
    for name, move in list(state.moves.items()):
        gc: Any = clusters.get(name)
        if gc is None:  # deleted (or reset) under the move
            del state.moves[name]
            continue
        elapsed = now - move.started
        if elapsed < duration * PENDING_SHARE:
            continue
        if elapsed < duration:
            status = "switching-over" if move.kind == "switchover" else "failing-over"
            gc.failover_state = {**(gc.failover_state or {}), "Status": status}
            gc.status = status
            continue
        for member in list(gc.members):
            member.is_writer = member.db_cluster_arn == move.to_arn
            if not move.data_loss or member.db_cluster_arn == move.to_arn:
                continue
            if member.db_cluster_arn != move.from_arn:
                # rule: aurora-rebuild-after-failover
                # "After Aurora promotes the new primary cluster, it automatically rebuilds
                # all additional secondary Region clusters" (aurora-global-database-
                # disaster-recovery.html): minutes to hours, pending-resync meanwhile.
                state.resync_since[member.db_cluster_arn] = now
                continue
            if move.writer_down and sandbox.settings.aurora_fencing == "fails":
                # Fencing did not reach the old writer: it stays a standalone writer.
                _detach(gc, member)
            else:
                # The old writer is rebuilt as a secondary once its region answers; Aurora
                # first tries to snapshot its old volume (same page).
                state.resync_since[member.db_cluster_arn] = now
                state.snapshot_due[member.db_cluster_arn] = now
        setattr(gc, "failover_state", None)  # noqa: B010
        gc.status = "available"
        del state.moves[name]
    for arn, since in list(state.resync_since.items()):
        region = arn.split(":")[3]
        if sandbox.region_down(region, "rds"):
            state.resync_since[arn] = now  # the rebuild starts when the region is back
            continue
        if arn in state.snapshot_due:
            _failover_snapshot(sandbox, arn, state.snapshot_due.pop(arn))
        if now - since >= duration:
            del state.resync_since[arn]
    for gc in clusters.values():
        writer = _writer(gc)
        if writer is not None and sandbox.region_down(writer.region, "rds"):
            state.writer_down_since.setdefault(gc.global_cluster_identifier, now)
        else:
            state.writer_down_since.pop(gc.global_cluster_identifier, None)


def _failover_snapshot(sandbox: SandboxState, arn: str, at: float) -> None:
    """``rds:unplanned-global-failover-<cluster>-<timestamp>`` of the old primary's volume."""
    from moto.rds.models import rds_backends

    region, cluster_id = arn.split(":")[3], arn.rsplit(":", 1)[-1]
    backend = rds_backends[sandbox.account_id][region]
    stamp = sandbox.wall_time() - dt.timedelta(seconds=max(0.0, sandbox.now() - at))
    name = f"rds:unplanned-global-failover-{cluster_id}-{stamp:%Y-%m-%d-%H-%M}"
    if cluster_id in backend.clusters and name not in backend.cluster_snapshots:
        backend.create_auto_cluster_snapshot(cluster_id, name)


def _detach(gc: Any, member: Any) -> None:
    """``member`` leaves ``gc`` as a standalone, writable cluster (what a detach leaves)."""
    gc.members.remove(member)
    member.global_cluster_identifier = None
    member.is_writer = False
    _state(_sandbox()).resync_since.pop(member.db_cluster_arn, None)


def _global_of(backend: Any, cluster: Any) -> Any:
    """The global cluster ``cluster`` is a member of, or None."""
    from moto.rds.models import rds_backends

    clusters = rds_backends[backend.account_id]["us-east-1"].global_clusters.values()
    return next((gc for gc in clusters if cluster in gc.members), None)


def synchronization_status(sandbox: SandboxState, member: Any) -> str:
    if member.db_cluster_arn in _state(sandbox).resync_since:
        return "pending-resync"
    if sandbox.region_down(member.region, "rds"):
        return "pending-resync"
    return "connected"


def replication_lag_ms(sandbox: SandboxState, gc: Any) -> float:
    """The lag a secondary reports: the setting, growing while the writer's region is down."""
    lag = sandbox.settings.aurora_replication_lag_ms
    since = _state(sandbox).writer_down_since.get(gc.global_cluster_identifier)
    if since is not None:
        lag += (sandbox.now() - since) * 1000
    return lag


def publish_lag_metrics(sandbox: SandboxState) -> None:
    """AuroraGlobalDBReplicationLag / RPOLag per secondary, in the secondary's region."""
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.rds.models import rds_backends

    for gc in rds_backends[sandbox.account_id]["us-east-1"].global_clusters.values():
        writer = _writer(gc)
        lag_dimensions = _state(sandbox).lag_dimensions
        for member in gc.members:
            if member is writer or sandbox.region_down(member.region, "cloudwatch"):
                continue  # a region that is down publishes nothing
            lag = replication_lag_ms(sandbox, gc)
            stamp = sandbox.wall_time()
            # rule: aurora-lag-dimensions
            # The Aurora labs ("Monitor a Global Database", aws-samples/amazon-aurora-labs-
            # for-mysql) read AuroraGlobalDBReplicationLag both from the metric group
            # "DBClusterIdentifier, SourceRegion" and by DBClusterIdentifier alone; CloudWatch
            # matches dimension sets exactly, so each set is its own metric.
            cluster_dim = {"Name": "DBClusterIdentifier", "Value": member.db_cluster_identifier}
            dimension_sets = {
                "cluster": [cluster_dim],
                "cluster+source": [
                    cluster_dim,
                    {"Name": "SourceRegion", "Value": writer.region if writer else ""},
                ],
            }
            data = [
                {
                    "MetricName": n,
                    "Value": lag,
                    "Unit": "Milliseconds",
                    "Dimensions": dimension_sets[which],
                    "Timestamp": stamp,
                }
                for n in ("AuroraGlobalDBReplicationLag", "AuroraGlobalDBRPOLag")
                for which in lag_dimensions
            ]
            cloudwatch_backends[sandbox.account_id][member.region].put_metric_data("AWS/RDS", data)


# --- moto hooks ---------------------------------------------------------------------------


def _patch_moto() -> None:
    from moto.core.responses import ActionResult
    from moto.rds.exceptions import DBClusterSnapshotAlreadyExistsError
    from moto.rds.models import DBCluster, GlobalCluster, RDSBackend
    from moto.rds.responses import RDSResponse

    original_members = vars(GlobalCluster)["global_cluster_members"].fget
    original_stop = RDSBackend.stop_db_cluster
    original_modify = RDSBackend.modify_db_cluster
    original_backup = DBCluster.save_automated_backup
    # setattr: these patch moto's classes, which mypy knows as typed.
    setattr(GlobalCluster, "failover_state", None)  # noqa: B010  # absent until a move

    def global_cluster_members(self: Any) -> list[dict[str, Any]]:
        _writer(self)
        members: list[dict[str, Any]] = original_members(self)
        sandbox = _sandbox()
        by_arn = {m.db_cluster_arn: m for m in self.members}
        for item in members:
            item["SynchronizationStatus"] = synchronization_status(
                sandbox, by_arn[item["DBClusterArn"]]
            )
        return members

    def switchover_global_cluster(self: Any) -> Any:
        gc = _begin_move(self.region, self.params, "switchover", data_loss=False)
        return ActionResult({"GlobalCluster": gc})

    def failover_global_cluster(self: Any) -> Any:
        allow = _flag(self.params.get("AllowDataLoss"))
        switchover = _flag(self.params.get("Switchover"))
        if allow and switchover:
            raise _error(
                "InvalidParameterCombination",
                "AllowDataLoss and Switchover cannot both be true.",
            )
        if not allow and not switchover:
            raise _error(
                "InvalidParameterCombination",
                "Specify AllowDataLoss=true (failover) or Switchover=true (switchover).",
            )
        kind = "switchover" if switchover else "failover"
        gc = _begin_move(self.region, self.params, kind, data_loss=bool(allow))
        return ActionResult({"GlobalCluster": gc})

    def remove_from_global_cluster(self: Any) -> Any:
        sandbox = _sandbox()
        with sandbox.lock:
            gc = _find_global(self.params.get("GlobalClusterIdentifier", ""))
            member = _member(gc, self.params.get("DbClusterIdentifier", ""))
            name = gc.global_cluster_identifier
            if member.region != self.region:
                raise _error(
                    "DBClusterNotFoundFault",
                    f"DBCluster {member.db_cluster_arn} not found in {self.region}; send "
                    f"RemoveFromGlobalCluster to the member's region ({member.region}).",
                )
            if name in _state(sandbox).moves:
                raise _error(
                    "InvalidGlobalClusterStateFault",
                    f"Global cluster {name} is {gc.failover_state['Status']}; wait for it.",
                )
            if member is _writer(gc) and len(gc.members) > 1:
                raise _error(
                    "InvalidGlobalClusterStateFault",
                    f"DB cluster {member.db_cluster_identifier} is the writer of {name}; "
                    "remove the secondaries first or switch over.",
                )
            # A detached secondary becomes a standalone, writable cluster.
            _detach(gc, member)
            return ActionResult({"GlobalCluster": gc})

    def describe_global_clusters(self: Any) -> Any:
        ident = self.params.get("GlobalClusterIdentifier")
        if ident:
            return ActionResult({"GlobalClusters": [_find_global(ident)]})
        return ActionResult({"GlobalClusters": self.global_backend.describe_global_clusters()})

    def stop_db_cluster(self: Any, cluster_identifier: str) -> Any:
        # rule: aurora-stop-limits
        # "Limitations for stopping and starting Aurora DB clusters" in "Stopping and
        # starting an Amazon Aurora DB cluster",
        # https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-cluster-stop-start.html:
        # a global database member only if it is the only cluster there; never a cluster
        # that has a cross-Region read replica. A read replica cluster itself is refused
        # too (AWS-FACTS; not stated on that page: an assumption in docs/SANDBOX.md).
        cluster = self.clusters.get(cluster_identifier)
        gc = _global_of(self, cluster) if cluster is not None else None
        if gc is not None and len(gc.members) > 1:
            raise _error(
                "InvalidDBClusterStateFault",
                f"DB cluster {cluster_identifier} is a member of global cluster "
                f"{gc.global_cluster_identifier}; a global database member cannot be stopped.",
            )
        if cluster is not None and cluster.read_replica_identifiers:
            raise _error(
                "InvalidDBClusterStateFault",
                f"DB cluster {cluster_identifier} has cross-Region read replicas "
                f"({', '.join(cluster.read_replica_identifiers)}); it cannot be stopped.",
            )
        if cluster is not None and cluster.replication_source_identifier:
            raise _error(
                "InvalidDBClusterStateFault",
                f"DB cluster {cluster_identifier} is a read replica of "
                f"{cluster.replication_source_identifier}; it cannot be stopped.",
            )
        return original_stop(self, cluster_identifier)

    def modify_db_cluster(self: Any, kwargs: dict[str, Any]) -> Any:
        old, new = kwargs["db_cluster_identifier"], kwargs.get("new_db_cluster_identifier")
        if not new or new == old:
            return original_modify(self, kwargs)
        if new in self.clusters:
            raise _error("DBClusterAlreadyExistsFault", f"DB cluster {new} already exists.")
        # moto finds a cluster's instances by the identifier they hold: on AWS a renamed
        # cluster keeps its instances, and a new cluster under the old name starts empty.
        moved = [
            i for i in self.databases.values() if getattr(i, "db_cluster_identifier", None) == old
        ]
        result = original_modify(self, kwargs)
        for instance in moved:
            instance.db_cluster_identifier = new
        return result

    def save_automated_backup(self: Any) -> None:
        # The name is per minute: a cluster re-created under an identifier used within
        # the same minute (a rejoin after a rename) keeps the first snapshot.
        with contextlib.suppress(DBClusterSnapshotAlreadyExistsError):
            original_backup(self)

    patches: dict[tuple[type, str], Any] = {
        (RDSBackend, "stop_db_cluster"): stop_db_cluster,
        (RDSBackend, "modify_db_cluster"): modify_db_cluster,
        (DBCluster, "save_automated_backup"): save_automated_backup,
        (GlobalCluster, "global_cluster_members"): property(global_cluster_members),
        (RDSResponse, "switchover_global_cluster"): switchover_global_cluster,
        (RDSResponse, "failover_global_cluster"): failover_global_cluster,
        (RDSResponse, "remove_from_global_cluster"): remove_from_global_cluster,
        (RDSResponse, "describe_global_clusters"): describe_global_clusters,
    }
    for (cls, name), value in patches.items():
        setattr(cls, name, value)
