"""Route 53 health checks of type ``RECOVERY_CONTROL`` keep their routing control.

moto 5.2.5 stores a ``RECOVERY_CONTROL`` health check but drops its
``RoutingControlArn``, so ``GetHealthCheck`` and ``ListHealthChecks`` cannot say which
routing control a record's check reads. Here the ARN is kept and returned in
``HealthCheckConfig``, as in Route 53's API ("HealthCheckConfig", Amazon Route 53 API
Reference, https://docs.aws.amazon.com/Route53/latest/APIReference/API_HealthCheckConfig.html:
"RoutingControlArn: The Amazon Resource Name (ARN) for the Route 53 Application Recovery
Controller routing control").

Tied to moto 5.2.5 like the rest (tests/sandbox/test_moto_pin.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mr_failover.sandbox.state import Hooks

if TYPE_CHECKING:
    from mr_failover.sandbox.state import SandboxState

HOOKS = (
    "moto.route53.responses.Route53.create_health_check",
    "moto.route53.models.HealthCheck.health_check_config",
)
RECOVERY_CONTROL = "RECOVERY_CONTROL"

_hooks = Hooks("Route 53 recovery-control checks")


def install(sandbox: SandboxState) -> None:
    _hooks.install(sandbox, _patch_moto)


def _patch_moto() -> None:
    from moto.route53.models import HealthCheck
    from moto.route53.responses import Route53

    original_create = Route53.create_health_check
    original_config = HealthCheck.health_check_config

    def create_health_check(self: Any) -> Any:
        result = original_create(self)
        config = self._get_param("HealthCheckConfig") or {}
        # rule: route53-recovery-control-check
        if config.get("Type") == RECOVERY_CONTROL:
            check = result.result["HealthCheck"]  # type: ignore[index]
            check.routing_control_arn = config.get("RoutingControlArn")
        return result

    def health_check_config(self: Any) -> dict[str, Any]:
        config: dict[str, Any] = original_config.fget(self)  # type: ignore[attr-defined]
        arn = getattr(self, "routing_control_arn", None)
        if arn:
            config["RoutingControlArn"] = arn
        return config

    setattr(Route53, "create_health_check", create_health_check)  # noqa: B010
    setattr(HealthCheck, "health_check_config", property(health_check_config))  # noqa: B010
