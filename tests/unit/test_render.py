"""render.status_table: exact lines for reports built by hand (no AWS)."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, datetime

from rich.console import Console

from mr_failover.render import show, status_table, to_json
from mr_failover.resources import aurora, compute, dynamodb, route53, s3
from mr_failover.resources.aurora import AuroraStatus
from mr_failover.resources.compute import ComputeStatus
from mr_failover.resources.dynamodb import DynamoDbStatus, IncomingLag
from mr_failover.resources.route53 import TrafficStatus
from mr_failover.resources.s3 import ReplicationBacklog, S3Status
from mr_failover.resources.section import RegionStatus, SectionError
from mr_failover.status import StatusReport
from tests.route53_health import share

E, W = "us-east-1", "us-west-2"
ARN = {r: f"arn:aws:rds:{r}:123456789012:cluster:c-{r}" for r in (E, W)}


def _hc(ok: int, total: int, inverted: bool = False, disabled: bool = False) -> TrafficStatus:
    return TrafficStatus(
        health_checks=(
            route53.HealthCheckFinding(
                "api", "hc-1", 1, inverted, disabled, None if disabled else share(ok, total - ok)
            ),
        ),
        records=(
            route53.RecordFinding(
                "api.example.com.", "x", "CNAME", True, routing_policy="weighted", weight=0
            ),
        ),
    )


def _aurora(region: str, failover: bool = False) -> AuroraStatus:
    members = tuple(
        aurora.GlobalMember(ARN[r], r, r == E, None if r == E else "connected") for r in (E, W)
    )
    state = aurora.FailoverInProgress("switching-over", ARN[E], ARN[W], False) if failover else None
    return AuroraStatus(
        mode="global",
        cluster=aurora.ClusterFinding(f"c-{region}", ARN[region], "available", "a", "8", None),
        global_cluster=aurora.GlobalClusterFinding("g", "available", members, state),
        lag_seconds=None if region == E else 0.25,
        lag_metric=None if region == E else "AuroraGlobalDBRPOLag",
    )


def _report() -> StatusReport:
    east = RegionStatus(
        name=E,
        verdict="drained",
        can_take_over=True,
        is_writer=True,
        reasons=(),
        warnings=(),
        errors=(),
        traffic=_hc(8, 8, inverted=True),
        aurora=_aurora(E, failover=True),
        dynamodb=DynamoDbStatus(
            tables=(dynamodb.TableFinding("orders", E, "ACTIVE", ()),),
            outgoing=(),
            incoming=(IncomingLag("orders", W, 1250.0),),
        ),
        s3=S3Status(
            buckets=(
                s3.BucketFinding(
                    "b-e", "Enabled", (s3.ReplicationRule("r", True, "b-w", True, True),)
                ),
            ),
            backlog=(ReplicationBacklog("b-e", "b-w", W, "r", 0.0, 2.0),),
        ),
        compute=ComputeStatus(
            services=(
                compute.ServiceFinding("ecs", "c/api", True, 4, 3),
                compute.ServiceFinding("asg", "web", True, 2, 2),
            ),
            functions=(compute.FunctionFinding("fn", True, "Active"),),
        ),
    )
    west = RegionStatus(
        name=W,
        verdict="unreachable",
        can_take_over=False,
        is_writer=False,
        reasons=("aurora: rds:DescribeDBClusters in us-west-2 failed: no answer",),
        warnings=("traffic: health check api is disabled",),
        errors=(
            SectionError("aurora", W, "rds:DescribeDBClusters", "no answer", True),
            SectionError("s3", W, "s3:GetBucketVersioning", "AccessDenied", False),
        ),
        traffic=_hc(0, 8, disabled=True),
    )
    return StatusReport(
        application="shop",
        account_id="123456789012",
        account=None,
        account_error=None,
        observed_at=datetime(2026, 11, 27, 12, 0, tzinfo=UTC),
        elapsed_seconds=0.42,
        deadline_seconds=8.0,
        rpo_seconds=60,
        regions=(east, west),
        warnings=("account not verified: no answer",),
    )


def _render(width: int) -> list[str]:
    console = Console(width=width, no_color=True, record=True, file=io.StringIO())
    show(console, status_table(_report()))
    return [line.rstrip() for line in console.export_text().splitlines()]


def test_status_table_exact_lines() -> None:
    # 80 columns: the columns that fit, one line per region; the rest under the table.
    assert _render(80) == [
        "shop: could each region take over?",
        "Region     Verdict      Takeover  Traffic             Aurora",
        "─" * 76,
        "us-east-1  DRAINED      yes       inverted, weight 0  writer, switching-over",
        "us-west-2  UNREACHABLE  no        disabled, weight 0  no answer",
        # One part per section, each kept on one line when it fits.
        "us-east-1: DynamoDB 1/1 active, lag 1.2s; S3 1/1 on, RTC, 2 failed;",
        "  Compute ecs 3/4 asg 2/2 fn 1/1",
        "us-west-2: DynamoDB -; S3 error; Compute -",
        "us-west-2: aurora: rds:DescribeDBClusters in us-west-2 failed: no answer",
        "us-west-2: warning: traffic: health check api is disabled",
        "warning: account not verified: no answer",
        "NOT READY (observed in 0.4 s)",
    ]
    # Wider: more columns, each cell still on one line; the table is as wide as its cells.
    assert _render(120)[1:5] == [
        "Region     Verdict      Takeover  Traffic             Aurora                  DynamoDB",
        "─" * 98,
        "us-east-1  DRAINED      yes       inverted, weight 0  writer, switching-over  1/1 active, lag 1.2s",  # noqa: E501
        "us-west-2  UNREACHABLE  no        disabled, weight 0  no answer               -",
    ]  # fmt: skip
    assert _render(120)[5:7] == [
        "us-east-1: S3 1/1 on, RTC, 2 failed; Compute ecs 3/4 asg 2/2 fn 1/1",
        "us-west-2: S3 error; Compute -",
    ]


def test_failing_inverted_check_is_shown_as_failing() -> None:
    def traffic_cell(r: RegionStatus) -> str:
        return route53.SECTION.cell(r).text

    region = RegionStatus(
        name=E, verdict="degraded", can_take_over=False, is_writer=None, reasons=(), warnings=(),
        errors=(), traffic=_hc(1, 8, inverted=True),
    )  # fmt: skip
    assert traffic_cell(region) == "failing (inverted), weight 0"


def test_a_cell_never_says_ok_where_a_reason_says_otherwise() -> None:
    # issue 13: the DynamoDB cell said "2/2 ok" while a reason said the table had no
    # replica; every section's cell now counts its own reasons.
    region = RegionStatus(
        name=W, verdict="degraded", can_take_over=False, is_writer=False,
        reasons=("dynamodb: orders has no replica in us-east-1",), warnings=(), errors=(),
        dynamodb=DynamoDbStatus(
            tables=(dynamodb.TableFinding("orders", W, "ACTIVE", ()),), outgoing=()
        ),
    )  # fmt: skip
    assert dynamodb.SECTION.cell(region).text == "1/1 active, 1 problem"
    assert dynamodb.SECTION.cell(region).style == "red"


def test_aurora_lag_says_how_old_its_datapoint_is() -> None:
    region = RegionStatus(
        name=W, verdict="serving", can_take_over=True, is_writer=False, reasons=(),
        warnings=(), errors=(), aurora=replace(_aurora(W), lag_age_seconds=95.0),
    )  # fmt: skip
    assert aurora.SECTION.cell(region).text == "lag 0.2s (95s ago)"


def test_json_is_stable_and_versioned() -> None:
    doc = _report().to_json()
    text = to_json(doc)
    assert json.loads(text) == json.loads(json.dumps(doc, default=str))
    assert text == to_json(_report().to_json())  # sorted keys: byte-identical
    assert (doc["schema"], doc["version"], doc["healthy"]) == ("mr-failover/status", 2, False)
    east = doc["regions"][0]
    assert east["aurora"]["global_cluster"]["failover"] == {
        "status": "switching-over",
        "from_cluster_arn": ARN[E],
        "to_cluster_arn": ARN[W],
        "data_loss_allowed": False,
    }
    assert east["traffic"]["health_checks"][0]["raw_healthy"] is True
    assert east["traffic"]["health_checks"][0]["effective_healthy"] is False
    assert "\n" not in to_json(doc, indent=None)
