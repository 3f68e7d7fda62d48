"""``status`` fan-out against a sequential shell script of ``aws`` CLI calls.

Run: ``.venv/bin/python bench/bench_status.py [--runs 3] [--latency-ms 100]
[--topology example|large|both] [--no-script] [--script-calls N] [--quick]``.

A sandbox (in-process, on loopback) is seeded with the topology, and a latency fault adds
``--latency-ms`` to every AWS call in every region (the sandbox's ``latency`` fault).
Then, for the example topology (config/regions.yaml, cut to the traffic, Aurora,
DynamoDB, S3 and compute sections that the script reads too) and a generated large one (10
regions, 20 DynamoDB tables, 20 S3 buckets, 10 Aurora clusters in one global database):

* ``mr-failover --output json status`` as a fresh process: median wall time of
  ``--runs``, and how many AWS calls one run made (from the sandbox's call log);
* a generated bash script that reads the same things with the AWS CLI v1, one
  ``aws ... --endpoint-url`` process after another (what an SRE would write): its wall
  time (one run: it is slow);
* the sum of the added latency over status's calls (what running them one after another
  would cost in latency alone) and the longest chain of dependent calls (the floor).

The goal: status's wall time close to the chain, not the sum. Figures go to
docs/PERFORMANCE.md; ``bench/run.py`` runs this with its defaults.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import quick
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "regions.yaml"
ENTRY = Path(sys.executable).parent / "mr-failover"
LARGE_REGIONS = (
    "us-east-1", "us-west-2", "us-east-2", "us-west-1", "eu-west-1",
    "eu-central-1", "eu-west-2", "ap-southeast-1", "ap-northeast-1", "ap-southeast-2",
)  # fmt: skip
# The sections both status and the generated aws script read (newer sections of the
# example, such as accelerators and caches, are left out so that both read the same).
TOP_KEYS = ("application", "account_id", "primary_region", "policy", "lock", "regions")
REGION_KEYS = ("traffic", "aurora", "dynamodb_tables", "s3_buckets", "compute")
ENV = {
    **os.environ,
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "NO_COLOR": "1",
    "MOTO_ECS_SERVICE_RUNNING": "2",
}
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
    ENV.pop(_name, None)


def large_topology(regions: tuple[str, ...] = LARGE_REGIONS) -> dict[str, Any]:
    """10 regions; 2 global tables and 2 buckets per region (20 each); 10 Aurora members."""
    doc: dict[str, Any] = {
        "application": "big",
        "account_id": "123456789012",
        "primary_region": regions[0],
        "policy": {"rpo_seconds": 60, "rto_seconds": 900},
        "regions": {},
    }
    for i, name in enumerate(regions):
        nxt = regions[(i + 1) % len(regions)]
        short = f"r{i}"
        doc["regions"][name] = {
            "traffic": {
                "drain_lever": "health_check_inversion",
                "health_checks": [{"name": f"api-{name}", "fqdn": f"api-{name}.big.example.com"}],
                "records": [
                    {
                        "zone": "big.example.com.",
                        "name": "api.big.example.com.",
                        "set_identifier": name,
                        "routing_policy": "latency",
                        "value": f"api-{name}.big.example.com",
                        "health_check": f"api-{name}",
                    }
                ],
            },
            "aurora": {
                "mode": "global",
                "global_cluster": "big-global",
                "cluster": f"big-{short}",
                "role": "writer" if i == 0 else "secondary",
            },
            # 20 tables, each a global table with a replica in this region and the next.
            "dynamodb_tables": [f"big-t{i}a", f"big-t{i}b", *_from_previous(i, len(regions))],
            "s3_buckets": [
                {
                    "name": f"big-{short}-{kind}",
                    "replicate_to": [
                        {"bucket": f"big-r{(i + 1) % len(regions)}-{kind}", "region": nxt}
                    ],
                }
                for kind in ("a", "b")
            ],
            "compute": {
                "ecs_services": [{"cluster": "big", "service": "api", "takeover_desired": 4}],
                "lambda_functions": [{"name": f"big-fn-{short}"}],
            },
        }
    return doc


def core_example() -> dict[str, Any]:
    """config/regions.yaml cut to :data:`REGION_KEYS` (what the aws script reads too).

    The traffic section's routing controls go too: they need the top-level ``arc``, which
    is not among :data:`TOP_KEYS`, and the aws script does not read them.
    """
    data = yaml.safe_load(EXAMPLE.read_text())
    out = {k: data[k] for k in TOP_KEYS if k in data}
    out["regions"] = {
        name: {k: region[k] for k in REGION_KEYS if k in region}
        for name, region in data["regions"].items()
    }
    for region in out["regions"].values():  # routing controls come with 'arc', left out
        region.get("traffic", {}).pop("routing_controls", None)
    return out


def _from_previous(i: int, n: int) -> list[str]:
    prev = (i - 1) % n
    return [f"big-t{prev}a", f"big-t{prev}b"]


def aws_script(topology: Any, endpoint: str) -> str:
    """A bash script reading what status reads, one ``aws`` process per call, in order."""
    lines = ["#!/bin/bash", "set -u", f"E={shlex.quote(endpoint)}"]

    def aws(region: str, *args: str) -> None:
        quoted = " ".join(shlex.quote(a) for a in args)
        lines.append(f"aws --endpoint-url $E --region {region} --output json {quoted} >/dev/null")

    end = "2100-01-01T00:00:00Z"
    lines.append("")
    aws(topology.primary_region, "sts", "get-caller-identity")
    for name, region in topology.regions.items():
        for hc in region.traffic.health_checks:
            aws("us-east-1", "route53", "get-health-check", "--health-check-id", hc.id or "x")
            aws(
                "us-east-1", "route53", "get-health-check-status", "--health-check-id", hc.id or "x"
            )
        for rec in region.traffic.records:
            zone = rec.hosted_zone_id or "x"
            aws("us-east-1", "route53", "list-resource-record-sets", "--hosted-zone-id", zone,
                "--start-record-name", rec.name, "--max-items", "10")  # fmt: skip
        if region.aurora is not None:
            aws(
                name,
                "rds",
                "describe-db-clusters",
                "--db-cluster-identifier",
                region.aurora.cluster,
            )
            if region.aurora.global_cluster:
                aws(name, "rds", "describe-global-clusters", "--global-cluster-identifier",
                    region.aurora.global_cluster)  # fmt: skip
            if region.aurora.role != "writer":
                aws(name, "cloudwatch", "get-metric-statistics", "--namespace", "AWS/RDS",
                    "--metric-name", "AuroraGlobalDBRPOLag", "--dimensions",
                    f"Name=DBClusterIdentifier,Value={region.aurora.cluster}",
                    "--start-time", "2000-01-01T00:00:00Z", "--end-time", end,
                    "--period", "60", "--statistics", "Maximum")  # fmt: skip
        for table in region.dynamodb_tables:
            aws(name, "dynamodb", "describe-table", "--table-name", table)
            for other in topology.regions:
                if other != name and table in topology.regions[other].dynamodb_tables:
                    aws(name, "cloudwatch", "get-metric-statistics", "--namespace",
                        "AWS/DynamoDB", "--metric-name", "ReplicationLatency", "--dimensions",
                        f"Name=TableName,Value={table}", f"Name=ReceivingRegion,Value={other}",
                        "--start-time", "2000-01-01T00:00:00Z", "--end-time", end,
                        "--period", "60", "--statistics", "Average")  # fmt: skip
        for bucket in region.s3_buckets:
            aws(name, "s3api", "get-bucket-versioning", "--bucket", bucket.name)
            aws(name, "s3api", "get-bucket-replication", "--bucket", bucket.name)
        compute = region.compute
        if compute is not None:
            for svc in compute.ecs_services:
                aws(name, "ecs", "describe-services", "--cluster", svc.cluster, "--services",
                    svc.service)  # fmt: skip
            for asg in compute.autoscaling_groups:
                aws(name, "autoscaling", "describe-auto-scaling-groups",
                    "--auto-scaling-group-names", asg.name)  # fmt: skip
            for fn in compute.lambda_functions:
                aws(name, "lambda", "get-function-configuration", "--function-name", fn.name)
    return "\n".join(lines) + "\n"


def first_calls(script: str, calls: int | None) -> str:
    """``script`` with only its first ``calls`` aws calls (all of them when None)."""
    if calls is None:
        return script
    kept: list[str] = []
    for line in script.splitlines():
        if line.startswith("aws "):
            if calls == 0:
                continue
            calls -= 1
        kept.append(line)
    return "\n".join(kept) + "\n"


def measure(
    label: str,
    source: Path,
    runs: int,
    latency_ms: int,
    with_script: bool = True,
    script_calls: int | None = None,
) -> dict[str, Any]:
    from mr_failover import topology as topo
    from mr_failover.sandbox.client import SandboxClient
    from mr_failover.sandbox.core import Sandbox
    from mr_failover.sandbox.seed import seed_file

    os.environ.update({k: ENV[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                           "MOTO_ECS_SERVICE_RUNNING")})  # fmt: skip
    sandbox = Sandbox()
    url = sandbox.start()
    work = Path(tempfile.mkdtemp(prefix="mr-failover-bench-status-"))
    try:
        t0 = time.perf_counter()
        seeded = work / "topology.yaml"
        seed_file(source, url, write_topology=seeded)
        seed_seconds = time.perf_counter() - t0
        loaded = topo.load(seeded)
        control = SandboxClient(url, token=sandbox.token)
        control.advance(1.1)  # one round of metrics
        for region in loaded.regions:
            control.fail_region(region, kind="latency", ms=latency_ms)
        argv = [str(ENTRY), "--config", str(seeded), "--endpoint-url", url, "-o", "json", "status"]
        walls, inner, calls, verdicts = [], [], 0, ""
        for _ in range(runs):
            before = len(control.calls())
            t0 = time.perf_counter()
            done = subprocess.run(argv, env=ENV, capture_output=True, text=True, check=False)
            walls.append(time.perf_counter() - t0)
            calls = len(control.calls()) - before
            doc = json.loads(done.stdout)
            inner.append(doc["elapsed_seconds"])
            verdicts = ", ".join(sorted({r["verdict"] for r in doc["regions"]}))
        script = work / "status.sh"
        script.write_text(first_calls(aws_script(loaded, url), script_calls))
        shell_calls = sum(1 for line in script.read_text().splitlines() if line.startswith("aws "))
        shell_wall, shell_ok = float("nan"), True
        if with_script:
            t0 = time.perf_counter()
            shell = subprocess.run(["bash", str(script)], env=ENV, capture_output=True,
                                   text=True, check=False)  # fmt: skip
            shell_wall, shell_ok = time.perf_counter() - t0, shell.returncode == 0
    finally:
        sandbox.stop()
    return {
        "label": label,
        "regions": len(loaded.regions),
        "seed_seconds": seed_seconds,
        "status_wall": statistics.median(walls),
        "status_observe": statistics.median(inner),
        "status_calls": calls,
        "verdicts": verdicts,
        "sum_latency": calls * latency_ms / 1000,
        "shell_wall": shell_wall,
        "shell_calls": shell_calls,
        "shell_ok": shell_ok,
        "runs": runs,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--topology", choices=["example", "large", "both"], default="both")
    parser.add_argument(
        "--no-script", action="store_true", help="skip the (slow) sequential aws CLI script"
    )
    parser.add_argument(
        "--script-calls", type=int, default=None, help="run only the script's first N aws calls"
    )
    args = quick.parse(parser, runs=1, latency_ms=10, topology="example", script_calls=2)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    work = Path(tempfile.mkdtemp(prefix="mr-failover-bench-large-"))
    large = work / "large.yaml"
    large.write_text(yaml.safe_dump(large_topology(), sort_keys=False))
    example = work / "example.yaml"
    example.write_text(yaml.safe_dump(core_example(), sort_keys=False))
    chosen = {"example": [("example", example)], "large": [("large", large)]}.get(
        args.topology, [("example", example), ("large", large)]
    )
    print(f"status fan-out, {args.latency_ms} ms added to every AWS call (sandbox latency fault)")
    for label, path in chosen:
        r = measure(
            label,
            path,
            args.runs,
            args.latency_ms,
            with_script=not args.no_script,
            script_calls=args.script_calls,
        )
        ratio = r["shell_wall"] / r["status_wall"]
        print(
            f"  {label:8s} ({r['regions']} regions, seeded in {r['seed_seconds']:.1f} s): "
            f"status median {r['status_wall']:.2f} s wall ({r['status_observe']:.2f} s observing, "
            f"{r['status_calls']} calls, verdicts {r['verdicts']}) over {r['runs']} runs\n"
            f"           sequential aws CLI script: {r['shell_wall']:.2f} s for "
            f"{r['shell_calls']} calls{'' if r['shell_ok'] else ' (some calls failed)'}; "
            f"ratio script/status = {ratio:.1f}x\n"
            f"           sum of added latency over status's calls = {r['sum_latency']:.1f} s; "
            f"observe/sum = {r['status_observe'] / r['sum_latency']:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
