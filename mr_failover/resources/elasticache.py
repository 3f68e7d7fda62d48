"""ElastiCache Global Datastore: its primary region, members and status; and its promotion.

``DescribeGlobalReplicationGroups`` (with ``ShowMemberInfo``, without which AWS omits the
members) is asked in each member's own region, so an unreachable region never hides the
others' view. The topology may name the datastore by its full id or by the suffix it was
created with (AWS prefixes a region-specific string): an unknown id is then looked up
among all datastores.

The step: :class:`FailoverDatastore` sends ``FailoverGlobalReplicationGroup`` (the
planned promotion) to the target region, then waits while the datastore is
``modifying`` until the target's member is ``PRIMARY`` and the datastore ``available``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mr_failover.aws import call, call_error, error_code
from mr_failover.engine.plan import Step, StepAction
from mr_failover.errors import AwsCallError
from mr_failover.resources.section import (
    Cell,
    Judgement,
    Read,
    ReadContext,
    RegionStatus,
    RegionView,
    Section,
)

# AWS documents a Global Datastore failover in minutes.
FAILOVER_TIMEOUT = 1800.0
_NOT_FOUND = "GlobalReplicationGroupNotFoundFault"


@dataclass(frozen=True)
class DatastoreMember:
    replication_group: str
    region: str
    role: str  # PRIMARY | SECONDARY
    status: str  # associated, ...


@dataclass(frozen=True)
class DatastoreFinding:
    id: str
    status: str  # available | primary-only | modifying | creating | deleting
    members: tuple[DatastoreMember, ...]

    @property
    def primary_region(self) -> str | None:
        return next((m.region for m in self.members if m.role == "PRIMARY"), None)

    def member(self, region: str, replication_group: str) -> DatastoreMember | None:
        for m in self.members:
            if m.region == region and m.replication_group == replication_group:
                return m
        return None


def _finding(g: dict[str, Any]) -> DatastoreFinding:
    return DatastoreFinding(
        id=g["GlobalReplicationGroupId"],
        status=g.get("Status", "unknown"),
        members=tuple(
            DatastoreMember(
                replication_group=m.get("ReplicationGroupId", ""),
                region=m.get("ReplicationGroupRegion", ""),
                role=m.get("Role", ""),
                status=m.get("Status", ""),
            )
            for m in g.get("Members", [])
        ),
    )


def observe_datastore(client: Any, name: str) -> DatastoreFinding:
    """The datastore ``name`` (full id, or the suffix it was created with)."""
    try:
        out = client.describe_global_replication_groups(
            GlobalReplicationGroupId=name, ShowMemberInfo=True
        )
        return _finding(out["GlobalReplicationGroups"][0])
    except Exception as exc:
        if error_code(exc) != _NOT_FOUND:
            raise call_error(client, "describe_global_replication_groups", exc) from None
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"ShowMemberInfo": True}
    while True:
        page = call(client, "describe_global_replication_groups", **params)
        found += [
            g
            for g in page.get("GlobalReplicationGroups", [])
            if g["GlobalReplicationGroupId"].endswith(f"-{name}")
        ]
        if not page.get("Marker"):
            break
        params["Marker"] = page["Marker"]
    if len(found) != 1:
        raise AwsCallError(
            client.meta.region_name,
            "elasticache:DescribeGlobalReplicationGroups",
            f"{'no' if not found else len(found)} global datastore(s) named {name!r}",
            "set elasticache.global_datastore to the full id (with AWS's prefix)",
        )
    return _finding(found[0])


class FailoverDatastore(StepAction):
    """Make ``group`` in ``region`` the datastore's primary; wait; verify."""

    def __init__(self, client: Any, name: str, region: str, group: str) -> None:
        self.client = client
        self.name = name
        self.region = region
        self.group = group
        self._last: DatastoreFinding | None = None

    def _read(self) -> DatastoreFinding:
        self._last = observe_datastore(self.client, self.name)
        return self._last

    def _is_primary(self, d: DatastoreFinding) -> bool:
        m = d.member(self.region, self.group)
        return m is not None and m.role == "PRIMARY"

    def holds(self) -> bool:
        d = self._read()
        # A failover under way (this run's, before a crash) is waited for, not re-sent:
        # AWS refuses a second one while the datastore is modifying.
        return self._is_primary(d) or d.status == "modifying"

    def apply(self) -> None:
        d = self._last or self._read()
        call(
            self.client,
            "failover_global_replication_group",
            GlobalReplicationGroupId=d.id,
            PrimaryRegion=self.region,
            PrimaryReplicationGroupId=self.group,
        )

    def settled(self) -> bool:
        d = self._read()
        return d.status != "modifying" and self._is_primary(d)

    def state(self) -> str:
        d = self._last
        if d is None:
            return ""
        return f"datastore {d.id} is {d.status}, primary in {d.primary_region or 'no region'}"

    def verify(self) -> str | None:
        d = self._read()
        if d.status == "modifying":
            return f"the failover has not ended: {self.state()}"
        if not self._is_primary(d):
            return (
                f"the failover ended but the primary is in {d.primary_region or 'no region'}, "
                f"not {self.region}"
            )
        return None


