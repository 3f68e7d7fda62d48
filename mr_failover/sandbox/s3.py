"""S3 cross-region replication for the sandbox, on top of moto.

moto stores a bucket's replication configuration and never acts on it. This module owns
what is missing: every object version written to a bucket with an enabled replication
rule (PutObject, CopyObject, CompleteMultipartUpload: moto routes all three through
``S3Backend.put_object``) is copied to the rule's destination bucket, with the same
version id, after ``settings.s3_replication_lag``; ``HeadObject`` / ``GetObject`` carry
``x-amz-replication-status`` (``PENDING`` then ``COMPLETED`` on the source, ``REPLICA``
on the destination, ``FAILED`` when the destination region is down when the copy is
due, and failed objects are not retried, as on AWS); and, for rules whose destination
has ``Metrics`` enabled, the ``AWS/S3`` metrics ``ReplicationLatency``,
``OperationsPendingReplication``, ``BytesPendingReplication`` and
``OperationsFailedReplication`` (dimensions ``SourceBucket``, ``DestinationBucket``,
``RuleId``) in the source bucket's region. A rule applies to an object when its filter
matches: the key prefix and every tag of a ``Tag`` or ``And`` filter (the object's tags
are the ones it was written with: ``PutObjectTagging`` on a version not yet copied
re-evaluates it). docs/SANDBOX-data.md says where this differs from AWS.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from moto.core.responses import ActionResult
from moto.s3.exceptions import ReplicationConfigurationNotFoundError
from moto.s3.models import FakeBucket, FakeKey, S3Backend, s3_backends
from moto.s3.responses import S3Response

from mr_failover.sandbox.dynamodb import EPSILON, current, register
from mr_failover.sandbox.state import Hooks

if TYPE_CHECKING:
    from collections.abc import Callable

    from mr_failover.sandbox.state import SandboxState

STATE_KEY = "s3"
NAMESPACE = "AWS/S3"
STATUS_ATTR = "_mr_failover_replication_status"
STATUS_HEADER = "x-amz-replication-status"
# Set on a version by PutObject until its tags are set (moto sets them right after).
FRESH_ATTR = "_mr_failover_untagged"
# Pending gauges are republished at least this often (sandbox seconds) while they hold
# a value, and at once when they change; AWS publishes them once a minute.
METRIC_PERIOD = 1.0

# What this module patches in moto (tests/sandbox/test_s3_replication.py checks each
# still exists; recheck them when the moto pin moves).
HOOKS = (
    "moto.s3.models.S3Backend.put_object",
    "moto.s3.models.S3Backend.put_object_tagging",
    "moto.s3.models.FakeKey.response_dict",
    "moto.s3.responses.S3Response.get_bucket_replication",
)

_hooks = Hooks("S3")
_original_put_object: Callable[..., FakeKey] | None = None

RuleKey = tuple[str, str, str]  # (source bucket, destination bucket, rule id)


@dataclass
class Pending:
    """One object version waiting to be copied to one destination."""

    source_bucket: str
    key: str
    version_id: str
    dest_bucket: str
    rule_id: str
    metrics: bool
    size: int
    written: float


@dataclass
class Gauge:
    pending_ops: int = -1
    pending_bytes: int = -1
    published: float = float("-inf")


@dataclass
class State:
    pending: list[Pending] = field(default_factory=list)
    gauges: dict[RuleKey, Gauge] = field(default_factory=dict)
    completed: int = 0
    failed: int = 0


def install(sandbox: SandboxState) -> None:
    """Patch moto (once per process) and register the replication ticker."""
    register(sandbox)
    _hooks.install(sandbox, _patch_moto)
    sandbox.every(sandbox.settings.tick, lambda: tick(sandbox))


def _patch_moto() -> None:
    global _original_put_object
    _original_put_object = S3Backend.put_object
    S3Backend.put_object = _wrap_put_object(S3Backend.put_object)  # type: ignore[method-assign]
    S3Backend.put_object_tagging = _wrap_put_object_tagging(S3Backend.put_object_tagging)  # type: ignore[method-assign]
    S3Response.get_bucket_replication = _get_bucket_replication  # type: ignore[method-assign]
    # A property: replace it on the class, keeping moto's getter underneath.
    FakeKey.response_dict = _wrap_response_dict(FakeKey.__dict__["response_dict"])  # type: ignore[method-assign,assignment]


def state(sandbox: SandboxState) -> State:
    """This simulation's state in ``sandbox`` (wiped by ``Sandbox.reset``)."""
    st: State = sandbox.state(STATE_KEY, State)
    return st


