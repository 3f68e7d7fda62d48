"""ElastiCache Global Datastore for the sandbox, on top of moto's replication groups.

moto 5.2.5 stores replication groups (and a ``GlobalReplicationGroupId`` given to
``CreateReplicationGroup``) but implements no global datastore call. This module adds
``CreateGlobalReplicationGroup``, ``DescribeGlobalReplicationGroups``,
``FailoverGlobalReplicationGroup`` and ``DisassociateGlobalReplicationGroup`` to moto's
``ElastiCacheResponse`` (moto dispatches a query action to the method of the same
snake_case name), faithful to AWS (AWS-FACTS.md):

- the id is AWS's prefix plus the suffix asked for (``<prefix>-<suffix>``; the sandbox's
  five-letter prefix is derived from the primary's region, AWS's is its own);
- members are the replication groups that name the datastore, in any region; roles live
  on moto's replication groups, so ``DescribeReplicationGroups`` shows
  ``GlobalReplicationGroupInfo`` consistently; ``Members`` appear only with
  ``ShowMemberInfo=true``, as on AWS; a datastore without secondaries is ``primary-only``;
- a failover (the guide's "promote a secondary cluster to primary") is asynchronous:
  ``Status`` is ``modifying`` for ``FAILOVER_SECONDS`` on the sandbox clock, then the
  roles swap and it is ``available`` again; it is accepted while the primary's region is
  down and while another promotion is under way (the last one asked for wins), as the
  guide documents; refused (with AWS's codes) for a primary-only datastore, a
  non-member or the current primary;
- ``DisassociateGlobalReplicationGroup`` turns a secondary into a standalone replication
  group at once (AWS takes minutes).

Everything patched here is tied to moto 5.2.5 (tests/e2e/test_accelerator_cache.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mr_failover.sandbox.state import Hooks

if TYPE_CHECKING:
    from mr_failover.sandbox.state import SandboxState

STATE_KEY = "elasticache"
# How long a failover keeps the datastore "modifying", sandbox seconds (minutes on AWS).
FAILOVER_SECONDS = 2.0
HOOKS = (
    "moto.elasticache.responses.ElastiCacheResponse.create_replication_group",
    "moto.elasticache.models.ReplicationGroup.global_replication_group_info",
)

_hooks = Hooks("ElastiCache")
_sandbox = _hooks.sandbox


@dataclass
class Failover:
    to_region: str
    to_group: str
    started: float


@dataclass
class Datastore:
    id: str
    description: str
    engine: str
    engine_version: str
    node_type: str
    failover: Failover | None = None


@dataclass
class CacheState:
    datastores: dict[str, Datastore] = field(default_factory=dict)


def state(sandbox: SandboxState) -> CacheState:
    found: CacheState = sandbox.state(STATE_KEY, CacheState)
    return found


def install(sandbox: SandboxState) -> None:
    """Patch moto once per process; add the ticker that ends failovers."""
    _hooks.install(sandbox, _patch_moto)
    sandbox.every(sandbox.settings.tick, lambda: advance(sandbox))


def prefix(region: str) -> str:
    """A stable five-letter prefix per region (AWS has its own per region)."""
    digest = hashlib.sha256(region.encode()).digest()
    return "".join(chr(ord("a") + b % 26) for b in digest[:5])


def _error(code: str, message: str) -> Exception:
    from moto.elasticache.exceptions import ElastiCacheException

    return ElastiCacheException(code, message)


def _backends(sandbox: SandboxState) -> dict[str, Any]:
    from moto.elasticache.models import elasticache_backends

    return dict(elasticache_backends[sandbox.account_id].items())


def members(sandbox: SandboxState, gid: str) -> list[tuple[str, Any]]:
    """(region, moto replication group) of every member of ``gid``, primary first."""
    out = []
    for region, backend in _backends(sandbox).items():
        for rg in backend.replication_groups.values():
            if getattr(rg, "global_replication_group_id", "") == gid:
                out.append((region, rg))
    out.sort(key=lambda m: m[1].global_replication_group_member_role != "PRIMARY")
    return out


def _primary(sandbox: SandboxState, gid: str) -> tuple[str, Any] | None:
    found = members(sandbox, gid)
    return next((m for m in found if m[1].global_replication_group_member_role == "PRIMARY"), None)


def _find(sandbox: SandboxState, gid: str) -> Datastore:
    found = state(sandbox).datastores.get(gid)
    if found is None:
        raise _error("GlobalReplicationGroupNotFoundFault", f"Global datastore {gid} not found.")
    return found


def describe(sandbox: SandboxState, ds: Datastore, show_members: bool) -> dict[str, Any]:
    """The GlobalReplicationGroup shape, as DescribeGlobalReplicationGroups returns it."""
    found = members(sandbox, ds.id)
    if ds.failover is not None:
        status = "modifying"
    elif len(found) < 2:
        status = "primary-only"
    else:
        status = "available"
    out: dict[str, Any] = {
        "GlobalReplicationGroupId": ds.id,
        "GlobalReplicationGroupDescription": ds.description,
        "Status": status,
        "CacheNodeType": ds.node_type,
        "Engine": ds.engine,
        "EngineVersion": ds.engine_version,
        "ClusterEnabled": False,
        "AuthTokenEnabled": False,
        "TransitEncryptionEnabled": False,
        "AtRestEncryptionEnabled": False,
        "ARN": f"arn:aws:elasticache::{sandbox.account_id}:globalreplicationgroup:{ds.id}",
    }
    if show_members:
        out["Members"] = [
            {
                "ReplicationGroupId": rg.replication_group_id,
                "ReplicationGroupRegion": region,
                "Role": rg.global_replication_group_member_role,
                "AutomaticFailover": "enabled" if rg.automatic_failover else "disabled",
                "Status": "associated",
            }
            for region, rg in found
        ]
    return out


def advance(sandbox: SandboxState) -> None:
    """End every failover whose time has come: the roles swap (the ticker)."""
    now = sandbox.now()
    for ds in state(sandbox).datastores.values():
        f = ds.failover
        if f is None or now - f.started < FAILOVER_SECONDS:
            continue
        for region, rg in members(sandbox, ds.id):
            target = region == f.to_region and rg.replication_group_id == f.to_group
            rg.global_replication_group_member_role = "PRIMARY" if target else "SECONDARY"
        ds.failover = None


def _flag(value: Any) -> bool:
    return str(value).lower() == "true"


# --- moto hooks ------------------------------------------------------------------------


def _member(sandbox: SandboxState, gid: str, region: str, group: str) -> Any:
    """Replication group ``group`` of ``region`` as a member of ``gid``, else the AWS error."""
    for r, rg in members(sandbox, gid):
        if r == region and rg.replication_group_id == group:
            return rg
    raise _error(
        "InvalidParameterValue",
        f"Replication group {group} in {region} is not a member of {gid}.",
    )


def _patch_moto() -> None:
    from moto.core.responses import ActionResult
    from moto.elasticache.models import ReplicationGroup
    from moto.elasticache.responses import ElastiCacheResponse

    original_create = ElastiCacheResponse.create_replication_group

    def global_replication_group_info(self: Any) -> dict[str, str] | None:
        if not getattr(self, "global_replication_group_id", ""):
            return None  # a standalone group has no GlobalReplicationGroupInfo
        return {
            "GlobalReplicationGroupId": self.global_replication_group_id,
            "GlobalReplicationGroupMemberRole": self.global_replication_group_member_role,
        }

    def create_replication_group(self: Any) -> Any:
        gid = self._get_param("GlobalReplicationGroupId")
        if gid:
            sandbox = _sandbox()
            with sandbox.lock:
                ds = _find(sandbox, gid)
                if ds.failover is not None:
                    raise _error(
                        "InvalidGlobalReplicationGroupState",
                        f"Global datastore {gid} is modifying; wait until it is available.",
                    )
        return original_create(self)

    def create_global_replication_group(self: Any) -> Any:
        sandbox = _sandbox()
        suffix = self._get_param("GlobalReplicationGroupIdSuffix") or ""
        primary_id = self._get_param("PrimaryReplicationGroupId") or ""
        with sandbox.lock:
            backend = _backends(sandbox).get(self.region)
            rg = backend.replication_groups.get(primary_id) if backend is not None else None
            if rg is None:
                raise _error(
                    "ReplicationGroupNotFoundFault", f"Replication group {primary_id} not found."
                )
            if getattr(rg, "global_replication_group_id", ""):
                raise _error(
                    "InvalidReplicationGroupState",
                    f"Replication group {primary_id} is already a member of "
                    f"{rg.global_replication_group_id}.",
                )
            gid = f"{prefix(self.region)}-{suffix}"
            if gid in state(sandbox).datastores:
                raise _error(
                    "GlobalReplicationGroupAlreadyExistsFault",
                    f"Global datastore {gid} already exists.",
                )
            ds = Datastore(
                id=gid,
                description=self._get_param("GlobalReplicationGroupDescription") or "",
                engine=rg.engine,
                engine_version=rg.engine_version or "7.1",
                node_type=rg.cache_node_type or "cache.r6g.large",
            )
            state(sandbox).datastores[gid] = ds
            rg.global_replication_group_id = gid
            rg.global_replication_group_member_role = "PRIMARY"
            return ActionResult({"GlobalReplicationGroup": describe(sandbox, ds, True)})

    def describe_global_replication_groups(self: Any) -> Any:
        sandbox = _sandbox()
        gid = self._get_param("GlobalReplicationGroupId")
        show = _flag(self._get_param("ShowMemberInfo"))
        with sandbox.lock:
            found = [_find(sandbox, gid)] if gid else list(state(sandbox).datastores.values())
            items = [describe(sandbox, ds, show) for ds in found]
        return ActionResult({"GlobalReplicationGroups": items})

    def failover_global_replication_group(self: Any) -> Any:
        sandbox = _sandbox()
        gid = self._get_param("GlobalReplicationGroupId") or ""
        region = self._get_param("PrimaryRegion") or ""
        group = self._get_param("PrimaryReplicationGroupId") or ""
        with sandbox.lock:
            ds = _find(sandbox, gid)
            if len(members(sandbox, gid)) < 2:
                raise _error(
                    "InvalidGlobalReplicationGroupState",
                    f"Global datastore {gid} is primary-only: there is no secondary to promote.",
                )
            target = _member(sandbox, gid, region, group)
            if target.global_replication_group_member_role == "PRIMARY":
                raise _error(
                    "InvalidParameterValue",
                    f"Replication group {group} in {region} is already the primary of {gid}.",
                )
            # rule: elasticache-promote-anytime
            # "If the primary cluster or AWS Region becomes unavailable or is experiencing
            # performance issues, you can promote a secondary cluster to primary. Promotion
            # is allowed anytime, even if other modifications are in progress" ("Promoting
            # the secondary cluster to primary", Using global datastores (console),
            # https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Redis-Global-Datastores-Console.html#Redis-Global-Datastores-Console-Promote-Secondary).
            # Several promotions at once: "the global datastore resolves to one primary
            # eventually"; here the last one asked for wins.
            ds.failover = Failover(region, group, sandbox.now())
            return ActionResult({"GlobalReplicationGroup": describe(sandbox, ds, True)})

    def disassociate_global_replication_group(self: Any) -> Any:
        sandbox = _sandbox()
        gid = self._get_param("GlobalReplicationGroupId") or ""
        group = self._get_param("ReplicationGroupId") or ""
        region = self._get_param("ReplicationGroupRegion") or ""
        with sandbox.lock:
            ds = _find(sandbox, gid)
            target = _member(sandbox, gid, region, group)
            if target.global_replication_group_member_role == "PRIMARY":
                raise _error(
                    "InvalidParameterValue",
                    f"Replication group {group} is the primary of {gid}; fail over first.",
                )
            if ds.failover is not None:
                raise _error(
                    "InvalidGlobalReplicationGroupState", f"Global datastore {gid} is modifying."
                )
            target.global_replication_group_id = ""
            target.global_replication_group_member_role = ""
            return ActionResult({"GlobalReplicationGroup": describe(sandbox, ds, True)})

    setattr(ReplicationGroup, "global_replication_group_member_role", "")  # noqa: B010
    patches: dict[tuple[type, str], Any] = {
        (ReplicationGroup, "global_replication_group_info"): property(
            global_replication_group_info
        ),
        (ElastiCacheResponse, "create_replication_group"): create_replication_group,
        (ElastiCacheResponse, "create_global_replication_group"): create_global_replication_group,
        (
            ElastiCacheResponse,
            "describe_global_replication_groups",
        ): describe_global_replication_groups,
        (
            ElastiCacheResponse,
            "failover_global_replication_group",
        ): failover_global_replication_group,
        (
            ElastiCacheResponse,
            "disassociate_global_replication_group",
        ): disassociate_global_replication_group,
    }
    for (cls, name), value in patches.items():
        setattr(cls, name, value)
