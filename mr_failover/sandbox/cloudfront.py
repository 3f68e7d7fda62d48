"""CloudFront origin groups as a cache behaviour's target, on top of moto's CloudFront.

moto 5.2.5 stores a distribution's ``OriginGroups`` but refuses (``NoSuchOrigin``) any
cache behaviour whose ``TargetOriginId`` is an origin group, which is exactly how origin
failover is configured on AWS. Here a target may name an origin group, validated as
CloudFront documents it: exactly two members, each an origin of the distribution, and
failover status codes among 403, 404, 416, 500, 502, 503 and 504 (an invalid group is
refused with ``InvalidArgument``; a target that is neither origin nor group keeps moto's
``NoSuchOrigin``). What CloudFront does with the group at request time (retrying the
secondary) is not simulated: the sandbox serves no content.

Everything installed here is tied to moto 5.2.5 (tests/sandbox/test_moto_pin.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mr_failover.sandbox.state import Hooks

if TYPE_CHECKING:
    from mr_failover.sandbox.state import SandboxState

HOOKS = ("moto.cloudfront.models.DistributionConfig.__init__",)
FAILOVER_CODES = frozenset({403, 404, 416, 500, 502, 503, 504})

_hooks = Hooks("CloudFront")


def install(sandbox: SandboxState) -> None:
    """Patch moto once per process; the hook keeps no per-sandbox state."""
    _hooks.install(sandbox, _patch_moto)


def _items(container: Any) -> list[Any]:
    if not isinstance(container, dict):
        return []
    items = container.get("Items") or []
    return list(items) if isinstance(items, list) else [items]


def check_group(group: dict[str, Any], origin_ids: set[str]) -> str | None:
    """Why CloudFront would refuse ``group``, or None."""
    gid = group.get("Id", "?")
    members = [m.get("OriginId") for m in _items(group.get("Members"))]
    if len(members) != 2:
        return f"origin group {gid} must have exactly two members, not {len(members)}"
    unknown = [m for m in members if m not in origin_ids]
    if unknown:
        return f"origin group {gid} names origins that do not exist: {', '.join(map(str, unknown))}"
    codes = [int(c) for c in _items(group.get("FailoverCriteria", {}).get("StatusCodes"))]
    if not codes:
        return f"origin group {gid} needs at least one failover status code"
    bad = sorted(set(codes) - FAILOVER_CODES)
    if bad:
        return (
            f"origin group {gid}: status codes {bad} cannot trigger failover "
            f"(allowed: {sorted(FAILOVER_CODES)})"
        )
    return None


def _patch_moto() -> None:
    from moto.cloudfront import models
    from moto.cloudfront.exceptions import CloudFrontException

    original = models.DistributionConfig.__init__

    def __init__(self: Any, config: dict[str, Any]) -> None:
        origin_ids = {o.get("Id") for o in _items(config.get("Origins"))}
        groups = {g.get("Id"): g for g in _items(config.get("OriginGroups"))}
        for group in groups.values():
            problem = check_group(group, origin_ids)
            if problem:
                raise CloudFrontException("InvalidArgument", problem)
        default = config.get("DefaultCacheBehavior") or {}
        target = default.get("TargetOriginId")
        if target in groups and target not in origin_ids:
            # moto checks the default behaviour's target against the origins only:
            # validate with the group's primary, then restore the group as the target.
            primary = _items(groups[target].get("Members"))[0]["OriginId"]
            config["DefaultCacheBehavior"] = {**default, "TargetOriginId": primary}
            original(self, config)
            self.DefaultCacheBehavior.target_origin_id = target
            return
        original(self, config)

    models.DistributionConfig.__init__ = __init__  # type: ignore[method-assign]
