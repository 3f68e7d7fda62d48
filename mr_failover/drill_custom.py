"""Custom steps of a game day: what the tool cannot know, declared in the scenario.

Four kinds, each a :class:`~mr_failover.engine.plan.StepAction` the drill's phases run
like their own steps (journaled intent and outcome, a deadline):

- ``http``: a request (``method``, ``url``, ``expect_status``), within ``timeout``;
- ``command``: a local program (``command``: the argument list, no shell), within
  ``timeout``, with the run's context in its environment (``MR_FAILOVER_RUN_ID``,
  ``MR_FAILOVER_PHASE``, ``MR_FAILOVER_REGION``, ``MR_FAILOVER_APPLICATION``); exit code 0
  succeeds, anything else (or the deadline: the program is killed) fails the step;
- ``lambda``: ``Invoke`` of ``function`` in ``region`` with ``payload`` (RequestResponse);
  a ``FunctionError`` in the answer fails the step ("Invoke", AWS Lambda API Reference,
  https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html: "FunctionError: If
  present, indicates that an error occurred during function execution");
- ``ssm-automation``: ``StartAutomationExecution`` of ``document`` with ``parameters``,
  then ``GetAutomationExecution`` until it ends: ``Success`` succeeds; ``Failed``,
  ``TimedOut``, ``Cancelled`` fail the step (AutomationExecutionStatus, AWS Systems
  Manager API Reference,
  https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_AutomationExecution.html).

A step runs once: it is marked done in the journal when it succeeds, so ``--resume`` skips
it. A step that started and did not finish (a crash or Ctrl-C in the middle) may have had
its effect: unless the scenario declares it ``idempotent: true``, a resume asks before
running it again, and with ``--yes`` (nobody to ask) refuses, exit 3.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mr_failover.aws import call
from mr_failover.engine.plan import StepAction
from mr_failover.errors import MrFailoverError, RefusedError
from mr_failover.resources.probes import probe
from mr_failover.topology import Probes

if TYPE_CHECKING:
    from mr_failover.aws import ClientSource

CUSTOM_KINDS = ("http", "command", "lambda", "ssm-automation")
OUTPUT_KEPT = 2000  # characters of a command's output kept in the journal
_SSM_DONE = {"Success": True, "Failed": False, "TimedOut": False, "Cancelled": False}


class CustomAction(StepAction):
    """One custom step (see the module docstring)."""

    def __init__(
        self,
        *,
        key: str,
        kind: str,
        run: Callable[[], str],
        marks: Mapping[str, Any],
        mark: Callable[..., None],
        confirm: Callable[[str], bool],
        idempotent: bool,
        title: str,
    ) -> None:
        self.key = key
        self.kind = kind
        self._run = run
        self.marks = marks
        self.mark = mark
        self.confirm = confirm
        self.idempotent = idempotent
        self.title = title
        self.result = ""

    def holds(self) -> bool:
        return self.key in self.marks

    def _start(self) -> None:
        """Refuse to run again a step an earlier attempt started, unless it is declared
        idempotent or a person says yes; then journal that it starts."""
        started = f"{self.key}:started"
        if started in self.marks and not self.idempotent:
            question = (
                f"the custom step '{self.title}' started in an earlier attempt and may have "
                "had its effect; run it again?"
            )
            if not self.confirm(question):
                raise RefusedError(
                    f"refused: '{self.title}' is not declared idempotent and may already have "
                    "run: resume without --yes to be asked, or mark the step idempotent"
                )
        self.mark(started, kind="custom-started", step=self.kind)

    def apply(self) -> None:
        self._start()
        self.result = self._run()
        self.mark(self.key, kind="custom", step=self.kind, result=self.result[:OUTPUT_KEPT])

    def settled(self) -> bool:
        return self.holds()

    def state(self) -> str:
        return self.result

    def verify(self) -> str | None:
        return None if self.holds() else "the step did not complete"


def http_request(method: str, url: str, expect: int, timeout: float) -> Callable[[], str]:
    """The ``http`` step: one request through :func:`~mr_failover.resources.probes.probe`
    (the same client status and the synthetic client use)."""
    # Built, not validated: a step may wait longer than a probe's 60 s limit.
    spec = Probes.model_construct(expect_status=expect, timeout_seconds=timeout)

    def run() -> str:
        result = probe(url, spec, method=method)
        if not result.ok:
            raise MrFailoverError(f"{method} {url}: {result.error or result.describe()}")
        return f"{method} {url}: {result.status}"

    return run


def local_command(argv: Sequence[str], env: Mapping[str, str], timeout: float) -> Callable[[], str]:
    def run() -> str:
        try:
            done = subprocess.run(
                list(argv),
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise MrFailoverError(f"{argv[0]}: did not end within {timeout:g} s (killed)") from None
        except OSError as exc:
            raise MrFailoverError(f"{argv[0]}: {exc.strerror or exc}") from None
        tail = (done.stdout + done.stderr).strip()[-OUTPUT_KEPT:]
        if done.returncode != 0:
            raise MrFailoverError(f"{argv[0]} exited {done.returncode}: {tail}")
        return tail or f"{argv[0]}: exit 0"

    return run


def lambda_invoke(
    factory: ClientSource, region: str, function: str, payload: Any
) -> Callable[[], str]:
    def run() -> str:
        client = factory.client("lambda", region)
        out = call(
            client,
            "invoke",
            FunctionName=function,
            InvocationType="RequestResponse",
            Payload=json.dumps(payload if payload is not None else {}).encode(),
        )
        body = out.get("Payload")
        text = body.read().decode("utf-8", "replace") if body is not None else ""
        if out.get("FunctionError"):
            raise MrFailoverError(
                f"lambda {function} in {region}: {out['FunctionError']}: {text[:500]}"
            )
        return f"lambda {function}: {out.get('StatusCode')} {text[:500]}"

    return run


def ssm_automation(
    factory: ClientSource, region: str, document: str, parameters: Mapping[str, Sequence[str]]
) -> tuple[Callable[[], str], Callable[[str], bool | None]]:
    """(start, check): start returns the execution id; check(id) is True when it
    succeeded, None while it runs, and raises when it ended otherwise."""
    client = factory.client("ssm", region)

    def start() -> str:
        out = call(
            client,
            "start_automation_execution",
            DocumentName=document,
            Parameters={k: list(v) for k, v in parameters.items()},
        )
        return str(out["AutomationExecutionId"])

    def check(execution: str) -> bool | None:
        got = call(client, "get_automation_execution", AutomationExecutionId=execution)
        status = got["AutomationExecution"].get("AutomationExecutionStatus", "")
        if status not in _SSM_DONE:
            return None
        if not _SSM_DONE[status]:
            why = got["AutomationExecution"].get("FailureMessage", "")
            raise MrFailoverError(f"automation {document} ({execution}) ended {status}: {why}")
        return True

    return start, check


class AutomationAction(CustomAction):
    """``ssm-automation``: started in apply, waited for in settled (the step's deadline)."""

    def __init__(
        self, *, start: Callable[[], str], check: Callable[[str], bool | None], **kw: Any
    ) -> None:
        super().__init__(run=start, **kw)
        self.check = check
        self.execution: str | None = None

    def apply(self) -> None:
        self._start()
        self.execution = self._run()
        self.result = f"execution {self.execution}"

    def settled(self) -> bool:
        if self.holds():
            return True
        assert self.execution is not None
        if self.check(self.execution):
            self.mark(self.key, kind="custom", step=self.kind, result=self.result)
            return True
        return False
