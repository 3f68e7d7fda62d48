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
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, get_args

from mr_failover.aws import AccountCheck, ClientSource, check_account
from mr_failover.errors import (
    EXIT_NOT_READY,
    EXIT_OK,
    AwsCallError,
    CredentialsError,
    MrFailoverError,
    RegionUnreachableError,
    UsageError,
)
from mr_failover.resources import apigateway as apigateway_res
from mr_failover.resources import arc as arc_res
from mr_failover.resources import aurora, cloudwatch, compute, dynamodb, route53, s3
from mr_failover.resources import cloudfront as cloudfront_res
from mr_failover.resources import elasticache as elasticache_res
from mr_failover.resources import globalaccelerator as ga_res
from mr_failover.resources import readiness as readiness_res
from mr_failover.topology import Region, Topology

SCHEMA_VERSION = 1
DEFAULT_DEADLINE = 8.0
# Tasks mostly wait on the network: a 10-region topology has about 50 (region, section)
# tasks, and 16 threads ran them in waves (bench/bench_status.py: 1.9 s -> 1.0 s).
MAX_WORKERS = 64

Verdict = Literal["serving", "drained", "degraded", "unreachable"]
Section = Literal[
    "traffic",
    "aurora",
    "dynamodb",
    "s3",
    "compute",
    "accelerator",
    "elasticache",
    "api",
    "readiness",
    "routing_controls",  # shown in the traffic section; read from the ARC data plane
]
SECTIONS: tuple[Section, ...] = get_args(Section)
# What observe(sections=...) can be asked to read: region sections, and CloudFront, read
# once for the whole report. The account is always checked.
Readable = Literal[Section, "cloudfront"]
EVERYTHING: frozenset[Readable] = frozenset(get_args(Readable))
HEALTHY_VERDICTS: frozenset[str] = frozenset({"serving", "drained"})

T = TypeVar("T")


# --- what each section observed ------------------------------------------------------


@dataclass(frozen=True)
class TrafficStatus:
    health_checks: tuple[route53.HealthCheckFinding, ...]
    records: tuple[route53.RecordFinding, ...]
    routing_controls: tuple[arc_res.RoutingControlFinding, ...] = ()


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
class AcceleratorStatus:
    """The Global Accelerator as seen from its API in us-west-2; ``group``: this region's."""

    accelerator: ga_res.AcceleratorFinding
    group: ga_res.EndpointGroupFinding | None


@dataclass(frozen=True)
class ElastiCacheStatus:
    """The Global Datastore as this region sees it; ``replication_group``: this region's."""

    datastore: elasticache_res.DatastoreFinding
    replication_group: str

    @property
    def member(self) -> elasticache_res.DatastoreMember | None:
        for m in self.datastore.members:
            if m.replication_group == self.replication_group:
                return m
        return None


@dataclass(frozen=True)
class ApiEndpointStatus:
    """A regional API endpoint, and its certificate's days left when observed."""

    endpoint: apigateway_res.ApiEndpointFinding
    certificate_days_left: float | None


@dataclass(frozen=True)
class ApiStatus:
    endpoints: tuple[ApiEndpointStatus, ...]


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
    accelerator: AcceleratorStatus | None = None
    elasticache: ElastiCacheStatus | None = None
    api: ApiStatus | None = None
    readiness: readiness_res.ReadinessFinding | None = None
    # Its database accepts writes without being the global writer (mr-failover fence).
    split_brain: bool = False

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
    # CloudFront is global: its distributions are observed once, for every region.
    cloudfront: tuple[cloudfront_res.DistributionFinding, ...] = ()

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
            "split_brain": [r.name for r in self.regions if r.split_brain],
            "cloudfront": [asdict(d) for d in self.cloudfront],
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
            "routing_controls": [
                {**asdict(rc), "state": rc.state_word} for rc in r.traffic.routing_controls
            ],
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
        "split_brain": r.split_brain,
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
        "accelerator": None if r.accelerator is None else asdict(r.accelerator),
        "api": None if r.api is None else asdict(r.api),
        "readiness": None if r.readiness is None else asdict(r.readiness),
        "elasticache": None
        if r.elasticache is None
        else {
            **asdict(r.elasticache),
            "primary_region": r.elasticache.datastore.primary_region,
        },
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


