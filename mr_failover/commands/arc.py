"""``mr-failover arc endpoints [--refresh]``: the ARC cluster's endpoints, ready to paste."""

from __future__ import annotations

import json

import click

from mr_failover.cli import AppContext, pass_app


@click.group("arc")
def arc_group() -> None:
    """Route 53 ARC: the routing controls' cluster.

    \b
    Example:
      mr-failover arc endpoints
      mr-failover arc endpoints --refresh
    """


@arc_group.command()
@click.option(
    "--refresh",
    is_flag=True,
    help="Read DescribeCluster (ARC control plane, us-west-2) and rewrite the cache.",
)
@pass_app
def endpoints(app: AppContext, refresh: bool) -> None:
    """Print the ARC cluster's five endpoints, where they came from, as topology YAML.

    Without --refresh: the topology's list, else this machine's cache, else
    DescribeCluster (then cached). Paste the output into the topology so that no
    control-plane call is needed during an outage.

    \b
    Example:
      mr-failover arc endpoints
      mr-failover arc endpoints --refresh >> arc-block.yaml
    """
    from mr_failover.resources import arc

    found = arc.resolve_endpoints(app.topology(), app.factory(), refresh=refresh)
    cache = arc.cache_path(found.cluster_arn)
    if app.output == "json":
        click.echo(
            json.dumps(
                {
                    "cluster_arn": found.cluster_arn,
                    "source": found.source,
                    "read_at": found.read_at,
                    "cache": str(cache),
                    "endpoints": [e.model_dump() for e in found.endpoints],
                },
                indent=2,
            )
        )
        return
    where = {
        "topology": "the topology's arc.endpoints",
        "cache": f"the cache {cache} (DescribeCluster read at {found.read_at})",
        "control plane": f"DescribeCluster in {arc.CONTROL_PLANE_REGION}, now cached in {cache}",
    }[found.source]
    click.echo(f"# {len(found.endpoints)} endpoints from {where}", err=True)
    click.echo(found.to_yaml(), nl=False)
