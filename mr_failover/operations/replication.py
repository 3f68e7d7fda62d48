"""``check replication``: is every region pair's data caught up enough to fail over?

For each ordered region pair (source -> destination) this module judges the links that
replicate data between them: each DynamoDB global table (replica status and the
``ReplicationLatency`` metric the source publishes), each S3 replication rule (versioning
on both sides, role, rule enabled, RTC, pending / failed operations and the S3
``ReplicationLatency`` metric) and Aurora (the secondary's lag metric, cluster and
global-database state). A pair's RPO estimate is the worst lag of its links; it is *go*
when nothing blocks and that estimate is within the policy's ``rpo_seconds``.

With ``canary=True`` it also measures the real end-to-end lag: it writes one marked item
per table and one marked object per replicated bucket in each source region, polls each
destination (on an injected :class:`~mr_failover.engine.plan.Clock`, until a deadline) and
always removes what it wrote, failure, timeout or Ctrl-C included. Those canaries are the
only writes: no plan, no lock, no journal. Reads fan out like status (one task per region
and service, with a deadline), so a region that does not answer makes its pairs no-go
instead of stalling the check. The result is a tree of frozen dataclasses;
:meth:`ReplicationReport.to_json` is the versioned schema documented in docs/REPLICATION.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal
from urllib.parse import urlencode

from mr_failover.aws import ClientSource, call, call_error, error_code
from mr_failover.engine.guard import require_account
from mr_failover.engine.plan import Clock, SystemClock
from mr_failover.errors import (
    EXIT_NOT_READY,
    EXIT_OK,
    CredentialsError,
    MrFailoverError,
    RegionUnreachableError,
)
from mr_failover.resources import cloudwatch, s3
from mr_failover.resources.aurora import AuroraStatus, observe_aurora
from mr_failover.resources.cloudwatch import MetricQuery
from mr_failover.resources.dynamodb import DynamoDbStatus, observe_dynamodb
from mr_failover.status import run_concurrently
from mr_failover.topology import Region, Topology

SCHEMA_VERSION = 1
DEFAULT_DEADLINE = 8.0
DEFAULT_POLL = 0.25
CANARY_PREFIX = "mr-failover-canary"
# A replica that is being created or removed does not receive writes reliably.
_TABLE_OK = {"ACTIVE", "UPDATING"}
_S3_MISSING = {"404", "NoSuchKey", "NotFound"}

Kind = Literal["dynamodb", "s3", "aurora"]
CanaryState = Literal["seen", "timeout", "failed", "skipped"]
Section = Literal["aurora", "dynamodb", "s3"]


# --- what the S3 section observes (status's findings plus role and latency) -------------


@dataclass(frozen=True)
class RuleMetrics:
    """CloudWatch values of one rule (None: no datapoint in the window)."""

    pending: float | None
    failed: float | None
    latency_seconds: float | None


@dataclass(frozen=True)
class CanaryFilter:
    """What an object needs to fall under a replication rule: a key prefix and tags."""

    prefix: str = ""
    tags: tuple[tuple[str, str], ...] = ()


# rule: s3-replication-filter
# A rule replicates only the objects its filter matches: "A Filter must specify exactly
# one Prefix, Tag, or an And child element", and with a Tag "the rule applies only to
# objects that have the tag in their tag set" (ReplicationRuleFilter, AWS SDK for Python
# reference, https://docs.aws.amazon.com/sdk-for-python/v4/reference/clients/s3/structures/ReplicationRuleFilter/;
# "Replication configuration file elements", Amazon S3 User Guide,
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-add-config.html).
# A canary outside the filter is never replicated: a false no-go.
def canary_filter(rule: Mapping[str, Any]) -> CanaryFilter:
    """The filter of one rule of GetBucketReplication: V1 ``Prefix`` or V2 ``Filter``."""
    if "Prefix" in rule:  # V1 rule
        return CanaryFilter(str(rule.get("Prefix") or ""))
    flt = rule.get("Filter") or {}
    both = flt.get("And") or {}
    prefix = flt.get("Prefix") if "Prefix" in flt else both.get("Prefix")
    tags = [flt["Tag"]] if "Tag" in flt else list(both.get("Tags") or [])
    return CanaryFilter(
        str(prefix or ""), tuple((str(t["Key"]), str(t.get("Value") or "")) for t in tags)
    )


def replication_filter(client: Any, bucket: str, destination: str) -> CanaryFilter:
    """The filter of ``bucket``'s rule replicating into ``destination`` (a drill's canary
    object must match it to be replicated: rule: s3-replication-filter); no filter when
    the bucket has no such rule."""
    finding = s3.observe_bucket(client, bucket)
    rule = finding.rule_to(destination)
    if rule is None:
        return CanaryFilter()
    config = call(client, "get_bucket_replication", Bucket=bucket)["ReplicationConfiguration"]
    raw = {r.get("ID", f"rule-{i}"): r for i, r in enumerate(config.get("Rules", []))}
    return canary_filter(raw[rule.id]) if rule.id in raw else CanaryFilter()


@dataclass(frozen=True)
class BucketObserved:
    finding: s3.BucketFinding
    role: str | None
    metrics: Mapping[str, RuleMetrics]  # by destination bucket
    filters: Mapping[str, CanaryFilter] = field(default_factory=dict)  # by destination


@dataclass(frozen=True)
class S3Observed:
    buckets: Mapping[str, BucketObserved]


# --- the report -------------------------------------------------------------------------


@dataclass(frozen=True)
class CanaryResult:
    """One canary's trip from a source to one destination."""

    key: str
    state: CanaryState
    lag_seconds: float | None  # measured; None unless seen
    waited_seconds: float
    detail: str = ""