def observe_accelerator(
    factory: ClientSource, region: str, topology: Topology
) -> AcceleratorStatus:
    assert topology.global_accelerator is not None
    client = factory.client("globalaccelerator", ga_res.GA_REGION)
    found = ga_res.observe_accelerator(client, topology.global_accelerator)
    spec = topology.regions[region].global_accelerator
    pinned = spec.endpoint_group_arn if spec is not None else None
    return AcceleratorStatus(accelerator=found, group=found.group(region, pinned))


def observe_elasticache(factory: ClientSource, region: str, spec: Region) -> ElastiCacheStatus:
    assert spec.elasticache is not None
    client = factory.client("elasticache", region)
    found = elasticache_res.observe_datastore(client, spec.elasticache.global_datastore)
    return ElastiCacheStatus(datastore=found, replication_group=spec.elasticache.replication_group)


def observe_api(factory: ClientSource, region: str, spec: Region, now: datetime) -> ApiStatus:
    apigw = factory.client("apigateway", region)
    acm = factory.client("acm", region)
    v2 = (
        factory.client("apigatewayv2", region)
        if any(a.api_type == "http" for a in spec.api_endpoints)
        else None
    )
    out = []
    for api in spec.api_endpoints:
        found = apigateway_res.observe_endpoint(apigw, acm, api, apigwv2=v2)
        days = found.certificate.days_left(now) if found.certificate else None
        out.append(ApiEndpointStatus(endpoint=found, certificate_days_left=days))
    return ApiStatus(endpoints=tuple(out))


def observe_cloudfront(factory: ClientSource, topology: Topology) -> tuple[Any, ...]:
    client = factory.client("cloudfront", cloudfront_res.CONTROL_PLANE_REGION)
    buckets = {b.name: n for n, r in topology.regions.items() for b in r.s3_buckets}
    return tuple(
        cloudfront_res.observe_distribution(client, d, buckets)
        for d in topology.cloudfront_distributions
    )