def failover_step(
    client: Any, *, datastore: str, region: str, group: str, old_primary: str | None
) -> Step:
    """The step that promotes ``group`` (``region``) to primary of ``datastore``."""
    undo = f"mr-failover promote --region {old_primary} --mode switchover" if old_primary else None
    return Step(
        id=f"elasticache:failover:{datastore}:{group}",
        title=f"promote ElastiCache {group} ({region}) to primary of global datastore {datastore}",
        service="elasticache",
        call="FailoverGlobalReplicationGroup",
        params={
            "GlobalReplicationGroupId": datastore,
            "PrimaryRegion": region,
            "PrimaryReplicationGroupId": group,
        },
        region=region,
        plane="control",
        plane_region=region,
        undoable=old_primary is not None,
        undo=undo,
        timeout=FAILOVER_TIMEOUT,
        poll=5.0,
        max_poll=30.0,
        action=FailoverDatastore(client, datastore, region, group),
    )


# --- the status section ------------------------------------------------------------------


@dataclass(frozen=True)
class ElastiCacheStatus:
    """The Global Datastore as this region sees it; ``replication_group``: this region's."""

    datastore: DatastoreFinding
    replication_group: str

    @property
    def member(self) -> DatastoreMember | None:
        for m in self.datastore.members:
            if m.replication_group == self.replication_group:
                return m
        return None


class ElastiCacheSection(Section):
    name = "elasticache"
    rounds = 2  # the datastore by id, else the listing
    title = "Cache"
    layout = "optional-column"

    def reads(self, ctx: ReadContext) -> list[Read]:
        spec = ctx.spec.elasticache
        if spec is None:
            return []

        def read() -> ElastiCacheStatus:
            client = ctx.factory.client("elasticache", ctx.region)
            found = observe_datastore(client, spec.global_datastore)
            return ElastiCacheStatus(datastore=found, replication_group=spec.replication_group)

        return [Read("elasticache", read)]

    def judge(self, view: RegionView) -> Judgement:
        e = view.get("elasticache")
        if not isinstance(e, ElastiCacheStatus):
            return Judgement()
        reasons: list[str] = []
        warnings: list[str] = []
        d = e.datastore
        member = e.member
        if member is None:
            reasons.append(
                f"elasticache: {e.replication_group} is not a member of global datastore {d.id}"
            )
            return Judgement(reasons, warnings, value=e)
        if d.status == "modifying":
            reasons.append(f"elasticache: global datastore {d.id} is modifying (a failover?)")
        elif d.status not in ("available", "primary-only"):
            reasons.append(f"elasticache: global datastore {d.id} is {d.status}")
        if member.status not in ("associated", ""):
            reasons.append(f"elasticache: {e.replication_group} is {member.status}")
        primary = d.primary_region
        writer = view.facts.get("writer")
        if (
            writer is not None
            and primary is not None
            and primary != writer
            and view.region == primary
        ):
            warnings.append(
                f"elasticache: primary is in {primary} but the Aurora writer is in {writer} "
                f"(mr-failover promote --region {writer} moves both)"
            )
        return Judgement(reasons, warnings, value=e)

    def value_cell(self, e: ElastiCacheStatus, r: RegionStatus) -> Cell:
        member = e.member
        if member is None:
            return Cell("not a member")
        parts = [member.role.lower() or "?"]
        if e.datastore.status not in ("available", "primary-only"):
            parts.append(e.datastore.status)
        return Cell(", ".join(parts))

    def to_json(self, value: Any) -> Any:
        if not isinstance(value, ElastiCacheStatus):
            return None
        return {**asdict(value), "primary_region": value.datastore.primary_region}


SECTION = ElastiCacheSection()
