"""``make conformance``: run the conformance scenarios against a real AWS account.

    AWS_PROFILE=sandbox-account python -m tests.conformance.run [--yes] [--only NAME]
        [--regions us-east-1,us-west-2] [--sweep [RUN]]

The account is the one ``AWS_PROFILE`` names (refused without it, and refused when
``AWS_ENDPOINT_URL`` points somewhere else: the sandbox runs these scenarios in ``make
test``). It prints the account, the regions and the cost estimate, and asks before it
creates anything (``--yes`` skips the question). Every resource is named
``mrf-conf-<run>-...`` and tagged ``mr-failover-conformance=<run>``; each scenario deletes
what it made even when it fails, and a sweep by name and tag runs at the end whatever
happened (also on Ctrl-C). ``--sweep`` alone deletes what an earlier run left (all runs,
or the one given). Exit 0 when every scenario passed, 1 otherwise, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from tests.conformance.scenarios import (
    COST_USD,
    SCENARIOS,
    Context,
    new_run_id,
    run_all,
    sweep,
)

WAIT_SECONDS = 900.0  # a DynamoDB replica takes minutes; S3 replication usually seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make conformance", description=__doc__.split("\n")[0])
    parser.add_argument("--yes", action="store_true", help="do not ask before creating")
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS), default=None)
    parser.add_argument("--regions", default="us-east-1,us-west-2")
    parser.add_argument("--sweep", nargs="?", const="", default=None, metavar="RUN")
    args = parser.parse_args(argv)
    if not os.environ.get("AWS_PROFILE"):
        print("set AWS_PROFILE to the profile of a test account", file=sys.stderr)
        return 2
    if os.environ.get("AWS_ENDPOINT_URL"):
        print("unset AWS_ENDPOINT_URL: this runs against AWS itself", file=sys.stderr)
        return 2
    home, _, other = args.regions.partition(",")
    if not other or home == other:
        print("--regions takes two different regions: A,B", file=sys.stderr)
        return 2
    import boto3

    session = boto3.Session()
    clients: dict[tuple[str, str], Any] = {}

    def client(service: str, region: str) -> Any:
        if (service, region) not in clients:
            clients[(service, region)] = session.client(service, region_name=region)  # type: ignore[call-overload]
        return clients[(service, region)]

    regions = (home, other)
    if args.sweep is not None:
        for line in sweep(client, regions, args.sweep or None):
            print(f"deleted {line}")
        return 0
    account = client("sts", home).get_caller_identity()["Account"]
    names = args.only or list(SCENARIOS)
    cost = sum(COST_USD[n] for n in names)
    run_id = new_run_id()
    print(f"account {account} (profile {os.environ['AWS_PROFILE']}), regions {home} and {other}")
    print(f"run {run_id}: {len(names)} scenario(s): {', '.join(names)}")
    print(
        f"estimated AWS cost: about ${cost:.2f} at list prices (health checks, a hosted zone "
        "deleted within 12 hours, an on-demand global table, two buckets, two alarms, for "
        "the 5-15 minutes they exist); see docs/CONFORMANCE.md"
    )
    if not args.yes and input("create these throwaway resources? [y/N] ").strip().lower() != "y":
        print("nothing created")
        return 1
    ctx = Context(client, run_id, regions, time.sleep, WAIT_SECONDS)
    results: dict[str, str | None] = {}
    try:
        results = run_all(ctx, names)
    finally:
        for line in ctx.cleanup.run():
            print(f"cleanup failed: {line}", file=sys.stderr)
        try:
            for line in sweep(client, regions, run_id):
                print(f"swept {line}")
        except Exception as exc:
            print(
                f"the sweep failed ({exc}); run `make conformance ARGS='--sweep {run_id}'`",
                file=sys.stderr,
            )
    for name, failure in results.items():
        print(
            f"{'PASS' if failure is None else 'FAIL'} {name}" + (f": {failure}" if failure else "")
        )
    return 0 if results and all(f is None for f in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