def _backend(sb: SandboxState) -> S3Backend:
    # S3 buckets live in one backend per partition; each bucket knows its region.
    backend: S3Backend = s3_backends[sb.account_id]["aws"]
    return backend


def _down(sb: SandboxState, region: str) -> bool:
    return sb.region_down(region, "s3")


def replication_status(key: FakeKey) -> str | None:
    status: str | None = getattr(key, STATUS_ATTR, None)
    return status


def _set_status(key: FakeKey, status: str) -> None:
    setattr(key, STATUS_ATTR, status)


# --- which rules apply -----------------------------------------------------------------


# rule: s3-replication-filter
# "A filter that identifies the subset of objects to which the replication rule applies.
# A Filter must specify exactly one Prefix, Tag, or an And child element"; a Tag filter:
# "The rule applies only to objects that have the tag in their tag set"
# (ReplicationRuleFilter, AWS SDK for Python reference,
# https://docs.aws.amazon.com/sdk-for-python/v4/reference/clients/s3/structures/ReplicationRuleFilter/;
# "Replication configuration file elements", Amazon S3 User Guide,
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-add-config.html).
def rule_filter(rule: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """(key prefix, tags every object must carry) of a rule: V1 ``Prefix`` or V2 ``Filter``."""
    if "Prefix" in rule:  # V1 rule
        return str(rule.get("Prefix") or ""), {}
    flt = rule.get("Filter") or {}
    both = flt.get("And") or {}
    prefix = flt.get("Prefix") if "Prefix" in flt else both.get("Prefix")
    tags = flt.get("Tag") if "Tag" in flt else both.get("Tag")
    if isinstance(tags, dict):
        tags = [tags]
    wanted = {str(t.get("Key")): str(t.get("Value") or "") for t in tags or []}
    return str(prefix or ""), wanted


def _filter_matches(rule: dict[str, Any], key_name: str, tags: dict[str, str]) -> bool:
    prefix, wanted = rule_filter(rule)
    return key_name.startswith(prefix) and all(tags.get(k) == v for k, v in wanted.items())


def _enabled(value: Any) -> bool:
    return isinstance(value, dict) and value.get("Status") == "Enabled"


def matching_rules(
    bucket: FakeBucket, key_name: str, tags: dict[str, str] | None = None
) -> list[tuple[str, str, bool]]:
    """(destination bucket, rule id, metrics on) for each destination an object goes to.

    A rule applies when its filter matches the key and ``tags`` (the object's tags).
    Several rules naming one destination: the highest ``Priority`` wins, as on AWS.
    """
    config = getattr(bucket, "replication", None)
    if not config:
        return []
    rules = config.get("Rule") or []
    if isinstance(rules, dict):
        rules = [rules]
    best: dict[str, tuple[int, str, bool]] = {}
    for rule in rules:
        if rule.get("Status") != "Enabled" or not _filter_matches(rule, key_name, tags or {}):
            continue
        dest = rule.get("Destination") or {}
        dest_bucket = str(dest.get("Bucket", "")).removeprefix("arn:aws:s3:::")
        if not dest_bucket:
            continue
        priority = int(rule.get("Priority") or 0)
        metrics = _enabled(dest.get("Metrics")) or _enabled(dest.get("ReplicationTime"))
        if dest_bucket not in best or priority > best[dest_bucket][0]:
            best[dest_bucket] = (priority, str(rule.get("ID", "")), metrics)
    return [(dest, rule_id, metrics) for dest, (_, rule_id, metrics) in sorted(best.items())]


# --- replication -----------------------------------------------------------------------


def _tags(backend: S3Backend, key: FakeKey) -> dict[str, str]:
    found = backend.get_object_tagging(key).get("Tags", [])
    return {str(t["Key"]): str(t["Value"]) for t in found}


def _on_put(sb: SandboxState, bucket: FakeBucket, key: FakeKey) -> None:
    if not bucket.is_versioned:
        return
    rules = matching_rules(bucket, key.name, _tags(_backend(sb), key))
    if not rules:
        return
    _set_status(key, "PENDING")
    st = state(sb)
    for dest, rule_id, metrics in rules:
        st.pending.append(
            Pending(
                bucket.name, key.name, key.version_id, dest, rule_id, metrics, key.size, sb.now()
            )
        )


def tick(sb: SandboxState) -> None:
    """Copy the versions whose lag has passed; publish the metrics of rules that want them."""
    now = sb.now()
    st = state(sb)
    backend = _backend(sb)
    lag = sb.settings.s3_replication_lag
    kept: list[Pending] = []
    copied: list[tuple[Pending, FakeKey]] = []
    for item in st.pending:
        source_bucket = backend.buckets.get(item.source_bucket)
        if source_bucket is None:
            continue
        source_key = _version(source_bucket, item.key, item.version_id)
        if source_key is None:
            continue  # the version was deleted before it could be copied
        if now + EPSILON < item.written + lag or _down(sb, source_bucket.region_name):
            kept.append(item)
            continue
        dest_bucket = backend.buckets.get(item.dest_bucket)
        if (
            dest_bucket is None
            or not dest_bucket.is_versioned
            or _down(sb, dest_bucket.region_name)
        ):
            _set_status(source_key, "FAILED")
            st.failed += 1
            rule = (item.source_bucket, item.dest_bucket, item.rule_id)
            if item.metrics:
                _put_metric(
                    sb, source_bucket.region_name, "OperationsFailedReplication", 1, "Count", rule
                )
            continue
        _copy(sb, backend, source_key, dest_bucket)
        copied.append((item, source_key))
        st.completed += 1
        if item.metrics:
            _put_metric(
                sb,
                source_bucket.region_name,
                "ReplicationLatency",
                max(0.0, now - item.written),
                "Seconds",
                (item.source_bucket, item.dest_bucket, item.rule_id),
            )
    st.pending = kept
    # With several destinations the source shows COMPLETED once every copy is done,
    # and FAILED stays FAILED.
    waiting = {(p.source_bucket, p.key, p.version_id) for p in kept}
    for item, source_key in copied:
        ident = (item.source_bucket, item.key, item.version_id)
        if replication_status(source_key) == "PENDING" and ident not in waiting:
            _set_status(source_key, "COMPLETED")
    _publish_gauges(sb, st, backend, now)


def _version(bucket: FakeBucket, name: str, version_id: str) -> FakeKey | None:
    for key in bucket.keys.getlist(name, []):
        if isinstance(key, FakeKey) and key.version_id == version_id:
            return key
    return None


def _copy(sb: SandboxState, backend: S3Backend, source: FakeKey, dest_bucket: FakeBucket) -> None:
    assert _original_put_object is not None
    # The unpatched put_object: a replica is never replicated again (no loops between
    # two buckets that replicate to each other, as on AWS without replica sync).
    replica = _original_put_object(
        backend,
        dest_bucket.name,
        source.name,
        source.value,
        storage=source.storage_class,
        encryption=source.encryption,
        kms_key_id=source.kms_key_id,
        disable_notification=True,
    )
    replica._version_id = source.version_id  # S3 keeps the version id on the replica
    replica.set_metadata(dict(source.metadata))
    tags = _tags(backend, source)
    if tags:  # S3 replicates object tags with the object
        backend.tagger.tag_resource(replica.arn, backend.tagger.convert_dict_to_tags_input(tags))
    _set_status(replica, "REPLICA")


def _publish_gauges(sb: SandboxState, st: State, backend: S3Backend, now: float) -> None:
    counts: dict[RuleKey, tuple[int, int]] = {}
    for item in st.pending:
        if item.metrics:
            rule = (item.source_bucket, item.dest_bucket, item.rule_id)
            ops, size = counts.get(rule, (0, 0))
            counts[rule] = (ops + 1, size + item.size)
    for rule in set(counts) | set(st.gauges):
        ops, size = counts.get(rule, (0, 0))
        gauge = st.gauges.setdefault(rule, Gauge())
        changed = (ops, size) != (gauge.pending_ops, gauge.pending_bytes)
        if not changed and (ops == 0 or now - gauge.published < METRIC_PERIOD):
            continue
        bucket = backend.buckets.get(rule[0])
        if bucket is None:
            del st.gauges[rule]
            continue
        _put_metric(sb, bucket.region_name, "OperationsPendingReplication", ops, "Count", rule)
        _put_metric(sb, bucket.region_name, "BytesPendingReplication", size, "Bytes", rule)
        gauge.pending_ops, gauge.pending_bytes, gauge.published = ops, size, now


def _put_metric(
    sb: SandboxState, region: str, name: str, value: float, unit: str, rule: RuleKey
) -> None:
    dims = [
        {"Name": "SourceBucket", "Value": rule[0]},
        {"Name": "DestinationBucket", "Value": rule[1]},
        {"Name": "RuleId", "Value": rule[2]},
    ]
    sb.backend("cloudwatch", region).put_metric_data(
        NAMESPACE, [{"MetricName": name, "Value": float(value), "Unit": unit, "Dimensions": dims}]
    )


# --- moto patches ----------------------------------------------------------------------


def _wrap_put_object(original: Callable[..., FakeKey]) -> Callable[..., FakeKey]:
    @functools.wraps(original)
    def put_object(self: S3Backend, bucket_name: str, *args: Any, **kwargs: Any) -> FakeKey:
        sb = current(self.account_id)
        if sb is None:
            return original(self, bucket_name, *args, **kwargs)
        with sb.lock:
            key = original(self, bucket_name, *args, **kwargs)
            setattr(key, FRESH_ATTR, True)
            _on_put(sb, self.get_bucket(bucket_name), key)
            return key

    return put_object


def _wrap_put_object_tagging(original: Callable[..., FakeKey]) -> Callable[..., FakeKey]:
    """Tags sent with PutObject are set just after the object is stored (moto's order):
    a version still waiting for its first copy is matched again with its tags."""

    @functools.wraps(original)
    def put_object_tagging(self: S3Backend, key: FakeKey, *args: Any, **kwargs: Any) -> FakeKey:
        sb = current(self.account_id)
        if sb is None:
            return original(self, key, *args, **kwargs)
        with sb.lock:
            out = original(self, key, *args, **kwargs)
            # Only the tags of the write itself count: an object tagged later is not
            # replicated again (S3 replicates new objects; existing ones need Batch
            # Replication).
            fresh = getattr(key, FRESH_ATTR, False)
            setattr(key, FRESH_ATTR, False)
            bucket = self.buckets.get(str(key.bucket_name))
            if fresh and bucket is not None:
                st = state(sb)
                ident = (bucket.name, key.name, key.version_id)
                st.pending = [
                    p for p in st.pending if (p.source_bucket, p.key, p.version_id) != ident
                ]
                setattr(key, STATUS_ATTR, None)
                _on_put(sb, bucket, key)
            return out

    return put_object_tagging


def _api_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A stored rule (parsed from PutBucketReplication's XML) as GetBucketReplication
    returns it, with its filter and delete-marker setting (moto answers an empty prefix
    filter whatever was stored)."""
    out: dict[str, Any] = {"ID": rule.get("ID", ""), "Status": rule.get("Status")}
    if "Prefix" in rule and "Filter" not in rule:  # V1
        out["Prefix"] = rule.get("Prefix") or ""
    else:
        out["Priority"] = rule.get("Priority")
        prefix, tags = rule_filter(rule)
        pairs = [{"Key": k, "Value": v} for k, v in tags.items()]
        if "And" in (rule.get("Filter") or {}):
            both: dict[str, Any] = {"Tags": pairs}
            if prefix:
                both["Prefix"] = prefix
            out["Filter"] = {"And": both}
        elif pairs:
            out["Filter"] = {"Tag": pairs[0]}
        else:
            out["Filter"] = {"Prefix": prefix}
        out["DeleteMarkerReplication"] = rule.get("DeleteMarkerReplication") or {
            "Status": "Disabled"
        }
    out["Destination"] = rule.get("Destination")
    return out


def _get_bucket_replication(self: S3Response) -> Any:
    self.data["Action"] = "GetBucketReplication"
    replication = self.backend.get_bucket_replication(self.bucket_name)
    if not replication:
        raise ReplicationConfigurationNotFoundError(bucket_name=self.bucket_name)
    rules = replication["Rule"]
    rules = [rules] if isinstance(rules, dict) else rules
    config = {"Role": replication["Role"], "Rules": [_api_rule(r) for r in rules]}
    return self.serialized(ActionResult({"ReplicationConfiguration": config}))


def _wrap_response_dict(original: property) -> property:
    getter = original.fget
    assert getter is not None

    def response_dict(self: FakeKey) -> dict[str, Any]:
        out: dict[str, Any] = getter(self)
        status = replication_status(self)
        if status is not None:
            out[STATUS_HEADER] = status
        return out

    return property(response_dict)
