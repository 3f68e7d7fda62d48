"""``mr-failover sandbox ...``: start, stop, inspect and break the local multi-region AWS.

The server runs in the background (``python -m mr_failover.sandbox``) with its
runtime files in ``./.sandbox/``; the other subcommands reach it through the control
API. Without the ``sandbox`` extra (moto) every subcommand says how to install it
(exit 2). Only ``up --seed`` imports boto3 here; nothing imports the sandbox core
(the server process does).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from mr_failover.cli import AppContext, pass_app
from mr_failover.commands._complete import complete_region
from mr_failover.errors import MrFailoverError, UsageError

CREDENTIAL_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class SandboxUnavailable(MrFailoverError):
    """The sandbox is not running or did not answer."""


def _require_moto() -> None:
    from mr_failover.sandbox import INSTALL_HINT, moto_available

    if not moto_available():
        raise UsageError(INSTALL_HINT)


def _client(app: AppContext) -> Any:
    from mr_failover.sandbox.client import RuntimeFiles, SandboxClient, running

    if app.endpoint_url:
        return SandboxClient(app.endpoint_url)
    current = running(RuntimeFiles())
    if current is None:
        raise SandboxUnavailable(
            "no sandbox is running here (start one with `mr-failover sandbox up`, "
            "or pass --endpoint-url)"
        )
    return SandboxClient(current[1])


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    from mr_failover.sandbox.client import SandboxClientError

    try:
        return fn(*args, **kwargs)
    except SandboxClientError as exc:
        raise SandboxUnavailable(str(exc)) from None


def _check_region(region: str) -> str:
    from mr_failover.topology import known_regions

    if region not in known_regions():
        raise UsageError(f"{region!r} is not an AWS region code (for example us-west-2)")
    return region


def export_lines(endpoint: str) -> list[str]:
    pairs = {"AWS_ENDPOINT_URL": endpoint, **CREDENTIAL_ENV}
    return [f"export {k}={v}" for k, v in pairs.items()]


@click.group()
def sandbox() -> None:
    """Local multi-region AWS (moto + simulations) for demos, tests and drills.

    \b
    Example:
      mr-failover sandbox up --seed config/regions.yaml --write-topology sandbox.yaml
      mr-failover sandbox fail-region us-east-1
      mr-failover sandbox heal-region us-east-1
      mr-failover sandbox down
    """
    _require_moto()


@sandbox.command()
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="0 picks a free port.")
@click.option(
    "--seed",
    "seed_file",
    is_flag=False,
    flag_value="",
    metavar="[FILE]",
    type=click.Path(dir_okay=False),
    help="Create this topology's resources in the sandbox. --seed alone: the --config "
    "topology (the packaged example when there is no config/regions.yaml here).",
)
@click.option(
    "--write-topology",
    type=click.Path(dir_okay=False),
    help="With --seed: write the topology with the generated ids here.",
)
@pass_app
def up(app: AppContext, port: int, seed_file: str | None, write_topology: str | None) -> None:
    """Start the sandbox in the background; print the environment to use it.

    \b
    Example:
      mr-failover sandbox up --port 4566
      mr-failover sandbox up --seed       # the --config topology, else the packaged example
      eval "$(mr-failover sandbox up --seed config/regions.yaml --write-topology sb.yaml)"
    """
    from mr_failover import topology
    from mr_failover.sandbox.client import RuntimeFiles, launch, shutdown

    if write_topology and seed_file is None:
        raise UsageError("--write-topology needs --seed FILE")
    if seed_file == "":
        seed_file = str(app.config_or_example())
    if seed_file:
        topology.load(seed_file)  # a bad file is refused before a sandbox starts
    files = RuntimeFiles()
    pid, endpoint = _call(launch, files, port)
    click.echo(f"# sandbox running: pid {pid}, {endpoint}, log {files.log}", err=True)
    if seed_file:
        try:
            _seed(seed_file, endpoint, write_topology)
        except MrFailoverError:
            # Not left running half-seeded: the next `sandbox up` starts clean.
            shutdown(files)
            click.echo(f"# seeding failed: sandbox stopped (pid {pid})", err=True)
            raise
    for line in export_lines(endpoint):
        click.echo(line)


def _seed(seed_file: str, endpoint: str, write_topology: str | None) -> None:
    import importlib.util

    from mr_failover import topology
    from mr_failover.aws import ClientFactory

    if importlib.util.find_spec("mr_failover.sandbox.seed") is None:
        raise UsageError("this build has no sandbox seeder (mr_failover.sandbox.seed)")
    from mr_failover.sandbox.seed import seed

    t = topology.load(seed_file)
    for key, value in CREDENTIAL_ENV.items():  # the sandbox takes any credentials
        os.environ.setdefault(key, value)
    seeded = seed(t, ClientFactory(t, endpoint_url=endpoint))
    if write_topology:
        Path(write_topology).write_text(topology.dump(seeded))
        click.echo(f"# seeded {seed_file}; topology with ids: {write_topology}", err=True)
    else:
        click.echo(f"# seeded {seed_file}", err=True)


@sandbox.command()
def down() -> None:
    """Stop the background sandbox started by `sandbox up` (here).

    \b
    Example:
      mr-failover sandbox down
    """
    from mr_failover.sandbox.client import RuntimeFiles, shutdown

    pid = shutdown(RuntimeFiles())
    click.echo("no sandbox was running" if pid is None else f"sandbox stopped (pid {pid})")


@sandbox.command()
@pass_app
def status(app: AppContext) -> None:
    """Show the sandbox: endpoint, faults, regions down, ARC endpoints, settings.

    \b
    Example:
      mr-failover sandbox status
      mr-failover --output json sandbox status
    """
    state = _call(_client(app).state)
    if app.output == "json":
        click.echo(json.dumps(state, indent=2))
        return
    click.echo(f"endpoint: {state['endpoint_url']}  account: {state['account_id']}")
    click.echo(f"simulations: {', '.join(state['simulations']) or '-'}")
    click.echo(f"regions down: {', '.join(state['down_regions']) or 'none'}")
    for fault in state["faults"]:
        click.echo(f"fault #{fault['id']}: {describe_fault(fault)}")
    for endpoint in state.get("arc_endpoints", []):
        click.echo(f"arc endpoint {describe_arc_endpoint(endpoint)}")
    settings = ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in state["settings"].items()
    )
    click.echo(f"settings: {settings}")
    click.echo(f"AWS calls seen: {state['calls']}")


def describe_arc_endpoint(endpoint: dict[str, Any]) -> str:
    mode = endpoint["mode"] + (" (region down)" if endpoint.get("region_down") else "")
    return f"#{endpoint['index']} {endpoint['region']} {endpoint['url']}: {mode}"


def describe_fault(fault: dict[str, Any]) -> str:
    where = fault["region"] + (f" {fault['service']}" if fault.get("service") else "")
    if fault["kind"] == "outage":
        return f"{where}: outage ({fault['mode']})"
    if fault["kind"] == "latency":
        return f"{where}: +{fault['ms']} ms"
    return f"{where}: {fault['kind']} at rate {fault['rate']:g}"


@sandbox.command("fail-region")
@click.argument("region", shell_complete=complete_region)
@click.option(
    "--mode",
    type=click.Choice(["connection", "5xx", "blackhole"]),
    default="connection",
    show_default=True,
    help="Outage: drop connections, answer 503, or never answer.",
)
@click.option("--service", help="Only this service (dynamodb, rds, s3, route53, ...).")
@click.option(
    "--kind",
    type=click.Choice(["outage", "latency", "throttle", "error5xx"]),
    default="outage",
    show_default=True,
)
@click.option(
    "--rate",
    type=click.FloatRange(0, 1),
    default=1.0,
    show_default=True,
    help="throttle / error5xx: share of calls affected.",
)
@click.option("--ms", type=click.IntRange(0, 600_000), default=0, help="latency: added ms.")
@pass_app
def fail_region(
    app: AppContext, region: str, mode: str, service: str | None, kind: str, rate: float, ms: int
) -> None:
    """Inject a fault into a region (an outage by default).

    \b
    Example:
      mr-failover sandbox fail-region us-east-1
      mr-failover sandbox fail-region us-west-2 --service dynamodb --mode 5xx
      mr-failover sandbox fail-region us-west-2 --kind latency --ms 800
    """
    if kind == "latency" and ms <= 0:
        raise UsageError("--kind latency needs --ms N (N > 0)")
    fault = _call(
        _client(app).fail_region,
        _check_region(region),
        service=service,
        kind=kind,
        mode=mode,
        rate=rate,
        ms=ms,
    )
    click.echo(f"fault #{fault['id']}: {describe_fault(fault)}")


@sandbox.command("heal-region")
@click.argument("region", shell_complete=complete_region)
@click.option("--service", help="Only this service's faults.")
@pass_app
def heal_region(app: AppContext, region: str, service: str | None) -> None:
    """Remove a region's faults (all of them, or one service's).

    \b
    Example:
      mr-failover sandbox heal-region us-east-1
    """
    healed = _call(_client(app).heal_region, _check_region(region), service)
    click.echo(f"{region}: {healed} fault(s) healed")


@sandbox.command("arc-endpoint")
@click.argument("index", type=click.IntRange(0, 4))
@click.option("--up", "mode", flag_value="up", help="Serve again (same port).")
@click.option("--down", "mode", flag_value="down", help="Close the listener.")
@click.option(
    "--unavailable",
    "mode",
    flag_value="unavailable",
    help="Answer EndpointTemporarilyUnavailableException.",
)
@pass_app
def arc_endpoint(app: AppContext, index: int, mode: str | None) -> None:
    """Take one of the five Route 53 ARC cluster endpoints down, or bring it back.

    INDEX is 0-4, as `sandbox status` lists them.

    \b
    Example:
      mr-failover sandbox arc-endpoint 0 --down
      mr-failover sandbox arc-endpoint 1 --unavailable
      mr-failover sandbox arc-endpoint 0 --up
    """
    if mode is None:
        raise UsageError("say --up, --down or --unavailable")
    endpoint = _call(_client(app).set_arc_endpoint, index, mode)
    click.echo(f"arc endpoint {describe_arc_endpoint(endpoint)}")


@sandbox.command("quota")
@click.argument("region")
@click.argument("service_code", type=click.Choice(["fargate", "ec2", "lambda"]))
@click.option(
    "--value",
    type=click.FloatRange(0, 1e9),
    default=None,
    help="The quota's applied value in REGION.",
)
@click.option(
    "--other-usage",
    type=click.FloatRange(0, 1e9),
    default=None,
    help="Usage of other workloads, added to what the sandbox's resources use.",
)
@pass_app
def quota(
    app: AppContext,
    region: str,
    service_code: str,
    value: float | None,
    other_usage: float | None,
) -> None:
    """Show or set a simulated Service Quota (what `check capacity` reads).

    SERVICE_CODE is fargate (L-3032A538, On-Demand vCPU), ec2 (L-1216C47A, On-Demand
    Standard vCPU) or lambda (L-B99A9384, concurrent executions). Without --value or
    --other-usage it only shows the quota and its usage.

    \b
    Example:
      mr-failover sandbox quota us-west-2 fargate --value 10 --other-usage 9
      mr-failover sandbox quota us-west-2 ec2
    """
    codes = {"fargate": "L-3032A538", "ec2": "L-1216C47A", "lambda": "L-B99A9384"}
    client = _client(app)
    region = _check_region(region)
    if value is None and other_usage is None:
        rows = _call(client.quotas, region)
    else:
        rows = _call(
            client.set_quota,
            region,
            service_code,
            codes[service_code],
            value=value,
            other_usage=other_usage,
        )
    for row in rows:
        if row["service_code"] == service_code:
            click.echo(
                f"{region} {row['service_code']} {row['quota_code']} ({row['name']}): "
                f"quota {row['value']:g}, in use {row['usage']:g} "
                f"(other workloads {row['other_usage']:g})"
            )