def worst_lag(metric: float | None, canary: CanaryResult | None) -> float | None:
    values = [metric] if metric is not None else []
    if canary is not None:
        if canary.lag_seconds is not None:
            values.append(canary.lag_seconds)
        elif canary.state == "timeout":
            values.append(canary.waited_seconds)
    return max(values) if values else None


@dataclass(frozen=True)
class Link:
    """One thing that replicates from ``source`` to ``destination``."""

    kind: Kind
    name: str
    source: str
    destination: str
    state: str
    metric_lag_seconds: float | None
    metric: str | None
    canary: CanaryResult | None
    reasons: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def lag_seconds(self) -> float | None:
        """Worst of the metric and the canary; a lost canary counts as its whole wait."""
        return worst_lag(self.metric_lag_seconds, self.canary)

    @property
    def lag_is_lower_bound(self) -> bool:
        return self.canary is not None and self.canary.state == "timeout"


@dataclass(frozen=True)
class PairCheck:
    source: str
    destination: str
    links: tuple[Link, ...]
    reasons: tuple[str, ...]  # every reason the pair is no-go, links' included
    warnings: tuple[str, ...]
    rpo_estimate_seconds: float | None
    rpo_estimate_is_lower_bound: bool

    @property
    def go(self) -> bool:
        return not self.reasons


@dataclass(frozen=True)
class RegionAnswer:
    name: str
    answering: bool
    errors: tuple[str, ...]


@dataclass(frozen=True)
class Cleanup:
    """Removal of one canary from one region (``removed`` False: left behind)."""

    kind: Kind
    region: str
    resource: str
    key: str
    removed: bool
    detail: str = ""