def _has_section(spec: Region, section: Section) -> bool:
    if section == "traffic":
        return bool(spec.traffic.health_checks or spec.traffic.records)
    if section == "aurora":
        return spec.aurora is not None
    if section == "dynamodb":
        return bool(spec.dynamodb_tables)
    if section == "s3":
        return bool(spec.s3_buckets)
    if section == "accelerator":
        return spec.global_accelerator is not None
    if section == "elasticache":
        return spec.elasticache is not None
    if section == "api":
        return bool(spec.api_endpoints)
    if section == "routing_controls":
        return bool(spec.traffic.routing_controls)
    if section == "readiness":
        r = spec.readiness
        return bool(r.templates or r.code_repository or r.secrets or r.ssm_parameters)
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
    if section == "accelerator":
        return lambda: observe_accelerator(factory, region, topology)
    if section == "elasticache":
        return lambda: observe_elasticache(factory, region, spec)
    if section == "api":
        return lambda: observe_api(factory, region, spec, now)
    if section == "routing_controls":
        return lambda: arc_res.region_controls(topology, factory, region)
    if section == "readiness":
        return lambda: readiness_res.observe(
            factory, region, spec.readiness, topology.primary_region
        )
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
    sections: Collection[Readable] = EVERYTHING,
    deadline: float = DEFAULT_DEADLINE,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> StatusReport:
    """Observe ``regions`` (default: all) and judge whether each could take over.

    ``sections`` limits the reads (default: everything): a section not read is None in
    the report and neither blocks nor clears a region, so only a caller that judges by
    those sections alone (drain's absorbers) should narrow it.

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
    if topology.cloudfront_distributions and "cloudfront" in sections:
        tasks[("", "cloudfront")] = lambda: observe_cloudfront(factory, topology)
    for name in names:
        for section in SECTIONS:
            if section in sections and _has_section(topology.regions[name], section):
                tasks[(name, section)] = _task(factory, topology, name, section, observed_at)
    futures = run_concurrently(tasks, deadline=deadline)

    results: dict[tuple[str, str], object] = {}
    errors: dict[tuple[str, str], MrFailoverError] = {}
    for key, future in futures.items():
        region = key[0] or topology.primary_region
        if key[1] == "traffic":
            region = route53.CONTROL_PLANE_REGION
        if key[1] == "cloudfront":
            region = cloudfront_res.CONTROL_PLANE_REGION
        if key[1] == "accelerator":
            region = ga_res.GA_REGION
        if key[1] == "routing_controls":
            region = "ARC endpoints"
        if not future.done() or future.cancelled():
            errors[key] = RegionUnreachableError(
                region,
                f"{key[1]} reads",
                f"no answer within {deadline:g} s",
                "the region may be impaired",
            )
        elif (exc := future.exception()) is not None:
            if not isinstance(exc, MrFailoverError):
                # A bug in one section's reads: that section's error, not the whole report's.
                exc = AwsCallError(
                    region, f"{key[1]} reads", f"unexpected {type(exc).__name__}: {exc}"
                )
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

    found: dict[str, dict[str, object]] = {
        name: {s: results.get((name, s)) for s in SECTIONS} for name in names
    }
    writer = _writer_region(topology, found)
    split = _split_brain(found)
    incoming = _dynamodb_incoming(names, found)
    failed_into = _s3_failed_into(found)
    region_status = tuple(
        _judge(
            topology,
            name,
            found[name],
            [(s, errors[(name, s)]) for s in SECTIONS if (name, s) in errors],
            writer,
            incoming.get(name, ()),
            failed_into.get(name, ()),
            split.get(name),
        )
        for name in names
    )
    cf = results.get(("", "cloudfront"))
    cf_found = cf if isinstance(cf, tuple) else ()
    if ("", "cloudfront") in errors:
        report_warnings.append(f"cloudfront: not observed: {errors[('', 'cloudfront')]}")
    region_status, cf_warnings = _apply_cloudfront(topology, region_status, cf_found)
    report_warnings += cf_warnings
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
        cloudfront=cf_found,
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


def _split_brain(sections: Mapping[str, Mapping[str, object]]) -> dict[str, str]:
    """Region -> why its database is split brain (accepts writes, is not the writer).

    Global mode: each region against its own view of the global cluster. Replica mode:
    across the observed regions (more than one writable cluster).
    """
    found = {
        name: a
        for name, values in sections.items()
        if isinstance(a := values.get("aurora"), AuroraStatus)
    }
    replicas = {name: a.cluster for name, a in found.items() if a.mode == "replica"}
    judged = aurora.split_brain("replica", replicas, None)
    out = {name: judged.why(name) for name in judged.split}
    for name, a in found.items():
        if a.mode == "global":
            one = aurora.split_brain("global", {name: a.cluster}, a.global_cluster)
            out |= {name: one.why(name) for name in one.split}
    return out


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
    split: str | None = None,
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
        elif section == "accelerator" and cut:
            # Global Accelerator's API is a control plane in us-west-2; the edge network
            # keeps routing with the dials last set.
            warnings.append(f"accelerator: API ({ga_res.GA_REGION}) not answering: {exc}")
        elif section == "routing_controls":
            # The cluster's data plane (five endpoints), not this region's: its failure
            # says nothing about whether the region could take over.
            warnings.append(f"traffic: routing control states unknown: {exc}")
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
    read = sections.get("routing_controls")
    if topology.regions[name].traffic.routing_controls and (
        isinstance(traffic, TrafficStatus) or isinstance(read, tuple)
    ):
        rcs = _routing_controls(topology, name, read)
        base = traffic if isinstance(traffic, TrafficStatus) else TrafficStatus((), ())
        traffic = replace(base, routing_controls=rcs)
        drained = _judge_routing_controls(rcs, read, reasons, warnings) or drained
    au = sections.get("aurora")
    if isinstance(au, AuroraStatus):
        _judge_aurora(au, name, rpo, reasons, warnings, split)
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
    ac = sections.get("accelerator")
    if isinstance(ac, AcceleratorStatus):
        lever = topology.regions[name].traffic.drain_lever == "traffic_dial"
        drained = _judge_accelerator(ac, name, lever, reasons, warnings) or drained
    ec = sections.get("elasticache")
    if isinstance(ec, ElastiCacheStatus):
        _judge_elasticache(ec, name, writer, reasons, warnings)
    api = sections.get("api")
    if isinstance(api, ApiStatus):
        _judge_api(
            api,
            topology,
            name,
            traffic if isinstance(traffic, TrafficStatus) else None,
            reasons,
            warnings,
        )
    rd = sections.get("readiness")
    if isinstance(rd, readiness_res.ReadinessFinding):
        _judge_readiness(rd, name, reasons, warnings)

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
        accelerator=ac if isinstance(ac, AcceleratorStatus) else None,
        elasticache=ec if isinstance(ec, ElastiCacheStatus) else None,
        api=api if isinstance(api, ApiStatus) else None,
        readiness=rd if isinstance(rd, readiness_res.ReadinessFinding) else None,
        split_brain=split is not None and isinstance(au, AuroraStatus),
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


def _routing_controls(
    topology: Topology, region: str, found: object
) -> tuple[arc_res.RoutingControlFinding, ...]:
    """What the data plane said, or every control of the region in state unknown."""
    if isinstance(found, tuple):
        return found
    return tuple(
        arc_res.RoutingControlFinding(arn, "", region, None)
        for arn in topology.regions[region].traffic.routing_controls
    )


def _judge_routing_controls(
    rcs: Sequence[arc_res.RoutingControlFinding],
    found: object,
    reasons: list[str],
    warnings: list[str],
) -> bool:
    """Adds the routing controls' findings; any control OFF drains the region."""
    off = [rc for rc in rcs if rc.state == "Off"]
    for rc in off:
        warnings.append(
            f"traffic: routing control {rc.label} is OFF: drained (mr-failover undrain)"
        )
    if isinstance(found, tuple):  # read, yet not on the cluster: ARC cannot switch it
        for rc in rcs:
            if rc.state is None:
                reasons.append(f"traffic: routing control {rc.arn} not found on the ARC cluster")
    return bool(off)


