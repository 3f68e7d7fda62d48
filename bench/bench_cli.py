"""CLI timings: cold ``mr-failover --help`` versus ``aws --version``, and ``status``.

Run: ``.venv/bin/python bench/bench_cli.py [--runs 10] [--status-runs 5] [--quick]``.

* ``--help`` is measured as a user feels it: a fresh process through the installed
  entry point, median of N runs. The goal is under 0.15 s. ``aws --version`` (the AWS
  CLI v1, on PATH) is the same measure for the tool SREs already use.
* ``status`` runs the example topology against a loopback endpoint: the project's
  sandbox when ``mr_failover.sandbox.seed`` is importable, else a bare moto
  ThreadedMotoServer seeded here with the few resources status reads.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import quick

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "regions.yaml"
ENTRY = Path(sys.executable).parent / "mr-failover"
HELP_GOAL = 0.15
ENV = {
    **os.environ,
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "NO_COLOR": "1",
}
ENV.pop("AWS_PROFILE", None)


def timed(argv: Sequence[str], runs: int, env: dict[str, str] | None = None) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=False)
        out.append(time.perf_counter() - started)
    return out


def start_endpoint(server: str) -> tuple[str, Path, Callable[[], None], str]:
    """(endpoint, topology file with ids, stop function, what serves it)."""
    os.environ.update({k: ENV[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
    if server != "moto":
        try:
            from mr_failover.sandbox.core import Sandbox
            from mr_failover.sandbox.seed import seed_file
        except ImportError:
            if server == "sandbox":
                raise
        else:
            sandbox = Sandbox()
            url = sandbox.start()
            seeded = Path(tempfile.mkdtemp(prefix="mr-failover-bench-")) / "regions.yaml"
            seed_file(EXAMPLE, url, write_topology=seeded)
            return url, seeded, sandbox.stop, "project sandbox"
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto_server.start()
    host, port = moto_server.get_host_and_port()
    url = f"http://{host}:{port}"
    seed_minimally(url)
    return url, EXAMPLE, moto_server.stop, "bare moto server"


def seed_minimally(url: str) -> None:
    """Enough for status to find every resource of the example (moto has no replicas)."""
    import boto3
    import yaml

    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())

    def client(service: str, region: str) -> Any:
        return boto3.client(service, region_name=region, endpoint_url=url)

    r53 = client("route53", "us-east-1")
    zone_ids: dict[str, str] = {}
    checks: dict[str, str] = {}
    writer = next(n for n, r in data["regions"].items() if r["aurora"]["role"] == "writer")
    ordered = [writer, *(n for n in data["regions"] if n != writer)]
    for name in ordered:
        region = data["regions"][name]
        for hc in region["traffic"]["health_checks"]:
            hc_id = r53.create_health_check(
                CallerReference=hc["name"],
                HealthCheckConfig={"Type": "HTTPS", "FullyQualifiedDomainName": hc["fqdn"]},
            )["HealthCheck"]["Id"]
            checks[hc["name"]] = hc_id
            r53.change_tags_for_resource(
                ResourceType="healthcheck",
                ResourceId=hc_id,
                AddTags=[{"Key": "Name", "Value": hc["name"]}],
            )
        for rec in region["traffic"]["records"]:
            if rec["zone"] not in zone_ids:
                zone_ids[rec["zone"]] = r53.create_hosted_zone(
                    Name=rec["zone"], CallerReference=rec["zone"]
                )["HostedZone"]["Id"]
            r53.change_resource_record_sets(
                HostedZoneId=zone_ids[rec["zone"]],
                ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": {
                    "Name": rec["name"], "Type": "CNAME", "SetIdentifier": rec["set_identifier"],
                    "Region": name, "TTL": 60, "ResourceRecords": [{"Value": rec["value"]}],
                    "HealthCheckId": checks[rec["health_check"]]}}]},
            )  # fmt: skip
        a = region["aurora"]
        rds = client("rds", name)
        if a["role"] == "writer":
            rds.create_global_cluster(
                GlobalClusterIdentifier=a["global_cluster"], Engine="aurora-mysql"
            )
        extra = (
            {"MasterUsername": "admin", "MasterUserPassword": "password123"}
            if a["role"] == "writer"
            else {}
        )
        rds.create_db_cluster(DBClusterIdentifier=a["cluster"], Engine="aurora-mysql",
                              GlobalClusterIdentifier=a["global_cluster"], **extra)  # fmt: skip
        for table in region["dynamodb_tables"]:
            client("dynamodb", name).create_table(
                TableName=table, BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            )  # fmt: skip
        s3 = client("s3", name)
        for bucket in region["s3_buckets"]:
            kw = (
                {}
                if name == "us-east-1"
                else {"CreateBucketConfiguration": {"LocationConstraint": name}}
            )
            s3.create_bucket(Bucket=bucket["name"], **kw)
            s3.put_bucket_versioning(
                Bucket=bucket["name"], VersioningConfiguration={"Status": "Enabled"}
            )
        # compute stays absent: status reports it as missing, which costs the same calls.


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--status-runs", type=int, default=5)
    parser.add_argument(
        "--server",
        choices=["auto", "sandbox", "moto"],
        default="auto",
        help="auto: the project sandbox when it exists, else a bare moto server",
    )
    args = quick.parse(parser, runs=1, status_runs=1)

    aws = shutil.which("aws")
    helps = timed([str(ENTRY), "--help"], args.runs)
    help_median = statistics.median(helps)
    met = "met" if help_median < HELP_GOAL else "MISSED"
    print(
        f"mr-failover --help   median {help_median:.3f} s over {args.runs} cold runs "
        f"(min {min(helps):.3f}, goal < {HELP_GOAL} s: {met})"
    )
    if aws:
        versions = timed([aws, "--version"], args.runs)
        aws_median = statistics.median(versions)
        print(f"aws --version        median {aws_median:.3f} s over {args.runs} cold runs ({aws})")
        ratio = help_median / aws_median
        print(f"ratio                mr-failover --help / aws --version = {ratio:.2f}")
    else:
        print("aws --version        skipped: no `aws` on PATH")

    url, config, stop, what = start_endpoint(args.server)
    try:
        argv = [str(ENTRY), "--config", str(config), "--endpoint-url", url, "-o", "json", "status"]
        first = subprocess.run(argv, env=ENV, capture_output=True, text=True, check=False)
        try:
            doc = json.loads(first.stdout)
            verdicts = ", ".join(f"{r['name']}={r['verdict']}" for r in doc["regions"])
            inner = f"{doc['elapsed_seconds']:.3f} s inside observe()"
        except (ValueError, KeyError):
            verdicts, inner = (
                f"unparsed output: {first.stdout[:200]!r} {first.stderr[-300:]!r}",
                "?",
            )
        runs = timed(argv, args.status_runs, env=ENV)
        print(
            f"mr-failover status   median {statistics.median(runs):.3f} s over "
            f"{args.status_runs} runs against {what} at {url}\n"
            f"                     (exit {first.returncode}; {verdicts}; first run {inner})"
        )
    finally:
        stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