@dataclass(frozen=True)
class ReplicationReport:
    application: str
    observed_at: datetime
    elapsed_seconds: float
    rpo_seconds: int
    canary: bool
    run_id: str | None
    regions: tuple[RegionAnswer, ...]
    pairs: tuple[PairCheck, ...]
    cleanup: tuple[Cleanup, ...] = field(default=())

    @property
    def go(self) -> bool:
        return all(p.go for p in self.pairs)

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.go else EXIT_NOT_READY

    def pair(self, source: str, destination: str) -> PairCheck:
        return next(p for p in self.pairs if (p.source, p.destination) == (source, destination))

    def to_json(self) -> dict[str, Any]:
        """The documented schema (docs/REPLICATION.md); bump SCHEMA_VERSION on any change."""
        return {
            "schema": "mr-failover/replication-check",
            "version": SCHEMA_VERSION,
            "application": self.application,
            "observed_at": self.observed_at.isoformat(),
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "rpo_seconds": self.rpo_seconds,
            "canary": self.canary,
            "run_id": self.run_id,
            "go": self.go,
            "regions": [
                {"name": r.name, "answering": r.answering, "errors": list(r.errors)}
                for r in self.regions
            ],
            "pairs": [_pair_json(p) for p in self.pairs],
            "cleanup": [asdict(c) for c in self.cleanup],
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _pair_json(p: PairCheck) -> dict[str, Any]:
    return {
        "source": p.source,
        "destination": p.destination,
        "go": p.go,
        "rpo_estimate_seconds": _round(p.rpo_estimate_seconds),
        "rpo_estimate_is_lower_bound": p.rpo_estimate_is_lower_bound,
        "reasons": list(p.reasons),
        "warnings": list(p.warnings),
        "links": [
            {
                "kind": link.kind,
                "name": link.name,
                "state": link.state,
                "metric": link.metric,
                "metric_lag_seconds": _round(link.metric_lag_seconds),
                "canary": None
                if link.canary is None
                else {
                    "key": link.canary.key,
                    "state": link.canary.state,
                    "lag_seconds": _round(link.canary.lag_seconds),
                    "waited_seconds": _round(link.canary.waited_seconds),
                    "detail": link.canary.detail,
                },
                "lag_seconds": _round(link.lag_seconds),
                "reasons": list(link.reasons),
                "warnings": list(link.warnings),
            }
            for link in p.links
        ],
    }


# --- what replicates where, from the topology alone ----------------------------------------


@dataclass(frozen=True)
class _LinkSpec:
    kind: Kind
    source: str
    destination: str
    resource: str  # table, source bucket or secondary cluster
    target: str = ""  # destination bucket (S3)
    canary_filter: CanaryFilter = CanaryFilter()  # S3: what the canary object must match

    @property
    def name(self) -> str:
        return f"{self.resource} -> {self.target}" if self.kind == "s3" else self.resource


def _links(topology: Topology, aurora_writer: str | None) -> list[_LinkSpec]:
    specs: list[_LinkSpec] = []
    regions = topology.regions
    for src, spec in regions.items():
        for table in spec.dynamodb_tables:
            for dst, other in regions.items():
                if dst != src and table in other.dynamodb_tables:
                    specs.append(_LinkSpec("dynamodb", src, dst, table))
        for bucket in spec.s3_buckets:
            for target in bucket.replicate_to:
                specs.append(_LinkSpec("s3", src, target.region, bucket.name, target.bucket))
    if aurora_writer is not None and regions[aurora_writer].aurora is not None:
        for dst, other in regions.items():
            if dst != aurora_writer and other.aurora is not None:
                specs.append(_LinkSpec("aurora", aurora_writer, dst, other.aurora.cluster))
    return specs


# --- observation -----------------------------------------------------------------------------


def observe_s3_replication(
    factory: ClientSource, region: str, spec: Region, now: datetime
) -> S3Observed:
    """Each bucket of ``region``: versioning, rules, role, backlog and latency metrics."""
    client = factory.client("s3", region)
    found: dict[str, tuple[s3.BucketFinding, str | None]] = {}
    filters: dict[str, dict[str, CanaryFilter]] = {}
    for bucket in spec.s3_buckets:
        finding = s3.observe_bucket(client, bucket.name)
        role = None
        filters[bucket.name] = {}
        if finding.rules:
            # observe_bucket keeps the rules only; the role and filters are in the same
            # document.
            out = call(client, "get_bucket_replication", Bucket=bucket.name)
            config = out.get("ReplicationConfiguration", {})
            role = config.get("Role") or None
            raw = {r.get("ID", f"rule-{i}"): r for i, r in enumerate(config.get("Rules", []))}
            for target in bucket.replicate_to:
                rule = finding.rule_to(target.bucket)
                if rule is not None and rule.id in raw:
                    filters[bucket.name][target.bucket] = canary_filter(raw[rule.id])
        found[bucket.name] = (finding, role)
    queries: list[MetricQuery] = []
    wanted: list[tuple[str, s3.ReplicationRule]] = []
    for bucket in spec.s3_buckets:
        finding = found[bucket.name][0]
        for target in bucket.replicate_to:
            rule = finding.rule_to(target.bucket)
            if rule is not None and (rule.metrics or rule.rtc):
                wanted.append((bucket.name, rule))
                queries += s3.backlog_queries(bucket.name, rule)
                queries.append(_s3_latency_query(bucket.name, rule))
    values: dict[str, float | None] = {}
    if queries:
        values = cloudwatch.latest_values(factory.client("cloudwatch", region), queries, now=now)
    metrics: dict[str, dict[str, RuleMetrics]] = {name: {} for name in found}
    for source, rule in wanted:
        prefix = f"{source}/{rule.id}"
        metrics[source][rule.destination_bucket] = RuleMetrics(
            pending=values.get(f"{prefix}/OperationsPendingReplication"),
            failed=values.get(f"{prefix}/OperationsFailedReplication"),
            latency_seconds=values.get(f"{prefix}/ReplicationLatency"),
        )
    return S3Observed(
        buckets={
            name: BucketObserved(finding=f, role=role, metrics=metrics[name], filters=filters[name])
            for name, (f, role) in found.items()
        }
    )


def _s3_latency_query(source: str, rule: s3.ReplicationRule) -> MetricQuery:
    dims = (
        ("SourceBucket", source),
        ("DestinationBucket", rule.destination_bucket),
        ("RuleId", rule.id),
    )
    return MetricQuery(
        f"{source}/{rule.id}/ReplicationLatency", "AWS/S3", "ReplicationLatency", dims
    )


def _observe(
    topology: Topology, factory: ClientSource, deadline: float, observed_at: datetime
) -> tuple[dict[tuple[str, Section], object], dict[tuple[str, Section], MrFailoverError]]:
    tasks: dict[tuple[str, Section], Callable[[], object]] = {}
    for name, spec in topology.regions.items():
        if spec.aurora is not None:
            tasks[(name, "aurora")] = partial(observe_aurora, factory, name, spec, observed_at)
        if spec.dynamodb_tables:
            tasks[(name, "dynamodb")] = partial(
                observe_dynamodb, factory, name, topology, observed_at
            )
        if spec.s3_buckets:
            tasks[(name, "s3")] = partial(observe_s3_replication, factory, name, spec, observed_at)
    futures = run_concurrently(tasks, deadline=deadline)
    results: dict[tuple[str, Section], object] = {}
    errors: dict[tuple[str, Section], MrFailoverError] = {}
    for key, future in futures.items():
        if not future.done() or future.cancelled():
            errors[key] = RegionUnreachableError(
                key[0], f"{key[1]} reads", f"no answer within {deadline:g} s", "region impaired?"
            )
        elif (exc := future.exception()) is not None:
            if not isinstance(exc, MrFailoverError):
                raise exc  # a bug: keep its traceback
            errors[key] = exc
        else:
            results[key] = future.result()
    if errors and len(errors) == len(tasks):
        first = next(iter(errors.values()))
        if all(isinstance(e, CredentialsError) for e in errors.values()):
            raise first
    return results, errors


def _aurora_writer(topology: Topology, results: Mapping[tuple[str, Section], object]) -> str | None:
    """The writer as the answering regions see it, else the topology's designated one."""
    for (_, section), value in results.items():
        if section == "aurora" and isinstance(value, AuroraStatus) and value.global_cluster:
            writer = value.global_cluster.writer_region
            if writer in topology.regions:
                return writer
    for (name, section), value in results.items():
        if (
            section == "aurora"
            and isinstance(value, AuroraStatus)
            and value.global_cluster is None
            and value.cluster.replication_source is None
        ):
            return name
    return topology.writer_region()


# --- canaries ----------------------------------------------------------------------------------


@dataclass(eq=False)  # identity: a probe is a key of the pending set
class _Probe:
    """One canary write, read back in each destination."""

    kind: Kind
    source: str
    resource: str  # table or source bucket
    key: str
    started: float
    destinations: dict[str, str]  # destination region -> table or bucket
    tags: tuple[tuple[str, str], ...] = ()  # S3: the object's tags (the rule's filter)
    item_key: dict[str, Any] | None = None  # DynamoDB key of the item
    written: bool = False
    error: str = ""


def canary_key(run_id: str, region: str) -> str:
    """The marked key of a DynamoDB canary item (string hash key)."""
    return f"{CANARY_PREFIX}#{run_id}#{region}"


def canary_object_key(run_id: str, region: str, prefix: str = "", n: int = 0) -> str:
    """The marked key of an S3 canary object, under the replication rule's ``prefix``."""
    return f"{prefix}{CANARY_PREFIX}/{run_id}/{region}" + (f"-{n}" if n else "")


def dynamodb_item_key(client: Any, table: str, marker: str) -> dict[str, Any]:
    """A key for ``table`` built from its schema; the hash key carries the marker."""
    t = call(client, "describe_table", TableName=table)["Table"]
    types = {a["AttributeName"]: a["AttributeType"] for a in t.get("AttributeDefinitions", [])}
    key: dict[str, Any] = {}
    for element in t.get("KeySchema", []):
        name, kind = element["AttributeName"], types.get(element["AttributeName"], "S")
        if element["KeyType"] == "HASH":
            if kind == "N":
                raise _CanaryRefused(
                    f"hash key {name!r} is a number, which cannot carry the canary marker"
                )
            key[name] = {kind: marker.encode() if kind == "B" else marker}
        else:
            sort = {"S": CANARY_PREFIX, "N": "0", "B": CANARY_PREFIX.encode()}[kind]
            key[name] = {kind: sort}
    return key


class _CanaryRefused(Exception):
    """This resource cannot take a canary (said in the report, not raised out)."""


def _write(probe: _Probe, factory: ClientSource, run_id: str, clock: Clock) -> None:
    marker = {
        "mr_failover_canary": run_id,
        "written_by": "mr-failover check replication --canary",
    }
    if probe.kind == "dynamodb":
        client = factory.client("dynamodb", probe.source)
        probe.item_key = dynamodb_item_key(client, probe.resource, probe.key)
        item = {**probe.item_key, **{k: {"S": v} for k, v in marker.items()}}
        hash_name = next(iter(probe.item_key))
        probe.started = clock.monotonic()
        # The key is marked and unique per run: never overwrite anything else.
        call(
            client,
            "put_item",
            TableName=probe.resource,
            Item=item,
            ConditionExpression="attribute_not_exists(#k)",
            ExpressionAttributeNames={"#k": hash_name},
        )
    else:
        client = factory.client("s3", probe.source)
        extra = {"Tagging": urlencode(probe.tags)} if probe.tags else {}
        probe.started = clock.monotonic()
        call(
            client,
            "put_object",
            Bucket=probe.resource,
            Key=probe.key,
            Body=f"mr-failover replication canary {run_id}\n".encode(),
            Metadata={k.replace("_", "-"): v for k, v in marker.items()},
            **extra,
        )
    probe.written = True


def _arrived(probe: _Probe, factory: ClientSource, region: str) -> bool:
    resource = probe.destinations[region]
    if probe.kind == "dynamodb":
        client = factory.client("dynamodb", region)
        out = call(client, "get_item", TableName=resource, Key=probe.item_key, ConsistentRead=True)
        return "Item" in out
    client = factory.client("s3", region)
    try:
        client.head_object(Bucket=resource, Key=probe.key)
    except Exception as exc:
        if error_code(exc) in _S3_MISSING:
            return False
        raise call_error(client, "head_object", exc) from None
    return True


def _remove(probe: _Probe, factory: ClientSource, region: str, resource: str) -> Cleanup:
    """Delete the canary from ``region``; every S3 version and delete marker of its key."""
    try:
        if probe.kind == "dynamodb":
            if probe.item_key is None:
                return Cleanup(probe.kind, region, resource, probe.key, True, "never written")
            client = factory.client("dynamodb", region)
            call(client, "delete_item", TableName=resource, Key=probe.item_key)
        else:
            client = factory.client("s3", region)
            out = call(client, "list_object_versions", Bucket=resource, Prefix=probe.key)
            for v in [*out.get("Versions", []), *out.get("DeleteMarkers", [])]:
                if v["Key"] == probe.key:
                    call(
                        client,
                        "delete_object",
                        Bucket=resource,
                        Key=probe.key,
                        VersionId=v["VersionId"],
                    )
    except MrFailoverError as exc:
        return Cleanup(probe.kind, region, resource, probe.key, False, str(exc))
    return Cleanup(probe.kind, region, resource, probe.key, True)


def run_canaries(
    specs: Sequence[_LinkSpec],
    factory: ClientSource,
    *,
    run_id: str,
    clock: Clock,
    timeout: float,
    poll: float = DEFAULT_POLL,
) -> tuple[dict[tuple[Kind, str, str, str], CanaryResult], list[Cleanup]]:
    """Write, wait for, and remove the canaries of ``specs``.

    Returns the result per (kind, source, destination, resource) and what the cleanup did.
    Every destination is polled in the same loop, so each canary's lag is measured from
    just before its write to the first poll that sees it (an upper bound, never less
    than the real lag), with ``poll`` seconds of resolution.
    """
    probes: dict[tuple[Kind, str, str, CanaryFilter], _Probe] = {}
    for spec in specs:
        # One canary per source and filter: each S3 rule's filter (prefix, tags) decides
        # which objects it replicates (rule: s3-replication-filter).
        flt = spec.canary_filter
        pkey = (spec.kind, spec.source, spec.resource, flt)
        if pkey not in probes:
            if spec.kind == "dynamodb":
                key = canary_key(run_id, spec.source)
            else:
                n = sum(1 for k in probes if k[:3] == pkey[:3])
                key = canary_object_key(run_id, spec.source, flt.prefix, n)
            probes[pkey] = _Probe(
                spec.kind, spec.source, spec.resource, key, 0.0, {}, tags=flt.tags
            )
        probes[pkey].destinations[spec.destination] = spec.target or spec.resource

    results: dict[tuple[Kind, str, str, str], CanaryResult] = {}
    cleanup: list[Cleanup] = []
    attempted: list[_Probe] = []
    try:
        for probe in probes.values():
            attempted.append(probe)
            try:
                _write(probe, factory, run_id, clock)
            except _CanaryRefused as exc:
                probe.error = f"canary skipped: {exc}"
            except MrFailoverError as exc:
                probe.error = f"canary write failed: {exc}"
        pending = {(p, region) for p in probes.values() if p.written for region in p.destinations}
        last_error: dict[tuple[int, str], str] = {}
        started = clock.monotonic()
        while pending:
            for probe, region in sorted(pending, key=lambda pr: (pr[0].key, pr[0].kind, pr[1])):
                try:
                    seen = _arrived(probe, factory, region)
                except MrFailoverError as exc:
                    # A slow or throttled read is retried on the next round.
                    last_error[(id(probe), region)] = str(exc)
                    continue
                if seen:
                    lag = clock.monotonic() - probe.started
                    results[(probe.kind, probe.source, region, probe.resource)] = CanaryResult(
                        probe.key, "seen", lag, lag
                    )
                    pending.discard((probe, region))
            remaining = started + timeout - clock.monotonic()
            if not pending or remaining <= 0:
                break
            clock.sleep(min(poll, remaining))
        for probe, region in pending:
            waited = clock.monotonic() - probe.started
            detail = last_error.get((id(probe), region), "")
            results[(probe.kind, probe.source, region, probe.resource)] = CanaryResult(
                probe.key, "timeout", None, waited, detail
            )
        for probe in probes.values():
            if not probe.written:
                state: CanaryState = (
                    "skipped" if probe.error.startswith("canary skipped") else "failed"
                )
                for region in probe.destinations:
                    results[(probe.kind, probe.source, region, probe.resource)] = CanaryResult(
                        probe.key, state, None, 0.0, probe.error
                    )
    finally:
        # Also on Ctrl-C or a bug: marked test data must not be left behind. A write
        # whose answer was lost may still have landed, so attempted ones are removed too.
        for probe in attempted:
            if probe.error.startswith("canary skipped"):
                continue
            cleanup.append(_remove(probe, factory, probe.source, probe.resource))
            for region, resource in probe.destinations.items():
                cleanup.append(_remove(probe, factory, region, resource))
    return results, cleanup


# --- judging ------------------------------------------------------------------------------------


def _judge_dynamodb(
    spec: _LinkSpec, results: Mapping[tuple[str, Section], object]
) -> tuple[str, float | None, str | None, list[str], list[str]]:
    reasons: list[str] = []
    warnings: list[str] = []
    state = "unknown"
    lag: float | None = None
    src = results.get((spec.source, "dynamodb"))
    if isinstance(src, DynamoDbStatus):
        table = next((t for t in src.tables if t.name == spec.resource), None)
        if table is not None:
            if table.status not in _TABLE_OK:
                reasons.append(f"table {table.name} in {spec.source} is {table.status}")
            elif table.status != "ACTIVE":
                warnings.append(f"table {table.name} in {spec.source} is {table.status}")
            replica = table.replica(spec.destination)
            if replica is None:
                state = "no replica"
                reasons.append(f"{table.name} has no replica in {spec.destination}")
            else:
                state = replica.status
                if replica.status != "ACTIVE":
                    reasons.append(
                        f"{table.name} replica in {spec.destination} is {replica.status}"
                    )
        for out in src.outgoing:
            if out.table == spec.resource and out.receiving_region == spec.destination:
                lag = None if out.milliseconds is None else out.milliseconds / 1000
    dst = results.get((spec.destination, "dynamodb"))
    if isinstance(dst, DynamoDbStatus):
        table = next((t for t in dst.tables if t.name == spec.resource), None)
        if table is not None and table.status not in _TABLE_OK:
            reasons.append(f"table {table.name} in {spec.destination} is {table.status}")
    return state, lag, "ReplicationLatency" if lag is not None else None, reasons, warnings


def _judge_s3(
    spec: _LinkSpec, topology: Topology, results: Mapping[tuple[str, Section], object]
) -> tuple[str, float | None, str | None, list[str], list[str]]:
    reasons: list[str] = []
    warnings: list[str] = []
    state = "unknown"
    lag: float | None = None
    bucket_spec = next(
        b for b in topology.regions[spec.source].s3_buckets if b.name == spec.resource
    )
    src = results.get((spec.source, "s3"))
    if isinstance(src, S3Observed) and spec.resource in src.buckets:
        seen = src.buckets[spec.resource]
        f = seen.finding
        if f.versioning != "Enabled":
            reasons.append(f"versioning is {f.versioning} on source {f.name}")
        rule = f.rule_to(spec.target)
        if rule is None:
            state = "no rule"
            reasons.append(f"no replication rule {f.name} -> {spec.target}")
        else:
            state = "Enabled" if rule.enabled else "Disabled"
            if not rule.enabled:
                reasons.append(
                    f"replication rule {rule.id} ({f.name} -> {spec.target}) is disabled"
                )
            if bucket_spec.rtc and not rule.rtc:
                warnings.append(f"RTC is off on rule {rule.id} (the topology expects it on)")
            if not (rule.metrics or rule.rtc):
                warnings.append(
                    f"replication metrics off on rule {rule.id}: backlog and lag not measurable"
                )
        if seen.role is None and f.rules:
            reasons.append(f"{f.name} has no replication role")
        elif (
            seen.role is not None
            and bucket_spec.replication_role_arn is not None
            and seen.role != bucket_spec.replication_role_arn
        ):
            warnings.append(
                f"{f.name} replicates with role {seen.role}, the topology names "
                f"{bucket_spec.replication_role_arn}"
            )
        m = seen.metrics.get(spec.target)
        if m is not None:
            lag = m.latency_seconds
            if m.failed:
                reasons.append(f"{m.failed:g} operations failed to replicate to {spec.target}")
            if m.pending:
                warnings.append(f"{m.pending:g} operations pending replication to {spec.target}")
    dst = results.get((spec.destination, "s3"))
    if isinstance(dst, S3Observed):
        target = dst.buckets.get(spec.target)
        if target is None:
            warnings.append(f"destination {spec.target} not observed in {spec.destination}")
        elif target.finding.versioning != "Enabled":
            reasons.append(
                f"versioning is {target.finding.versioning} on destination {spec.target} "
                "(replication to it fails)"
            )
    return state, lag, "ReplicationLatency" if lag is not None else None, reasons, warnings


def _judge_aurora(
    spec: _LinkSpec, results: Mapping[tuple[str, Section], object]
) -> tuple[str, float | None, str | None, list[str], list[str]]:
    reasons: list[str] = []
    warnings: list[str] = []
    a = results.get((spec.destination, "aurora"))
    if not isinstance(a, AuroraStatus):
        return "unknown", None, None, reasons, warnings
    state = a.cluster.status
    if a.cluster.status != "available":
        reasons.append(f"cluster {a.cluster.id} is {a.cluster.status}")
    g = a.global_cluster
    if g is not None:
        member = g.member(a.cluster.arn)
        if member is None:
            reasons.append(f"{a.cluster.id} is not a member of global cluster {g.id}")
        else:
            state = member.synchronization or state
            if member.is_writer:
                reasons.append(f"{a.cluster.id} is a writer, not a secondary")
            elif member.synchronization not in (None, "connected"):
                reasons.append(f"{a.cluster.id} synchronization is {member.synchronization}")
        if g.failover is not None:
            reasons.append(f"global cluster {g.id} is {g.failover.status}")
    if a.lag_seconds is None:
        warnings.append(f"no lag datapoint for {a.cluster.id} in the last 15 min")
    return state, a.lag_seconds, a.lag_metric, reasons, warnings


def _judge_link(
    spec: _LinkSpec,
    topology: Topology,
    results: Mapping[tuple[str, Section], object],
    errors: Mapping[tuple[str, Section], MrFailoverError],
    down: Mapping[str, str],
    canary: CanaryResult | None,
) -> Link:
    section: Section = spec.kind
    if spec.kind == "dynamodb":
        state, lag, metric, reasons, warnings = _judge_dynamodb(spec, results)
    elif spec.kind == "s3":
        state, lag, metric, reasons, warnings = _judge_s3(spec, topology, results)
    else:
        state, lag, metric, reasons, warnings = _judge_aurora(spec, results)
    # The aurora link is read in the secondary's region only.
    sides = (spec.destination,) if spec.kind == "aurora" else (spec.source, spec.destination)
    for region in sides:
        exc = errors.get((region, section))
        if exc is not None and region not in down:
            reasons.append(f"{section} reads in {region} failed: {exc}")
    rpo = topology.policy.rpo_seconds
    if canary is not None:
        if canary.state == "timeout":
            detail = f" (last error: {canary.detail})" if canary.detail else ""
            reasons.append(
                f"canary not seen in {spec.destination} after {canary.waited_seconds:.1f} s{detail}"
            )
        elif canary.state == "failed":
            reasons.append(canary.detail)
        elif canary.state == "skipped":
            warnings.append(canary.detail)
    worst = worst_lag(lag, canary)
    # A lost canary already has its reason; its wait is only a lower bound of the lag.
    if worst is not None and worst > rpo and (canary is None or canary.state != "timeout"):
        reasons.append(f"lag {worst:.1f} s exceeds RPO {rpo} s")
    cut_off = spec.source in down or spec.destination in down
    if worst is None and spec.kind == "dynamodb" and canary is None and not cut_off:
        warnings.append("no ReplicationLatency datapoint in 15 min (idle table?): try --canary")
    return Link(
        kind=spec.kind,
        name=spec.name,
        source=spec.source,
        destination=spec.destination,
        state=state,
        metric_lag_seconds=lag,
        metric=metric,
        canary=canary,
        reasons=tuple(reasons),
        warnings=tuple(warnings),
    )


def _pair(
    source: str, destination: str, links: Sequence[Link], down: Mapping[str, str]
) -> PairCheck:
    reasons = [f"{r} is not answering: {down[r]}" for r in (source, destination) if r in down]
    warnings: list[str] = []
    for link in links:
        reasons += [f"{link.kind} {link.name}: {r}" for r in link.reasons]
        warnings += [f"{link.kind} {link.name}: {w}" for w in link.warnings]
    lags = [(link.lag_seconds, link.lag_is_lower_bound) for link in links]
    known = [(lag, bound) for lag, bound in lags if lag is not None]
    estimate, bound = max(known) if known else (None, False)
    return PairCheck(
        source=source,
        destination=destination,
        links=tuple(links),
        reasons=tuple(reasons),
        warnings=tuple(warnings),
        rpo_estimate_seconds=estimate,
        rpo_estimate_is_lower_bound=bound,
    )


# --- the check ----------------------------------------------------------------------------------


def _with_filter(spec: _LinkSpec, results: Mapping[tuple[str, Section], object]) -> _LinkSpec:
    """An S3 link with its rule's filter, as observed (none observed: no filter)."""
    observed = results.get((spec.source, "s3"))
    if spec.kind != "s3" or not isinstance(observed, S3Observed):
        return spec
    bucket = observed.buckets.get(spec.resource)
    flt = bucket.filters.get(spec.target) if bucket is not None else None
    return replace(spec, canary_filter=flt) if flt is not None else spec


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def check_replication(
    topology: Topology,
    factory: ClientSource,
    *,
    canary: bool = False,
    deadline: float = DEFAULT_DEADLINE,
    canary_timeout: float | None = None,
    poll: float = DEFAULT_POLL,
    clock: Clock | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    run_id: str | None = None,
) -> ReplicationReport:
    """Judge every region pair's replication; with ``canary``, measure it end to end.

    ``canary_timeout`` (default: twice the RPO, at least 10 s) bounds the wait for the
    canaries, on ``clock``. Raises CredentialsError when no read could be authenticated,
    and RefusedError, before any canary, when the credentials are another account's.
    """
    clock = clock or SystemClock()
    started = clock.monotonic()
    observed_at = now()
    rpo = topology.policy.rpo_seconds
    results, errors = _observe(topology, factory, deadline, observed_at)

    down: dict[str, str] = {}
    for (region, _), exc in errors.items():
        if isinstance(exc, RegionUnreachableError) and region not in down:
            down[region] = str(exc)
    specs = _links(topology, _aurora_writer(topology, results))

    canaries: dict[tuple[Kind, str, str, str], CanaryResult] = {}
    cleanup: list[Cleanup] = []
    if canary:
        # Canaries are writes: only into the topology's account (RefusedError otherwise).
        require_account(factory, topology)
        run_id = run_id or new_run_id()
        usable = [
            _with_filter(s, results)
            for s in specs
            if s.kind != "aurora"  # needs a database connection, not an AWS API
            and s.source not in down
            and s.destination not in down
        ]
        timeout = canary_timeout if canary_timeout is not None else max(2.0 * rpo, 10.0)
        canaries, cleanup = run_canaries(
            usable, factory, run_id=run_id, clock=clock, timeout=timeout, poll=poll
        )

    links: dict[tuple[str, str], list[Link]] = {}
    for spec in specs:
        result = canaries.get((spec.kind, spec.source, spec.destination, spec.resource))
        links.setdefault((spec.source, spec.destination), []).append(
            _judge_link(spec, topology, results, errors, down, result)
        )
    order = list(topology.regions)
    pairs = tuple(
        _pair(src, dst, links[(src, dst)], down)
        for src, dst in sorted(links, key=lambda p: (order.index(p[0]), order.index(p[1])))
    )
    regions = tuple(
        RegionAnswer(
            name=name,
            answering=name not in down,
            errors=tuple(str(e) for (r, _), e in errors.items() if r == name),
        )
        for name in topology.regions
    )
    return ReplicationReport(
        application=topology.application,
        observed_at=observed_at,
        elapsed_seconds=clock.monotonic() - started,
        rpo_seconds=rpo,
        canary=canary,
        run_id=run_id if canary else None,
        regions=regions,
        pairs=pairs,
        cleanup=tuple(cleanup),
    )