def _judge_aurora(
    a: AuroraStatus,
    region: str,
    rpo: int,
    reasons: list[str],
    warnings: list[str],
    split: str | None = None,
) -> None:
    if split is not None:
        reasons.append(
            f"aurora: SPLIT BRAIN: {a.cluster.id} accepts writes without being the writer "
            f"({split}); fence it: mr-failover fence --region {region}"
        )
    if a.cluster.status != "available":
        reasons.append(f"aurora: cluster {a.cluster.id} is {a.cluster.status}")
    g = a.global_cluster
    is_writer = a.cluster.replication_source is None
    if g is not None:
        member = g.member(a.cluster.arn)
        if member is None:
            if split is None:  # else the split-brain reason says it
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


def _judge_accelerator(
    a: AcceleratorStatus, region: str, lever: bool, reasons: list[str], warnings: list[str]
) -> bool:
    """Adds the accelerator findings; returns whether its dial drains the region."""
    acc = a.accelerator
    if not acc.enabled:
        reasons.append(f"accelerator: {acc.name} is disabled")
    g = a.group
    if g is None:
        reasons.append(f"accelerator: {acc.name} has no endpoint group in {region}")
        return False
    if g.endpoints and g.healthy == 0:
        reasons.append(f"accelerator: no healthy endpoint in {region} (0 of {g.endpoints})")
    elif g.healthy < g.endpoints:
        warnings.append(f"accelerator: {g.healthy} of {g.endpoints} endpoints healthy")
    if g.dial == 0:
        if lever:
            warnings.append("accelerator: traffic dial at 0%: drained (mr-failover undrain)")
            return True
        reasons.append(
            "accelerator: traffic dial at 0%: the accelerator sends it no traffic, but its "
            "drain lever is not traffic_dial"
        )
    return False


