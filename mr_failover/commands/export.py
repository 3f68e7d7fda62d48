"""``mr-failover export region-switch``: the topology as an ARC Region switch plan.

Thin: parses the options, calls :func:`mr_failover.export.region_switch_plan`, writes the
``CreatePlan`` request as JSON (stdout or ``--output FILE``) and prints on stderr what
the operator must know before creating the plan. No AWS call is made.
"""

from __future__ import annotations

from pathlib import Path

import click

from mr_failover.cli import AppContext, pass_app


@click.group("export")
def export() -> None:
    """Export the topology to other tools (no AWS call).

    \b
    Example:
      mr-failover export region-switch --regions us-east-1,us-west-2 --output plan.json
    """


@export.command(
    "region-switch", short_help="Write the CreatePlan request of an ARC Region switch plan."
)
@click.option(
    "--regions",
    required=True,
    metavar="A,B",
    help="The plan's two regions, both in the topology (Region switch plans hold two).",
)
@click.option(
    "--output",
    "output_file",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the JSON here instead of stdout.",
)
@click.option("--name", help="Plan name (default: <application>-region-switch).")
@click.option(
    "--execution-role",
    metavar="ARN",
    help="Role Region switch runs the plan with (default: <application>-region-switch).",
)
@click.option(
    "--approval-role",
    metavar="ARN",
    help="Role of the manual approval step (default: <application>-region-switch-approver).",
)
@click.option(
    "--asg-arn",
    "asg_arns",
    multiple=True,
    metavar="ARN",
    help="ARN of a topology Auto Scaling group (it holds an id the topology lacks); repeat.",
)
@pass_app
def region_switch(
    app: AppContext,
    regions: str,
    output_file: str | None,
    name: str | None,
    execution_role: str | None,
    approval_role: str | None,
    asg_arns: tuple[str, ...],
) -> None:
    """Write the ARC Region switch CreatePlan request built from the topology.

    The plan gets a manual approval, ECS / EC2 Auto Scaling scaling, the Aurora global
    database switchover (failover when ungraceful) and the traffic move (ARC routing
    controls, else Route 53 health check blocks) for the two regions. What it cannot
    cover, the ids it lacks and the AWS CLI command that creates it go to stderr. Region
    switch checks no replication: `mr-failover check replication` stays the go / no-go.

    \b
    Example:
      mr-failover export region-switch --regions us-east-1,us-west-2 --output plan.json
      aws arc-region-switch create-plan --cli-input-json file://plan.json --region us-east-1
    """
    from mr_failover.export import parse_regions, region_switch_plan

    pair = parse_regions(regions)
    result = region_switch_plan(
        app.topology(),
        pair,
        name=name,
        execution_role=execution_role,
        approval_role=approval_role,
        asg_arns=asg_arns,
    )
    if output_file is None:
        click.echo(result.to_json(), nl=False)
    else:
        # The plan holds ARNs and names, no secret: the file gets the usual umask modes.
        Path(output_file).write_text(result.to_json())

    def say(text: str = "") -> None:
        click.echo(text, err=True)

    req = result.request
    say(f"plan {req['name']}: {result.approach_reason}")
    for workflow in req["workflows"]:
        steps = ", ".join(s["name"] for s in workflow["steps"])
        say(f"  {workflow['workflowTargetAction']} {workflow['workflowTargetRegion']}: {steps}")
    if result.notes:
        say("before creating it:")
        for note in result.notes:
            say(f"  - {note}")
    if result.gaps:
        say(f"INCOMPLETE: {len(result.gaps)} thing(s) left out of the plan:")
        for gap in result.gaps:
            say(f"  - {gap}")
    say("not covered by the plan (mr-failover's checks remain the go / no-go):")
    for item in result.not_covered:
        say(f"  - {item}")
    say(
        f"create it (CreatePlan is served by the control plane in {result.api_region}, "
        "whatever --region says):"
    )
    say(f"  {result.create_command(output_file or 'plan.json')}")
