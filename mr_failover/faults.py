"""Fault injection for drills: one interface, implementations found at run time.

A drill's ``fault`` step starts a regional outage and its ``fault-stop`` step ends it,
through a :class:`FaultInjector`. AWS Fault Injection Service is built in
(:class:`FisInjector`: starts the experiment template the scenario names). Other
injectors register under the entry point group :data:`ENTRY_POINT_GROUP` (the local
sandbox's simulated outage does, in ``pyproject.toml``); they are found with
:func:`importlib.metadata.entry_points` and loaded only when a fault step is planned, so
this module, like the drill, imports none of them.

FIS's API: ``StartExperiment(experimentTemplateId, clientToken, tags)``, the client token
making a repeated start idempotent ("start-experiment", AWS CLI reference,
https://docs.aws.amazon.com/cli/v1/reference/fis/start-experiment.html);
``GetExperiment``'s ``experiment.state.status`` is one of pending, initiating, running,
completed, stopping, stopped, failed, cancelled ("ExperimentState - AWS Fault Injection
Service", https://docs.aws.amazon.com/fis/latest/APIReference/API_ExperimentState.html);
``StopExperiment(id)``.
"""

from __future__ import annotations

import importlib.metadata
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from mr_failover.aws import call
from mr_failover.engine.plan import StepAction

if TYPE_CHECKING:
    from mr_failover.aws import ClientSource

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "mr_failover.fault_injectors"
# FIS experiment states after which a stopped fault needs nothing more.
FIS_ENDED = ("completed", "stopped", "failed", "cancelled")


class FaultContext(Protocol):
    """What an injector's steps use of the drill: clients, the run id, journaled marks."""

    @property
    def factory(self) -> ClientSource: ...

    @property
    def run_id(self) -> str: ...

    @property
    def marks(self) -> dict[str, dict[str, Any]]: ...

    def mark(self, key: str, **fields: Any) -> None: ...


@dataclass(frozen=True)
class Outage:
    """The regional outage a drill's fault step starts (and its fault-stop step ends)."""

    region: str
    # The journal mark the start and the stop step share ("fault:<region>").
    key: str
    # Where the drill sends its AWS calls (--endpoint-url / AWS_ENDPOINT_URL); None: AWS.
    endpoint_url: str | None = None
    # The scenario step's FIS experiment template id, if it names one.
    fis_template: str | None = None


@dataclass(frozen=True)
class FaultStep:
    """What an injector's step does, as the drill's plan shows and journals it."""

    suffix: str  # of the step id: "<phase key>:<suffix>", stable across re-plans
    title: str
    service: str
    call: str
    region: str  # the endpoint the call goes to ("-": none of AWS's)
    params: Mapping[str, Any] = field(default_factory=dict)
    plane: Literal["control", "data"] = "data"
    poll: float = 2.0


class FaultInjector(ABC):
    """Starts and stops a regional outage for a drill."""

    name: ClassVar[str]
    # What it needs, for the error when no injector can run a fault step.
    requirement: ClassVar[str]

    @abstractmethod
    def available(self, outage: Outage) -> bool:
        """Can it inject ``outage`` here (this endpoint, this scenario step)?"""

    @abstractmethod
    def describe(self, outage: Outage, start: bool) -> FaultStep:
        """The plan's step that starts (``start``) or stops the outage."""

    @abstractmethod
    def start(self, ctx: FaultContext, outage: Outage) -> StepAction:
        """The idempotent action that starts the outage."""

    @abstractmethod
    def stop(self, ctx: FaultContext, outage: Outage) -> StepAction:
        """The idempotent action that ends it."""


# --- AWS FIS -------------------------------------------------------------------------------


class FisExperiment(StepAction):
    """Start (or stop) a named AWS FIS experiment template; the id is kept in a mark."""

    def __init__(self, ctx: FaultContext, key: str, region: str, template: str, start: bool):
        self.ctx = ctx
        self.key = key  # the mark of the start step, shared by the stop step
        self.region = region
        self.template = template
        self.start = start

    def _client(self) -> Any:
        return self.ctx.factory.client("fis", self.region)

    def _state(self) -> str | None:
        mark = self.ctx.marks.get(self.key)
        if mark is None:
            return None
        out = call(self._client(), "get_experiment", id=mark["experiment_id"])
        return str(out["experiment"]["state"]["status"])

    def holds(self) -> bool:
        state = self._state()
        if self.start:
            return state is not None
        return state is None or state in FIS_ENDED

    def apply(self) -> None:
        if self.start:
            out = call(
                self._client(),
                "start_experiment",
                experimentTemplateId=self.template,
                clientToken=f"{self.ctx.run_id}-{self.key}",
                tags={"mr-failover-drill": self.ctx.run_id},
            )
            self.ctx.mark(self.key, kind="fis", experiment_id=out["experiment"]["id"])
        else:
            call(self._client(), "stop_experiment", id=self.ctx.marks[self.key]["experiment_id"])

    def settled(self) -> bool:
        return self.start or self.holds()

    def state(self) -> str:
        return self._state() or "not started"


class FisInjector(FaultInjector):
    """AWS FIS: the experiment template the scenario step names (``fis_template``)."""

    name = "fis"
    requirement = "fis_template (an FIS experiment template id) against AWS"

    def available(self, outage: Outage) -> bool:
        return bool(outage.fis_template)

    def describe(self, outage: Outage, start: bool) -> FaultStep:
        return FaultStep(
            suffix="fis",
            title=f"{'start' if start else 'stop'} FIS experiment {outage.fis_template}",
            service="fis",
            call="StartExperiment" if start else "StopExperiment",
            region=outage.region,
            params={"experimentTemplateId": outage.fis_template},
            plane="control",
        )

    def _action(self, ctx: FaultContext, outage: Outage, start: bool) -> FisExperiment:
        if not outage.fis_template:
            raise ValueError(f"no FIS experiment template for the fault in {outage.region}")
        return FisExperiment(ctx, outage.key, outage.region, outage.fis_template, start)

    def start(self, ctx: FaultContext, outage: Outage) -> StepAction:
        return self._action(ctx, outage, True)

    def stop(self, ctx: FaultContext, outage: Outage) -> StepAction:
        return self._action(ctx, outage, False)


# --- finding injectors ---------------------------------------------------------------------


def registered() -> list[FaultInjector]:
    """The injectors of the entry point group, by name; one that fails to load is skipped
    (logged), so a broken optional extra does not break a drill that does not need it."""
    found: list[FaultInjector] = []
    for entry in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=_name):
        try:
            injector = entry.load()()
        except Exception as exc:  # an optional extra that is not installed, say
            log.debug("fault injector %s not loaded: %s", entry.name, exc)
            continue
        if isinstance(injector, FaultInjector):
            found.append(injector)
    return found


def _name(entry: importlib.metadata.EntryPoint) -> str:
    return entry.name


def injectors() -> list[FaultInjector]:
    """Every injector, in the order they are tried: FIS first, then the registered ones."""
    return [FisInjector(), *registered()]


def choose(outage: Outage, candidates: list[FaultInjector] | None = None) -> FaultInjector:
    """The first injector that can inject ``outage``; ValueError saying what each needs."""
    tried = injectors() if candidates is None else candidates
    for injector in tried:
        if injector.available(outage):
            return injector
    needs = " or ".join(i.requirement for i in tried)
    raise ValueError(f"the fault step for {outage.region} has no fault injector: it needs {needs}")
