"""Readiness of every region: could each one take over right now?

:func:`observe` fans the read-only observations of :mod:`mr_failover.resources` out
over a pool of daemon threads, one task per (region, section), and waits at most
``deadline`` seconds: a task that has not answered by then is reported, never waited
for (daemon threads, so even the interpreter's exit does not wait for a black-holed
endpoint). Each region then gets a verdict (serving, drained, degraded, unreachable)
and a "can take over" answer with its reasons. The result is a tree of frozen
dataclasses; :meth:`StatusReport.to_json` is the stable, versioned schema documented
in docs/STATUS.md.

Every observation is asked of the region it describes (Route 53 excepted: its API lives
in us-east-1), and cross-region facts (DynamoDB lag into a region, S3 operations that
failed to reach it) are assembled afterwards from the sending region's findings, so a
dead region never hides the state of the others.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from mr_failover.aws import AccountCheck, ClientSource, check_account
from mr_failover.errors import (
    EXIT_NOT_READY,
    EXIT_OK,
    CredentialsError,
    MrFailoverError,
    RegionUnreachableError,
    UsageError,
)
from mr_failover.resources import aurora, cloudwatch, compute, dynamodb, route53, s3
from mr_failover.topology import Region, Topology

SCHEMA_VERSION = 1
DEFAULT_DEADLINE = 8.0
MAX_WORKERS = 16

Verdict = Literal["serving", "drained", "degraded", "unreachable"]
Section = Literal["traffic", "aurora", "dynamodb", "s3", "compute"]
SECTIONS: tuple[Section, ...] = ("traffic", "aurora", "dynamodb", "s3", "compute")
HEALTHY_VERDICTS: frozenset[str] = frozenset({"serving", "drained"})

T = TypeVar("T")


# --- what each section observed ------------------------------------------------------


@dataclass(frozen=True)
class TrafficStatus:
    health_checks: tuple[route53.HealthCheckFinding, ...]
    records: tuple[route53.RecordFinding, ...]


@dataclass(frozen=True)
class AuroraStatus:
    mode: str
    cluster: aurora.ClusterFinding
    global_cluster: aurora.GlobalClusterFinding | None
    lag_seconds: float | None
    lag_metric: str | None


@dataclass(frozen=True)
class DynamoDbStatus:
    tables: tuple[dynamodb.TableFinding, ...]
    outgoing: tuple[dynamodb.OutgoingLag, ...]


@dataclass(frozen=True)
class ReplicationBacklog:
    """S3 operations of one rule still pending or failed (None: metric not published)."""

    source_bucket: str
    destination_bucket: str
    destination_region: str
    rule_id: str
    pending: float | None
    failed: float | None


@dataclass(frozen=True)
class S3Status:
    buckets: tuple[s3.BucketFinding, ...]
    backlog: tuple[ReplicationBacklog, ...]


@dataclass(frozen=True)
class ComputeStatus:
    services: tuple[compute.ServiceFinding, ...]
    functions: tuple[compute.FunctionFinding, ...]


@dataclass(frozen=True)
class SectionError:
    section: str
    region: str
    call: str
    message: str
    unreachable: bool


@dataclass(frozen=True)
class IncomingLag:
    """DynamoDB replication latency into a region, as the sending region published it."""

    table: str
    source_region: str
    milliseconds: float | None


# --- the verdicts ---------------------------------------------------------------------


@dataclass(frozen=True)
class RegionStatus:
    name: str
    verdict: Verdict
    can_take_over: bool
    is_writer: bool | None
    reasons: tuple[str, ...]  # what stops this region from taking over
    warnings: tuple[str, ...]  # worth knowing, not blocking
    errors: tuple[SectionError, ...]
    traffic: TrafficStatus | None = None
    aurora: AuroraStatus | None = None
    dynamodb: DynamoDbStatus | None = None
    dynamodb_incoming: tuple[IncomingLag, ...] = ()
    s3: S3Status | None = None
    compute: ComputeStatus | None = None

    @property
    def healthy(self) -> bool:
        return self.verdict in HEALTHY_VERDICTS


@dataclass(frozen=True)
class StatusReport:
    application: str
    account_id: str
    account: AccountCheck | None
    account_error: str | None
    observed_at: datetime
    elapsed_seconds: float
    deadline_seconds: float
    rpo_seconds: int
    regions: tuple[RegionStatus, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def healthy(self) -> bool:
        return all(r.healthy for r in self.regions)

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.healthy else EXIT_NOT_READY

    def region(self, name: str) -> RegionStatus:
        return next(r for r in self.regions if r.name == name)

    def to_json(self) -> dict[str, Any]:
        """The documented schema (docs/STATUS.md); bump SCHEMA_VERSION on any change."""
        return {
            "schema": "mr-failover/status",
            "version": SCHEMA_VERSION,
            "application": self.application,
            "observed_at": self.observed_at.isoformat(),
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "deadline_seconds": self.deadline_seconds,
            "rpo_seconds": self.rpo_seconds,
            "healthy": self.healthy,
            "account": {
                "expected": self.account_id,
                "actual": self.account.actual if self.account else None,
                "arn": self.account.arn if self.account else None,
                "matches": self.account.matches if self.account else None,
                "error": self.account_error,
            },
            "warnings": list(self.warnings),
            "regions": [_region_json(r) for r in self.regions],
        }


def _region_json(r: RegionStatus) -> dict[str, Any]:
    traffic = None
    if r.traffic is not None:
        traffic = {
            "health_checks": [
                {
                    **asdict(hc),
                    "raw_healthy": hc.raw_healthy,
                    "effective_healthy": hc.effective_healthy,
                }
                for hc in r.traffic.health_checks
            ],
            "records": [asdict(rec) for rec in r.traffic.records],
        }
    aurora_json = None
    if r.aurora is not None:
        aurora_json = asdict(r.aurora)
        if r.aurora.global_cluster is not None:
            aurora_json["global_cluster"]["writer_region"] = r.aurora.global_cluster.writer_region
    return {
        "name": r.name,
        "verdict": r.verdict,
        "can_take_over": r.can_take_over,
        "is_writer": r.is_writer,
        "reasons": list(r.reasons),
        "warnings": list(r.warnings),
        "errors": [asdict(e) for e in r.errors],
        "traffic": traffic,
        "aurora": aurora_json,
        "dynamodb": None
        if r.dynamodb is None
        else {**asdict(r.dynamodb), "incoming": [asdict(i) for i in r.dynamodb_incoming]},
        "s3": None if r.s3 is None else asdict(r.s3),
        "compute": None if r.compute is None else asdict(r.compute),
    }


# --- observation: one task per (region, section) --------------------------------------


def observe_traffic(factory: ClientSource, spec: Region) -> TrafficStatus:
    client = factory.client("route53", route53.CONTROL_PLANE_REGION)
    checks = tuple(route53.observe_health_check(client, hc) for hc in spec.traffic.health_checks)
    records = tuple(route53.observe_records(client, spec.traffic.records))
    return TrafficStatus(health_checks=checks, records=records)


def observe_aurora(factory: ClientSource, region: str, spec: Region, now: datetime) -> AuroraStatus:
    assert spec.aurora is not None
    rds = factory.client("rds", region)
    cluster = aurora.observe_cluster(rds, spec.aurora.cluster)
    global_cluster = None
    if spec.aurora.mode == "global" and spec.aurora.global_cluster:
        global_cluster = aurora.observe_global_cluster(rds, spec.aurora.global_cluster)
    lag = lag_metric = None
    is_writer = (
        global_cluster.writer_region == region
        if global_cluster is not None
        else cluster.replication_source is None
    )
    if not is_writer:
        queries = aurora.lag_queries(cluster.id, spec.aurora.mode)
        values = cloudwatch.latest_values(
            factory.client("cloudwatch", region), [q for q, _ in queries], now=now
        )
        lag, lag_metric = aurora.lag_seconds(values, queries)
    return AuroraStatus(
        mode=spec.aurora.mode,
        cluster=cluster,
        global_cluster=global_cluster,
        lag_seconds=lag,
        lag_metric=lag_metric,
    )


def observe_dynamodb(
    factory: ClientSource, region: str, topology: Topology, now: datetime
) -> DynamoDbStatus:
    client = factory.client("dynamodb", region)
    names = topology.regions[region].dynamodb_tables
    tables = tuple(dynamodb.observe_table(client, name) for name in names)
    queries = []
    for name in names:
        peers = [
            n for n, r in topology.regions.items() if n != region and name in r.dynamodb_tables
        ]
        queries.extend(dynamodb.latency_queries(name, peers))
    values = cloudwatch.latest_values(factory.client("cloudwatch", region), queries, now=now)
    outgoing = tuple(
        dynamodb.OutgoingLag(
            table=dict(q.dimensions)["TableName"],
            receiving_region=dict(q.dimensions)["ReceivingRegion"],
            milliseconds=values[q.key],
        )
        for q in queries
    )
    return DynamoDbStatus(tables=tables, outgoing=outgoing)


def observe_s3(factory: ClientSource, region: str, spec: Region, now: datetime) -> S3Status:
    client = factory.client("s3", region)
    buckets = tuple(s3.observe_bucket(client, b.name) for b in spec.s3_buckets)
    wanted: list[tuple[str, s3.ReplicationRule, str]] = []
    for bucket, finding in zip(spec.s3_buckets, buckets, strict=True):
        for target in bucket.replicate_to:
            rule = finding.rule_to(target.bucket)
            if rule is not None and (rule.metrics or rule.rtc):
                wanted.append((bucket.name, rule, target.region))
    queries = [q for source, rule, _ in wanted for q in s3.backlog_queries(source, rule)]
    values = (
        cloudwatch.latest_values(factory.client("cloudwatch", region), queries, now=now)
        if queries
        else {}
    )
    backlog = tuple(
        ReplicationBacklog(
            source_bucket=source,
            destination_bucket=rule.destination_bucket,
            destination_region=dest_region,
            rule_id=rule.id,
            pending=values.get(f"{source}/{rule.id}/OperationsPendingReplication"),
            failed=values.get(f"{source}/{rule.id}/OperationsFailedReplication"),
        )
        for source, rule, dest_region in wanted
    )
    return S3Status(buckets=buckets, backlog=backlog)


def observe_compute(factory: ClientSource, region: str, spec: Region) -> ComputeStatus:
    c = spec.compute
    services: list[compute.ServiceFinding] = []
    if c.ecs_services:
        services += compute.observe_ecs_services(factory.client("ecs", region), c.ecs_services)
    if c.autoscaling_groups:
        services += compute.observe_autoscaling_groups(
            factory.client("autoscaling", region), c.autoscaling_groups
        )
    functions: list[compute.FunctionFinding] = []
    if c.lambda_functions:
        functions = compute.observe_functions(factory.client("lambda", region), c.lambda_functions)
    return ComputeStatus(services=tuple(services), functions=tuple(functions))


def _has_section(spec: Region, section: Section) -> bool:
    if section == "traffic":
        return bool(spec.traffic.health_checks or spec.traffic.records)
    if section == "aurora":
        return spec.aurora is not None
    if section == "dynamodb":
        return bool(spec.dynamodb_tables)
    if section == "s3":
        return bool(spec.s3_buckets)
    c = spec.compute
    return bool(c.ecs_services or c.autoscaling_groups or c.lambda_functions)


def _task(
    factory: ClientSource, topology: Topology, region: str, section: Section, now: datetime
) -> Callable[[], object]:
    spec = topology.regions[region]
    if section == "traffic":
        return lambda: observe_traffic(factory, spec)
    if section == "aurora":
        return lambda: observe_aurora(factory, region, spec, now)
    if section == "dynamodb":
        return lambda: observe_dynamodb(factory, region, topology, now)
    if section == "s3":
        return lambda: observe_s3(factory, region, spec, now)
    return lambda: observe_compute(factory, region, spec)


def run_concurrently(
    tasks: Mapping[Any, Callable[[], Any]], *, deadline: float, max_workers: int = MAX_WORKERS
) -> dict[Any, Future[Any]]:
    """Run ``tasks`` on daemon threads; return their futures after at most ``deadline`` s.

    Futures still running at the deadline are left behind (their threads are daemons
    and end with their call's own timeout); those never started are cancelled.
    """
    futures: dict[Any, Future[Any]] = {key: Future() for key in tasks}
    queue = list(tasks.items())
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                key, fn = queue.pop(0)
            future = futures[key]
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

    for _ in range(min(max_workers, len(tasks))):
        threading.Thread(target=worker, name="mr-failover-observe", daemon=True).start()
    wait_futures(list(futures.values()), timeout=deadline)
    for future in futures.values():
        future.cancel()  # only succeeds for tasks no worker has started
    return futures


def observe(
    topology: Topology,
    factory: ClientSource,
    *,
    regions: Sequence[str] | None = None,
    deadline: float = DEFAULT_DEADLINE,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> StatusReport:
    """Observe ``regions`` (default: all) and judge whether each could take over.

    Raises UsageError for a region the topology does not declare, and the
    CredentialsError itself when no call at all could be authenticated.
    """
    names = list(regions) if regions else list(topology.regions)
    unknown = [n for n in names if n not in topology.regions]
    if unknown:
        raise UsageError(
            f"unknown region {', '.join(unknown)}: the topology declares "
            f"{', '.join(topology.regions)}"
        )
    started = clock()
    observed_at = now()
    tasks: dict[tuple[str, str], Callable[[], object]] = {
        ("", "account"): lambda: check_account(factory, topology)
    }
    for name in names:
        for section in SECTIONS:
            if _has_section(topology.regions[name], section):
                tasks[(name, section)] = _task(factory, topology, name, section, observed_at)
    futures = run_concurrently(tasks, deadline=deadline)

    results: dict[tuple[str, str], object] = {}
    errors: dict[tuple[str, str], MrFailoverError] = {}
    for key, future in futures.items():
        region = key[0] or topology.primary_region
        if key[1] == "traffic":
            region = route53.CONTROL_PLANE_REGION
        if not future.done() or future.cancelled():
            errors[key] = RegionUnreachableError(
                region,
                f"{key[1]} reads",
                f"no answer within {deadline:g} s",
                "the region may be impaired",
            )
        elif (exc := future.exception()) is not None:
            if not isinstance(exc, MrFailoverError):
                raise exc  # a bug: keep its traceback
            errors[key] = exc
        else:
            results[key] = future.result()

    region_keys = [k for k in tasks if k[0]]
    if region_keys and all(isinstance(errors.get(k), CredentialsError) for k in region_keys):
        raise errors[region_keys[0]]

    account = results.get(("", "account"))
    assert account is None or isinstance(account, AccountCheck)
    account_error = str(errors[("", "account")]) if ("", "account") in errors else None
    report_warnings = []
    if account is not None and not account.matches:
        report_warnings.append(account.message())
    if account_error:
        report_warnings.append(f"account not verified: {account_error}")

    sections: dict[str, dict[str, object]] = {
        name: {s: results.get((name, s)) for s in SECTIONS} for name in names
    }
    writer = _writer_region(topology, sections)
    incoming = _dynamodb_incoming(names, sections)
    failed_into = _s3_failed_into(sections)
    region_status = tuple(
        _judge(
            topology,
            name,
            sections[name],
            [(s, errors[(name, s)]) for s in SECTIONS if (name, s) in errors],
            writer,
            incoming.get(name, ()),
            failed_into.get(name, ()),
        )
        for name in names
    )
    return StatusReport(
        application=topology.application,
        account_id=topology.account_id,
        account=account,
        account_error=account_error,
        observed_at=observed_at,
        elapsed_seconds=clock() - started,
        deadline_seconds=deadline,
        rpo_seconds=topology.policy.rpo_seconds,
        regions=region_status,
        warnings=tuple(report_warnings),
    )


# --- cross-region assembly -------------------------------------------------------------


def _writer_region(topology: Topology, sections: Mapping[str, Mapping[str, object]]) -> str | None:
    """The Aurora writer as the answering regions see it (None: nobody could tell)."""
    for values in sections.values():
        a = values.get("aurora")
        if isinstance(a, AuroraStatus) and a.global_cluster is not None:
            return a.global_cluster.writer_region
    for name, values in sections.items():
        a = values.get("aurora")
        if isinstance(a, AuroraStatus) and a.cluster.replication_source is None:
            return name
    return None


def _dynamodb_incoming(
    names: Iterable[str], sections: Mapping[str, Mapping[str, object]]
) -> dict[str, tuple[IncomingLag, ...]]:
    out: dict[str, list[IncomingLag]] = {}
    for sender in names:
        d = sections[sender].get("dynamodb")
        if not isinstance(d, DynamoDbStatus):
            continue
        for lag in d.outgoing:
            out.setdefault(lag.receiving_region, []).append(
                IncomingLag(table=lag.table, source_region=sender, milliseconds=lag.milliseconds)
            )
    return {k: tuple(v) for k, v in out.items()}


def _s3_failed_into(
    sections: Mapping[str, Mapping[str, object]],
) -> dict[str, tuple[ReplicationBacklog, ...]]:
    out: dict[str, list[ReplicationBacklog]] = {}
    for values in sections.values():
        st = values.get("s3")
        if isinstance(st, S3Status):
            for b in st.backlog:
                out.setdefault(b.destination_region, []).append(b)
    return {k: tuple(v) for k, v in out.items()}


# --- judging one region -------------------------------------------------------------------


def _judge(
    topology: Topology,
    name: str,
    sections: Mapping[str, object],
    errors: Sequence[tuple[Section, MrFailoverError]],
    writer: str | None,
    incoming: Sequence[IncomingLag],
    backlog_into: Sequence[ReplicationBacklog],
) -> RegionStatus:
    reasons: list[str] = []
    warnings: list[str] = []
    section_errors: list[SectionError] = []
    unreachable = False
    for section, exc in errors:
        cut = isinstance(exc, RegionUnreachableError)
        section_errors.append(
            SectionError(
                section=section,
                region=getattr(exc, "region", name),
                call=getattr(exc, "call", section),
                message=str(exc),
                unreachable=cut,
            )
        )
        if section == "traffic" and cut:
            # Route 53's API is a control plane in us-east-1; DNS answers and health
            # checkers are a data plane that keeps working without it.
            warnings.append(f"traffic: Route 53 API not answering, traffic state unknown: {exc}")
        elif cut:
            unreachable = True
            reasons.append(f"{section}: {exc}")
        else:
            reasons.append(f"{section}: {exc}")

    rpo = topology.policy.rpo_seconds
    traffic = sections.get("traffic")
    drained = False
    if isinstance(traffic, TrafficStatus):
        drained = _judge_traffic(traffic, reasons, warnings)
    au = sections.get("aurora")
    if isinstance(au, AuroraStatus):
        _judge_aurora(au, name, rpo, reasons, warnings)
    dd = sections.get("dynamodb")
    if isinstance(dd, DynamoDbStatus):
        _judge_dynamodb(dd, topology, name, rpo, incoming, reasons, warnings)
    st = sections.get("s3")
    if isinstance(st, S3Status):
        _judge_s3(st, topology, name, reasons, warnings)
    for b in backlog_into:
        if b.failed:
            reasons.append(
                f"s3: {b.failed:g} operations failed to replicate "
                f"{b.source_bucket} -> {b.destination_bucket}"
            )
        elif b.pending:
            warnings.append(
                f"s3: {b.pending:g} operations pending {b.source_bucket} -> {b.destination_bucket}"
            )
    cp = sections.get("compute")
    if isinstance(cp, ComputeStatus):
        _judge_compute(cp, reasons, warnings)

    verdict: Verdict
    if unreachable:
        verdict = "unreachable"
    elif reasons:
        verdict = "degraded"
    elif drained:
        verdict = "drained"
    else:
        verdict = "serving"
    aurora_spec = topology.regions[name].aurora
    return RegionStatus(
        name=name,
        verdict=verdict,
        can_take_over=not reasons,
        is_writer=None if aurora_spec is None or writer is None else writer == name,
        reasons=tuple(reasons),
        warnings=tuple(warnings),
        errors=tuple(section_errors),
        traffic=traffic if isinstance(traffic, TrafficStatus) else None,
        aurora=au if isinstance(au, AuroraStatus) else None,
        dynamodb=dd if isinstance(dd, DynamoDbStatus) else None,
        dynamodb_incoming=tuple(incoming),
        s3=st if isinstance(st, S3Status) else None,
        compute=cp if isinstance(cp, ComputeStatus) else None,
    )


def _judge_traffic(t: TrafficStatus, reasons: list[str], warnings: list[str]) -> bool:
    """Adds the traffic findings; returns whether the region is drained."""
    for hc in t.health_checks:
        raw = hc.raw_healthy
        if raw is False:
            reasons.append(
                f"traffic: health check {hc.name}: checkers see the endpoint failing "
                f"({hc.checkers_ok}/{hc.checkers_total} healthy)"
            )
        elif raw is None:
            warnings.append(f"traffic: health check {hc.name}: no checker observation yet")
        if hc.disabled:
            warnings.append(
                f"traffic: health check {hc.name} is disabled: Route 53 treats it as healthy "
                "whatever the endpoint does"
            )
    for rec in t.records:
        if not rec.found:
            reasons.append(f"traffic: record {rec.name} ({rec.set_identifier}) not found")
    checks_off = bool(t.health_checks) and all(
        hc.effective_healthy is False and hc.raw_healthy is not False for hc in t.health_checks
    )
    weighted = [r for r in t.records if r.found and r.routing_policy == "weighted"]
    weights_off = bool(weighted) and all(r.weight == 0 for r in weighted)
    return checks_off or weights_off


def _judge_aurora(
    a: AuroraStatus, region: str, rpo: int, reasons: list[str], warnings: list[str]
) -> None:
    if a.cluster.status != "available":
        reasons.append(f"aurora: cluster {a.cluster.id} is {a.cluster.status}")
    g = a.global_cluster
    is_writer = a.cluster.replication_source is None
    if g is not None:
        member = g.member(a.cluster.arn)
        if member is None:
            reasons.append(f"aurora: {a.cluster.id} is not a member of global cluster {g.id}")
            return
        is_writer = member.is_writer
        if g.failover is not None:
            f = g.failover
            src = aurora.arn_region(f.from_cluster_arn or "") or "?"
            dst = aurora.arn_region(f.to_cluster_arn or "") or "?"
            reasons.append(f"aurora: {g.id} is {f.status} from {src} to {dst}")
        if not is_writer and member.synchronization not in (None, "connected"):
            reasons.append(f"aurora: {a.cluster.id} synchronization is {member.synchronization}")
    if is_writer:
        return
    if a.lag_seconds is None:
        warnings.append(f"aurora: no replication lag datapoint for {a.cluster.id} in 15 min")
    elif a.lag_seconds > rpo:
        reasons.append(
            f"aurora: replication lag {a.lag_seconds:.1f} s exceeds RPO {rpo} s ({a.lag_metric})"
        )


def _judge_dynamodb(
    d: DynamoDbStatus,
    topology: Topology,
    region: str,
    rpo: int,
    incoming: Sequence[IncomingLag],
    reasons: list[str],
    warnings: list[str],
) -> None:
    for t in d.tables:
        if t.status != "ACTIVE":
            reasons.append(f"dynamodb: table {t.name} is {t.status}")
        peers = [
            n for n, r in topology.regions.items() if n != region and t.name in r.dynamodb_tables
        ]
        for peer in peers:
            replica = t.replica(peer)
            if replica is None:
                reasons.append(f"dynamodb: {t.name} has no replica in {peer}")
            elif replica.status != "ACTIVE":
                warnings.append(f"dynamodb: {t.name} replica in {peer} is {replica.status}")
    for lag in incoming:
        if lag.milliseconds is not None and lag.milliseconds > rpo * 1000:
            reasons.append(
                f"dynamodb: {lag.table} replication from {lag.source_region} lags "
                f"{lag.milliseconds / 1000:.1f} s (RPO {rpo} s)"
            )


def _judge_s3(
    st: S3Status, topology: Topology, region: str, reasons: list[str], warnings: list[str]
) -> None:
    specs = {b.name: b for b in topology.regions[region].s3_buckets}
    for b in st.buckets:
        if b.versioning != "Enabled":
            reasons.append(f"s3: versioning is {b.versioning} on {b.name} (replication needs it)")
        spec = specs[b.name]
        for target in spec.replicate_to:
            rule = b.rule_to(target.bucket)
            if rule is None or not rule.enabled:
                reasons.append(f"s3: no enabled replication rule {b.name} -> {target.bucket}")
                continue
            if spec.rtc and not rule.rtc:
                warnings.append(f"s3: RTC is off on {b.name} -> {target.bucket}")
            if not rule.metrics:
                warnings.append(
                    f"s3: replication metrics off on {b.name} -> {target.bucket} "
                    "(backlog not measurable)"
                )


def _judge_compute(c: ComputeStatus, reasons: list[str], warnings: list[str]) -> None:
    for svc in c.services:
        if not svc.found:
            reasons.append(f"compute: {svc.kind} {svc.name} not found")
        elif svc.desired == 0:
            if svc.takeover_desired:
                warnings.append(
                    f"compute: {svc.kind} {svc.name} is scaled to 0 "
                    f"(takeover scales it to {svc.takeover_desired})"
                )
            else:
                reasons.append(f"compute: {svc.kind} {svc.name} has desired count 0")
        elif svc.running < svc.desired:
            reasons.append(f"compute: {svc.kind} {svc.name} runs {svc.running} of {svc.desired}")
    for fn in c.functions:
        if not fn.found:
            reasons.append(f"compute: lambda {fn.name} not found")
        elif fn.state != "Active":
            reasons.append(f"compute: lambda {fn.name} is {fn.state}")
