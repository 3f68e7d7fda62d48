"""``mr-failover check replication [--canary]``: RPO estimate and go / no-go per region pair."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from mr_failover.cli import AppContext, pass_app
from mr_failover.commands import MAX_DEADLINE, Seconds, deadline_option

if TYPE_CHECKING:
    from rich.console import RenderableType

    from mr_failover.engine.plan import Clock
    from mr_failover.operations.replication import ReplicationReport
    from mr_failover.operations.takeover_checks import CheckReport

# Injected by tests so that canaries are timed on a fake (or the sandbox's) clock.
clock: Clock | None = None


@click.group("check")
def check() -> None:
    """Read-only readiness checks before a failover.

    \b
    Example:
      mr-failover check replication
      mr-failover check parity
      mr-failover check capacity
      mr-failover --output json check replication --canary
    """


@check.command()
@click.option(
    "--canary",
    is_flag=True,
    help=(
        "Also measure the real lag: write one marked test item per DynamoDB table and one "
        "marked test object per replicated bucket in each source region (data-plane "
        "writes under the mr-failover-canary prefix), time their arrival in the other "
        "regions, then delete them."
    ),
)
@click.option(
    "--canary-timeout",
    type=Seconds(0.1, MAX_DEADLINE),
    default=None,
    help="Seconds to wait for the canaries. Default: twice the policy's RPO, at least 10.",
)
@deadline_option("Seconds to wait for the reads; a region that has not answered is no-go.")
@pass_app
def replication(
    app: AppContext, canary: bool, canary_timeout: float | None, deadline: float
) -> None:
    """Estimate the RPO of every region pair and say go or no-go against the policy.

    Per pair (source -> destination): DynamoDB replica status and ReplicationLatency,
    S3 rule sanity (versioning on both sides, role, rule enabled, RTC) with pending and
    failed operations, and Aurora lag. The RPO estimate is the worst lag of a pair's
    links (metric or canary). Exit code 0 when every pair is go, 4 when any is no-go
    (lag above policy.rpo_seconds, a broken rule or replica, a region not answering).

    Read-only apart from --canary, whose test items / objects are data-plane writes of
    marked data, always removed afterwards (also on timeout or Ctrl-C). No lock, no plan.

    \b
    Example:
      mr-failover check replication
      mr-failover check replication --canary --canary-timeout 30
      mr-failover --output json check replication --canary
    """
    from mr_failover.aws import Timeouts
    from mr_failover.operations.replication import check_replication
    from mr_failover.render import show, to_json

    topology = app.topology()
    factory = app.factory().with_timeouts(Timeouts.for_deadline(deadline))
    report = check_replication(
        topology,
        factory,
        canary=canary,
        deadline=deadline,
        canary_timeout=canary_timeout,
        clock=clock,
    )
    if app.output == "json":
        click.echo(to_json(report.to_json()))
    else:
        show(app.console(), replication_view(report))
    click.get_current_context().exit(report.exit_code)


def _seconds(value: float | None, lower_bound: bool = False) -> str:
    if value is None:
        return "-"
    return f"{'>' if lower_bound else ''}{value:.1f} s"


def replication_view(report: ReplicationReport) -> RenderableType:
    """Pairs, then their links, then reasons, warnings, cleanup and the verdict."""
    from rich.console import Group
    from rich.text import Text

    from mr_failover.render import Prose, report_table, safe
    from mr_failover.text import printable

    pairs = report_table(
        safe(f"{report.application}: replication, RPO policy {report.rpo_seconds} s")
    )
    for header in ("Source", "Destination", "RPO estimate", "Verdict"):
        pairs.add_column(header, no_wrap=True)
    for p in report.pairs:
        pairs.add_row(
            p.source,
            p.destination,
            _seconds(p.rpo_estimate_seconds, p.rpo_estimate_is_lower_bound),
            Text("GO", style="green") if p.go else Text("NO-GO", style="bold red"),
        )
    links = report_table()
    for header in ("Pair", "Kind", "Resource", "State", "Metric lag", "Canary lag"):
        links.add_column(header, no_wrap=header != "Resource")
    for p in report.pairs:
        for link in p.links:
            canary = "-"
            if link.canary is not None:
                seen = link.canary.state == "seen"
                canary = _seconds(link.canary.lag_seconds) if seen else link.canary.state
            links.add_row(
                f"{p.source} -> {p.destination}",
                safe(link.kind),
                safe(link.name),
                safe(link.state),
                _seconds(link.metric_lag_seconds),
                canary,
            )
    lines: list[RenderableType] = [pairs, links]
    for p in report.pairs:
        # Wrapped at spaces only: a table or bucket name is never cut.
        for reason in p.reasons:
            lines.append(Prose(printable(f"{p.source} -> {p.destination}: {reason}"), "red"))
        for warning in p.warnings:
            text = printable(f"{p.source} -> {p.destination}: warning: {warning}")
            lines.append(Prose(text, "yellow"))
    if report.canary:
        left = [c for c in report.cleanup if not c.removed]
        done = len(report.cleanup) - len(left)
        lines.append(
            Text(f"canaries (run {report.run_id}): removed {done} of {len(report.cleanup)}")
        )
        for c in left:
            lines.append(
                Text(
                    printable(
                        f"left behind: {c.kind} {c.resource} key {c.key} in {c.region}: {c.detail}"
                    ),
                    style="red",
                )
            )
    no_go = sum(1 for p in report.pairs if not p.go)
    verdict = "GO: every pair within RPO" if report.go else f"NO-GO: {no_go} pair(s) not ready"
    lines.append(
        Text(
            f"{verdict} (checked in {report.elapsed_seconds:.1f} s)",
            style="green" if report.go else "bold red",
        )
    )
    return Group(*lines)


@check.command()
@deadline_option("Seconds to wait for the reads; a region that has not answered is no-go.")
@pass_app
def parity(app: AppContext, deadline: float) -> None:
    """Compare what must match across regions, and list each mismatch (read-only).

    Every region is compared with the reference region (primary_region, or the first
    region that answered): ECS task definitions (family, revision, images, CPU, memory),
    Lambda functions (code hash, runtime, memory, timeout, reserved concurrency,
    environment variable names), Auto Scaling groups (launch template and version,
    instance types, MaxSize against the load), DynamoDB tables (billing mode, capacity,
    indexes, stream) and Aurora (instance classes and count, parameter group family).
    docs/PARITY.md lists the rules; a blocking mismatch makes the region unable to take
    over. Silence a rule for one resource with parity.ignore in the topology.

    Exit code 0 when no region has a blocking mismatch, 4 when one has (or could not be
    read).

    \b
    Example:
      mr-failover check parity
      mr-failover --output json check parity
    """
    from mr_failover.operations.takeover_checks import check_parity

    _show_check(app, check_parity, deadline)


@check.command()
@deadline_option("Seconds to wait for the reads; a region that has not answered is no-go.")
@pass_app
def capacity(app: AppContext, deadline: float) -> None:
    """Quota headroom against each region's take-over scale-up (read-only).

    Reads with Service Quotas the Fargate On-Demand vCPU (L-3032A538), EC2 Running
    On-Demand Standard vCPU (L-1216C47A) and Lambda concurrent executions (L-B99A9384)
    quotas, their usage from the CloudWatch metric each quota names, and compares the
    headroom with what drain would add to the region: (takeover_desired - desired) x
    task vCPU or instance vCPU, and for Lambda the concurrency the other regions use.

    Exit code 0 when every region can scale to its take-over, 4 otherwise.

    \b
    Example:
      mr-failover check capacity
      mr-failover --output json check capacity
    """
    from mr_failover.operations.takeover_checks import check_capacity

    _show_check(app, check_capacity, deadline)


def _show_check(app: AppContext, run: Any, deadline: float) -> None:
    from mr_failover.aws import Timeouts
    from mr_failover.render import to_json

    topology = app.topology()
    factory = app.factory().with_timeouts(Timeouts.for_deadline(deadline))
    report: CheckReport = run(topology, factory, deadline=deadline)
    if app.output == "json":
        click.echo(to_json(report.to_json()))
    else:
        view = parity_view(report) if report.check == "parity" else capacity_view(report)
        app.console().print(view)
    click.get_current_context().exit(report.exit_code)


def _verdict_lines(report: CheckReport) -> list[RenderableType]:
    from rich.text import Text

    from mr_failover.render import finding_lines

    lines: list[RenderableType] = []
    for r in report.regions:
        lines += finding_lines(r.name, r.reasons, r.warnings, r.errors)
    no_go = [r.name for r in report.regions if not r.go]
    verdict = (
        f"GO: every region passes the {report.check} check"
        if report.go
        else f"NO-GO: {', '.join(no_go)} cannot take over"
    )
    lines.append(
        Text(
            f"{verdict} (checked in {report.elapsed_seconds:.1f} s)",
            style="green" if report.go else "bold red",
        )
    )
    return lines


def parity_view(report: CheckReport) -> RenderableType:
    """One row per mismatch, then reasons, warnings and the verdict."""
    from rich.console import Group
    from rich.text import Text

    from mr_failover.render import report_table, safe

    reference = next(
        (r.value.reference for r in report.regions if r.value is not None and r.value.reference),
        None,
    )
    title = f"{report.application}: parity with {reference or '(no region read)'}"
    table = report_table(safe(title))
    for header in ("Region", "Resource", "Rule", "Value", "Reference", "Effect"):
        # Names and values wrap at spaces; the region and the rule stay on one line.
        table.add_column(header, no_wrap=header in ("Region", "Rule"))
    for r in report.regions:
        if r.value is None:
            continue
        for m in r.value.mismatches:
            effect = (
                Text("ignored: " + m.ignored, style="dim")
                if m.ignored
                else Text("blocks", style="bold red")
                if m.blocking
                else Text("warning", style="yellow")
            )
            table.add_row(
                r.name,
                safe(f"{m.kind} {m.resource}"),
                m.rule,
                safe(m.value),
                safe(f"{m.reference_value} ({m.reference_region})"),
                effect,
            )
    if not table.rows:
        table.add_row("-", "no mismatch", "", "", "", "")
    return Group(table, *_verdict_lines(report))


def capacity_view(report: CheckReport) -> RenderableType:
    """One row per region and quota, then reasons, warnings and the verdict."""
    from rich.console import Group
    from rich.text import Text

    from mr_failover.render import report_table, safe

    table = report_table(safe(f"{report.application}: quota headroom for a take-over"))
    # 80 columns: the quota's name and the usage's source wrap at spaces, the numbers not.
    for header in ("Region", "Quota", "Limit", "In use", "Headroom", "Needs", "Fits"):
        table.add_column(header, no_wrap=header not in ("Quota", "In use"))
    for r in report.regions:
        if r.value is None:
            continue
        for h in r.value.headroom:
            fits = Text("no", style="bold red") if h.short else Text("yes", style="green")
            table.add_row(
                r.name,
                f"{h.unit} ({h.quota_code})",
                "-" if h.quota is None else f"{h.quota:g}",
                "-" if h.usage is None else f"{h.usage:g} ({h.usage_source})",
                "-" if h.headroom is None else f"{h.headroom:g}",
                f"{h.needed:g}",
                fits,
            )
    return Group(table, *_verdict_lines(report))
