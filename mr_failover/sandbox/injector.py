"""The sandbox's simulated regional outage, as a drill's fault injector.

Registered in ``pyproject.toml`` under the entry point group
``mr_failover.fault_injectors`` (:data:`mr_failover.faults.ENTRY_POINT_GROUP`): the drill
finds it through the installed package's metadata and never imports the sandbox. It can
inject an outage when a sandbox answers its control API at the drill's endpoint
(``--endpoint-url`` / ``AWS_ENDPOINT_URL``) with the token this process finds
(:func:`~mr_failover.sandbox.client.find_token`). The outage is the one ``mr-failover
sandbox fail-region`` makes: every call to the region's endpoints has its connection
dropped until the region is healed.
"""

from __future__ import annotations

from mr_failover.engine.plan import StepAction
from mr_failover.faults import FaultContext, FaultInjector, FaultStep, Outage
from mr_failover.sandbox.client import SandboxClient, SandboxClientError

PROBE_TIMEOUT = 2.0


class SandboxFault(StepAction):
    """A regional outage in the sandbox, through its control API."""

    def __init__(self, url: str, region: str, start: bool) -> None:
        self.client = SandboxClient(url)
        self.region = region
        self.start = start

    def _active(self) -> bool:
        return any(f.get("region") == self.region for f in self.client.faults())

    def holds(self) -> bool:
        return self._active() == self.start

    def apply(self) -> None:
        if self.start:
            self.client.fail_region(self.region)
        else:
            self.client.heal_region(self.region)


class SandboxOutage(FaultInjector):
    """``fail-region`` / ``heal-region`` on the sandbox at the drill's endpoint."""

    name = "sandbox"
    requirement = (
        "a sandbox at the endpoint (--endpoint-url / AWS_ENDPOINT_URL) whose token this "
        "process has (./.sandbox/token from `mr-failover sandbox up`, or "
        "MR_FAILOVER_SANDBOX_TOKEN)"
    )

    def available(self, outage: Outage) -> bool:
        if not outage.endpoint_url:
            return False
        try:
            SandboxClient(outage.endpoint_url, timeout=PROBE_TIMEOUT).state()
        except SandboxClientError:
            return False
        return True

    def describe(self, outage: Outage, start: bool) -> FaultStep:
        return FaultStep(
            suffix="sandbox-fault",
            title=f"{'simulate an outage of' if start else 'heal'} {outage.region} (sandbox)",
            service="sandbox",
            call="FailRegion" if start else "HealRegion",
            region="-",
            params={"region": outage.region},
            poll=0.2,
        )

    def _action(self, outage: Outage, start: bool) -> SandboxFault:
        if not outage.endpoint_url:
            raise ValueError(f"no sandbox endpoint for the fault in {outage.region}")
        return SandboxFault(outage.endpoint_url, outage.region, start)

    def start(self, ctx: FaultContext, outage: Outage) -> StepAction:
        return self._action(outage, True)

    def stop(self, ctx: FaultContext, outage: Outage) -> StepAction:
        return self._action(outage, False)
