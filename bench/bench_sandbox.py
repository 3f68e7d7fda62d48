"""Sandbox benchmarks: start + seed time, and per-call overhead against a bare moto server.

Run: ``.venv/bin/python bench/bench_sandbox.py [--runs N] [--calls N] [--quick]``. Prints medians.
Goal: start and seed the example topology in under 2 s. Both servers live in this one
process on loopback (they share moto's state, which is what makes the comparison fair).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import quick

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "regions.yaml"
CONFIG = botocore.config.Config(retries={"total_max_attempts": 1}, read_timeout=10)


def _client(service: str, region: str, endpoint: str) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=CONFIG,
    )


def start_and_seed(runs: int, fast: bool = False) -> tuple[list[float], list[float], list[float]]:
    """Start a sandbox and seed the example topology, ``runs`` times (first run: cold)."""
    from mr_failover import topology
    from mr_failover.aws import ClientFactory
    from mr_failover.sandbox.core import Sandbox, SandboxSettings
    from mr_failover.sandbox.seed import seed

    # fast: replicas ACTIVE and tasks RUNNING after 50 ms instead of the defaults, which
    # is what the seeder waits for (after the rest of its work, so mostly overlapped).
    settings = (
        SandboxSettings(
            dynamodb_replication_lag=0.05,
            dynamodb_replica_creation_seconds=0.05,
            ecs_task_start_seconds=0.05,
            s3_replication_lag=0.05,
            tick=0.02,
        )
        if fast
        else SandboxSettings()
    )

    t = topology.load(EXAMPLE)
    starts, totals, cpus = [], [], []
    for _ in range(runs):
        cpu = time.process_time()  # every thread's CPU: what other load cannot inflate
        began = time.perf_counter()
        sandbox = Sandbox(settings=settings)
        url = sandbox.start()
        started = time.perf_counter()
        seed(t, ClientFactory(t, endpoint_url=url))
        done = time.perf_counter()
        cpus.append(time.process_time() - cpu)
        sandbox.reset()
        sandbox.stop()
        starts.append(started - began)
        totals.append(done - began)
    return starts, totals, cpus


def call_latency(calls: int) -> tuple[float, float]:
    from moto.server import ThreadedMotoServer

    from mr_failover.sandbox.core import Sandbox

    sandbox = Sandbox()
    sandbox_url = sandbox.start()
    bare = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    bare.start()
    host, port = bare.get_host_and_port()
    bare_url = f"http://{host}:{port}"
    try:
        _client("dynamodb", "us-east-1", sandbox_url).create_table(
            TableName="bench",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        clients = [_client("dynamodb", "us-east-1", url) for url in (sandbox_url, bare_url)]
        samples: list[list[float]] = [[], []]
        for ddb in clients:
            ddb.describe_table(TableName="bench")  # warm the connection
        for _ in range(calls):  # alternate, so machine noise hits both alike
            for i, ddb in enumerate(clients):
                began = time.perf_counter()
                ddb.describe_table(TableName="bench")
                samples[i].append(time.perf_counter() - began)
        medians = [statistics.median(s) for s in samples]
        return medians[0], medians[1]
    finally:
        bare.stop()
        sandbox.reset()
        sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200)
    args = quick.parse(parser, runs=1, calls=20)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the bare server logs each call
    for fast in (False, True):
        starts, totals, cpus = start_and_seed(args.runs, fast)
        label = "short lags" if fast else "default lags"
        print(
            f"[{label}] sandbox start:        median {statistics.median(starts) * 1000:7.1f} ms"
            f" (runs: {', '.join(f'{s * 1000:.0f}' for s in starts)})"
        )
        print(
            f"[{label}] start + seed example: median {statistics.median(totals) * 1000:7.1f} ms"
            f" (goal < 2000 ms; runs: {', '.join(f'{s * 1000:.0f}' for s in totals)})"
        )
        print(
            f"[{label}] CPU of start + seed:  median {statistics.median(cpus) * 1000:7.1f} ms"
            f" (runs: {', '.join(f'{s * 1000:.0f}' for s in cpus)}; wall minus CPU is waiting,"
            " or other processes' load)"
        )
    through, bare = call_latency(args.calls)
    print(
        f"DescribeTable median: sandbox {through * 1000:.2f} ms, bare moto server "
        f"{bare * 1000:.2f} ms, overhead {(through - bare) * 1000:+.2f} ms "
        f"({args.calls} calls each)"
    )


if __name__ == "__main__":
    main()
