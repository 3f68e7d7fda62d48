"""How a plan is shown before it runs (and by --dry-run): exact text."""

from __future__ import annotations

from rich.console import Console

from mr_failover.commands._mutation import show_plan
from mr_failover.engine.plan import Plan, Step


def test_plan_table_names_call_endpoint_plane_and_undo() -> None:
    steps = (
        Step(
            id="route53:invert:api-use1",
            title="invert health check api-use1",
            service="route53",
            call="UpdateHealthCheck",
            params={"HealthCheckId": "hc-1", "Inverted": True},
            region="us-east-1",
            plane="control",
            plane_region="us-east-1",
            undoable=True,
            undo="mr-failover health-check restore --region us-east-1",
        ),
        Step(
            id="ecs:scale:api",
            title="scale api to 4",
            service="ecs",
            call="UpdateService",
            params={"desiredCount": 4},
            region="us-west-2",
            plane="data",
            plane_region=None,
            undoable=False,
        ),
    )
    console = Console(width=80, no_color=True, highlight=False)
    plan = Plan("fake", {}, steps, notes=("one note",))
    with console.capture() as cap:
        show_plan(console, plan)
    # What, where, undoable: one line per step; short titles leave room for the plane.
    assert [line.rstrip() for line in cap.get().splitlines()] == [
        "Plan: fake",
        "#  Step                          Where      Plane    Undo",
        "1  invert health check api-use1  us-east-1  control  yes",
        "2  scale api to 4                us-west-2  data     no",
        "undo: mr-failover health-check restore --region us-east-1",
        "note: one note",
    ]
    # --verbose: every call with its parameters, under the table.
    with console.capture() as cap:
        show_plan(console, plan, verbose=True)
    assert [line.rstrip() for line in cap.get().splitlines()][4:11] == [
        "Calls, with the parameters as they will be sent:",
        "1  route53:UpdateHealthCheck (us-east-1, control plane)",
        "     HealthCheckId: hc-1",
        "     Inverted: True",
        "2  ecs:UpdateService (us-west-2, data plane)",
        "     desiredCount: 4",
        "undo: mr-failover health-check restore --region us-east-1",
    ]
    # A wider terminal names each step's plane and call in the table.
    wide = Console(width=120, no_color=True, highlight=False)
    with wide.capture() as cap:
        show_plan(wide, plan)
    assert [line.rstrip() for line in cap.get().splitlines()][1:3] == [
        "#  Step                          Call                       Where      Plane    Undo",
        "1  invert health check api-use1  route53:UpdateHealthCheck  us-east-1  control  yes",
    ]
