"""ECS services that take time to start their tasks, on top of moto's ECS.

moto 5.2.5 starts no task: a new service reports ``runningCount`` 0 for ever (unless the
process sets ``MOTO_ECS_SERVICE_RUNNING``), and ``UpdateService`` then jumps
``runningCount`` to the new ``desiredCount`` in the same call. On AWS the scheduler
places tasks and they take a while (a Fargate task about a minute) to reach RUNNING;
meanwhile they count as ``pendingCount``. Here:

- ``CreateService`` and an ``UpdateService`` that changes ``desiredCount`` leave
  ``runningCount`` where it was (0 for a new service) and show the missing tasks as
  ``pendingCount``;
- after ``settings.ecs_task_start_seconds`` sandbox seconds the ticker makes
  ``runningCount`` equal ``desiredCount`` (``pendingCount`` 0, the primary deployment
  ``COMPLETED``); scaling down stops the extra tasks after the same delay;
- nothing converges while the service's region is in an outage (whole region or
  ``ecs``): the scheduler there is gone too; it converges once healed;
- ``ecs_task_start_seconds = 0`` keeps moto's own behaviour: the tasks run at once.

Auto Scaling needs nothing here: moto's ``SetDesiredCapacity`` already launches or
terminates instances, ``InService`` and ``Healthy`` at once (docs/SANDBOX.md).
Everything installed here is tied to moto 5.2.5 (tests/sandbox/test_moto_pin.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mr_failover.sandbox.state import Hooks

if TYPE_CHECKING:
    from mr_failover.sandbox.state import SandboxState

# What this module wraps in moto (the pin test checks each still exists).
HOOKS = (
    "moto.ecs.models.EC2ContainerServiceBackend.create_service",
    "moto.ecs.models.EC2ContainerServiceBackend.update_service",
    "moto.ecs.models.EC2ContainerServiceBackend.update_cluster_resources",
)
STATE_KEY = "ecs"
EPSILON = 1e-6  # float slack: a delay of 0.3 s is due after advance(0.1) three times

_hooks = Hooks("ECS")

# (region, cluster name, service name)
ServiceKey = tuple[str, str, str]


@dataclass
class EcsState:
    """Services whose running count still has to catch up with the desired count."""

    converging: dict[ServiceKey, float] = field(default_factory=dict)  # key -> since
    converged: int = 0  # how many convergences happened (the tests count them)


def state(sandbox: SandboxState) -> EcsState:
    st: EcsState = sandbox.state(STATE_KEY, EcsState)
    return st


def install(sandbox: SandboxState) -> None:
    """Wrap moto's ECS backend (once per process) and register the convergence ticker."""
    _hooks.install(sandbox, _patch_moto)
    sandbox.every(sandbox.settings.tick, lambda: tick(sandbox))


def _active() -> SandboxState | None:
    from mr_failover.sandbox.state import active

    return active()


def _backend(sandbox: SandboxState, region: str) -> Any:
    return sandbox.backend("ecs", region)


def _set_counts(backend: Any, service: Any, running: int) -> None:
    """Show ``running`` tasks of ``service`` (the rest of desired pending), cluster too."""
    cluster = backend.clusters.get(service.cluster_name)
    pending = max(int(service.desired_count) - running, 0)
    if cluster is not None:
        backend.update_cluster_resources(cluster, running - service.running_count, "RUNNING")
        backend.update_cluster_resources(cluster, pending - service.pending_count, "PENDING")
    service.running_count, service.pending_count = running, pending
    for deployment in service.deployments[:1]:  # the PRIMARY deployment
        deployment["desiredCount"] = int(service.desired_count)
        deployment["runningCount"] = running
        deployment["pendingCount"] = pending
        done = running == int(service.desired_count)
        deployment["rolloutState"] = "COMPLETED" if done else "IN_PROGRESS"
        deployment["rolloutStateReason"] = (
            f"ECS deployment {deployment['id']} {'completed' if done else 'in progress'}."
        )


def _hold(sandbox: SandboxState, backend: Any, service: Any, running: int) -> None:
    """Keep ``running`` tasks for now; the ticker starts (or stops) the rest later."""
    if sandbox.settings.ecs_task_start_seconds <= 0:
        _set_counts(backend, service, int(service.desired_count))
        return
    _set_counts(backend, service, running)
    key = (backend.region_name, service.cluster_name, service.name)
    if running == int(service.desired_count):
        state(sandbox).converging.pop(key, None)
    else:
        state(sandbox).converging[key] = sandbox.now()


def tick(sandbox: SandboxState) -> None:
    """Start (or stop) the tasks of every service whose delay has passed."""
    st = state(sandbox)
    now = sandbox.now()
    delay = sandbox.settings.ecs_task_start_seconds
    for key, since in list(st.converging.items()):
        region, cluster, name = key
        if now + EPSILON < since + delay or sandbox.region_down(region, "ecs"):
            continue
        backend = _backend(sandbox, region)
        service = backend.services.get(f"{cluster}:{name}")
        del st.converging[key]
        if service is None or service.status != "ACTIVE":
            continue
        _set_counts(backend, service, int(service.desired_count))
        st.converged += 1


# --- moto patches -------------------------------------------------------------------------


def _patch_moto() -> None:
    from moto.ecs.models import EC2ContainerServiceBackend as Backend

    Backend.create_service = _wrap_create(Backend.create_service)  # type: ignore[method-assign]
    Backend.update_service = _wrap_update(Backend.update_service)  # type: ignore[method-assign]


def _wrap_create(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def create_service(self: Any, *args: Any, **kwargs: Any) -> Any:
        service = original(self, *args, **kwargs)
        sandbox = _active()
        if sandbox is not None:
            with sandbox.lock:
                # moto's own start count (MOTO_ECS_SERVICE_RUNNING, else 0) is where it begins.
                _hold(sandbox, self, service, min(service.running_count, service.desired_count))
        return service

    return create_service


def _wrap_update(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def update_service(self: Any, service_properties: dict[str, Any]) -> Any:
        sandbox = _active()
        if sandbox is None or service_properties.get("desired_count") is None:
            return original(self, service_properties)
        cluster = str(service_properties.get("cluster", "default")).split("/")[-1]
        name = str(service_properties.get("service", "")).split("/")[-1]
        before = self.services.get(f"{cluster}:{name}")
        running = before.running_count if before is not None else 0
        service = original(self, service_properties)
        with sandbox.lock:
            # moto set running = desired at once; tasks take time to start or stop.
            _hold(sandbox, self, service, running)
        return service

    return update_service