def _judge_elasticache(
    e: ElastiCacheStatus,
    region: str,
    writer: str | None,
    reasons: list[str],
    warnings: list[str],
) -> None:
    d = e.datastore
    member = e.member
    if member is None:
        reasons.append(
            f"elasticache: {e.replication_group} is not a member of global datastore {d.id}"
        )
        return
    if d.status == "modifying":
        reasons.append(f"elasticache: global datastore {d.id} is modifying (a failover?)")
    elif d.status not in ("available", "primary-only"):
        reasons.append(f"elasticache: global datastore {d.id} is {d.status}")
    if member.status not in ("associated", ""):
        reasons.append(f"elasticache: {e.replication_group} is {member.status}")
    primary = d.primary_region
    if writer is not None and primary is not None and primary != writer and region == primary:
        warnings.append(
            f"elasticache: primary is in {primary} but the Aurora writer is in {writer} "
            f"(mr-failover promote --region {writer} moves both)"
        )


# --- issue 7: API endpoints, readiness items, CloudFront origin groups ------------------


def _judge_api(
    a: ApiStatus,
    topology: Topology,
    region: str,
    traffic: TrafficStatus | None,
    reasons: list[str],
    warnings: list[str],
) -> None:
    min_days = topology.policy.certificate_min_days
    specs = {e.domain: e for e in topology.regions[region].api_endpoints}
    for st in a.endpoints:
        f = st.endpoint
        spec = specs[f.domain]
        where = f"api: {f.domain}"
        if not f.found:
            reasons.append(f"{where}: no API Gateway custom domain in {region}")
            continue
        if f.endpoint_type != "REGIONAL":
            reasons.append(f"{where}: endpoint type is {f.endpoint_type}, not REGIONAL")
        if f.mapping(spec.base_path, spec.api_id) is None:
            path = spec.base_path or "(root)"
            to = f" to API {spec.api_id}" if spec.api_id else ""
            reasons.append(f"{where}: no base path mapping {path}{to}")
        cert = f.certificate
        if cert is None:
            reasons.append(f"{where}: no certificate")
        else:
            if spec.certificate_arn and f.certificate and spec.certificate_arn != cert.arn:
                reasons.append(f"{where}: certificate is not {spec.certificate_arn}")
            if cert.status != "ISSUED":
                reasons.append(f"{where}: certificate {cert.arn} is {cert.status}")
            elif st.certificate_days_left is not None and st.certificate_days_left < min_days:
                reasons.append(
                    f"{where}: certificate expires in {max(st.certificate_days_left, 0):.0f} "
                    f"days (policy: at least {min_days})"
                )
        if spec.record is None:
            continue
        if traffic is None:
            warnings.append(f"{where}: record {spec.record} not checked (Route 53 not read)")
            continue
        rec = next((r for r in traffic.records if r.set_identifier == spec.record), None)
        if rec is None or not rec.found:
            continue  # the traffic section already says the record is missing
        target = f.regional_domain_name or ""
        if not any(apigateway_res.same_host(v, target) for v in rec.values):
            shown = ", ".join(rec.values) or "nothing"
            reasons.append(
                f"{where}: record {rec.name} ({rec.set_identifier}) points at {shown}, "
                f"not this region's {target}"
            )


def _judge_readiness(
    r: readiness_res.ReadinessFinding, region: str, reasons: list[str], warnings: list[str]
) -> None:
    t = r.templates
    if t is not None:
        src = f"{t.source_bucket} ({t.source_region})"
        if t.error:
            warnings.append(f"readiness: templates not checked: {t.error}")
        elif t.newest_key is None:
            warnings.append(f"readiness: no template in {src}")
        elif t.stale:
            reasons.append(f"readiness: {t.bucket} holds an older {t.newest_key} than {src}")
        elif not t.present:
            reasons.append(f"readiness: newest template {t.newest_key} of {src} not in {t.bucket}")
    c = r.code
    if c is not None:
        if c.error:
            warnings.append(f"readiness: code repository not fully checked: {c.error}")
        if c.available is False:
            mirror = f" and no mirror {c.mirror}" if c.mirror else ""
            reasons.append(f"readiness: no code repository {c.name} in {region}{mirror}")
    for sec in r.secrets:
        if sec.error:
            warnings.append(f"readiness: secret {sec.name} not fully checked: {sec.error}")
        elif sec.found is False:
            reasons.append(f"readiness: secret {sec.name} is not replicated to {region}")
        elif sec.status not in ("primary", "InSync"):
            detail = f" ({sec.message})" if sec.message else ""
            reasons.append(
                f"readiness: secret {sec.name} replica is {sec.status} "
                f"(primary {sec.primary_region}){detail}"
            )
    p = r.parameters
    if p is not None:
        if p.error:
            reasons.append(f"readiness: SSM parameters not checked: {p.error}")
        for name in p.missing:
            reasons.append(f"readiness: SSM parameter {name} missing in {region}")


def cloudfront_problems(
    topology: Topology,
    found: Sequence[cloudfront_res.DistributionFinding],
    verdicts: Mapping[str, str],
) -> tuple[dict[str, list[str]], list[str]]:
    """Reasons per region (the secondary origin's), and report-wide warnings.

    A group that cannot fail over, or whose secondary S3 origin does not receive the
    primary's objects, stops the secondary's region taking over what CloudFront serves.
    A secondary in a drained or unreachable region is the primary's risk: a warning.
    """
    reasons: dict[str, list[str]] = {}
    warnings: list[str] = []
    replicates = {
        (b.name, t.bucket)
        for r in topology.regions.values()
        for b in r.s3_buckets
        for t in b.replicate_to
    }
    for d in found:
        for name in d.missing_groups:
            warnings.append(f"cloudfront: {d.name} has no origin group {name}")
        for g in d.groups:
            where = f"cloudfront: {d.name} origin group {g.id}"
            sec, pri = g.secondary, g.primary
            if sec is None or pri is None:
                warnings.append(f"{where}: a member origin is missing")
                continue
            target = sec.region
            problems: list[str] = []
            if not g.status_codes:
                problems.append(f"{where} has no failover criteria")
            elif not g.fails_over_on_server_errors:
                codes = ", ".join(map(str, g.status_codes))
                problems.append(f"{where} fails over only on {codes}, not on 5xx errors")
            if not g.targeted:
                problems.append(f"{where} is not the target of any cache behavior")
            if (
                pri.bucket
                and sec.bucket
                and pri.bucket != sec.bucket
                and (pri.bucket, sec.bucket) not in replicates
            ):
                problems.append(
                    f"{where}: secondary bucket {sec.bucket} is not the replication "
                    f"destination of {pri.bucket}"
                )
            if target is None or target not in verdicts:
                warnings.extend(problems)
                if target is None:
                    warnings.append(f"{where}: region of secondary origin {sec.domain} unknown")
            else:
                if problems:
                    reasons.setdefault(target, []).extend(problems)
                if verdicts[target] in ("drained", "unreachable"):
                    warnings.append(
                        f"{where}: secondary origin {sec.id} is in {target}, "
                        f"which is {verdicts[target]}"
                    )
    return reasons, warnings


def _apply_cloudfront(
    topology: Topology,
    regions: tuple[RegionStatus, ...],
    found: Sequence[cloudfront_res.DistributionFinding],
) -> tuple[tuple[RegionStatus, ...], list[str]]:
    if not found:
        return regions, []
    reasons, warnings = cloudfront_problems(topology, found, {r.name: r.verdict for r in regions})
    out = []
    for r in regions:
        extra = reasons.get(r.name)
        if not extra:
            out.append(r)
            continue
        verdict: Verdict = "unreachable" if r.verdict == "unreachable" else "degraded"
        out.append(
            replace(
                r,
                verdict=verdict,
                can_take_over=False,
                reasons=(*r.reasons, *extra),
            )
        )
    return tuple(out), warnings
