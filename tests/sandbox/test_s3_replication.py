"""S3 cross-region replication in the sandbox, through boto3 over HTTP.

Frozen sandbox clock: ``sandbox.advance(s)`` moves it and runs the simulations once.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from typing import Any

import pytest

from mr_failover.sandbox import s3 as simulation
from mr_failover.sandbox.core import Sandbox
from mr_failover.sandbox.faults import Fault
from tests.sandbox.conftest import FROZEN_LAG

LAG = FROZEN_LAG  # the sb fixture (tests/sandbox/conftest.py) replicates after LAG
EAST, WEST = "us-east-1", "us-west-2"
SRC, DST = "assets-use1", "assets-usw2"
ROLE = "arn:aws:iam::123456789012:role/s3-replication"
RULE = "to-usw2"
DIMS = [
    {"Name": "SourceBucket", "Value": SRC},
    {"Name": "DestinationBucket", "Value": DST},
    {"Name": "RuleId", "Value": RULE},
]


def rule(dest: str, rule_id: str, *, metrics: bool = True, prefix: str = "") -> dict[str, Any]:
    destination: dict[str, Any] = {"Bucket": f"arn:aws:s3:::{dest}"}
    if metrics:
        destination["Metrics"] = {"Status": "Enabled", "EventThreshold": {"Minutes": 15}}
        destination["ReplicationTime"] = {"Status": "Enabled", "Time": {"Minutes": 15}}
    return {
        "ID": rule_id,
        "Priority": 1,
        "Status": "Enabled",
        "Filter": {"Prefix": prefix},
        "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": destination,
    }


@pytest.fixture
def s3(client: Callable[[str, str], Any]) -> dict[str, Any]:
    east, west = client("s3", EAST), client("s3", WEST)
    east.create_bucket(Bucket=SRC)
    west.create_bucket(Bucket=DST, CreateBucketConfiguration={"LocationConstraint": WEST})
    for c, bucket in ((east, SRC), (west, DST)):
        c.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return {EAST: east, WEST: west}


def replicate(s3: dict[str, Any], **kwargs: Any) -> None:
    s3[EAST].put_bucket_replication(
        Bucket=SRC, ReplicationConfiguration={"Role": ROLE, "Rules": [rule(DST, RULE, **kwargs)]}
    )


def status(c: Any, bucket: str, key: str, version: str | None = None) -> str | None:
    extra = {"VersionId": version} if version else {}
    value: str | None = c.head_object(Bucket=bucket, Key=key, **extra).get("ReplicationStatus")
    return value


def datapoints(cw: Any, name: str, stat: str = "Maximum") -> list[float]:
    now = dt.datetime.now(dt.UTC)
    out = cw.get_metric_statistics(
        Namespace="AWS/S3",
        MetricName=name,
        Dimensions=DIMS,
        StartTime=now - dt.timedelta(minutes=5),
        EndTime=now + dt.timedelta(minutes=1),
        Period=60,
        Statistics=[stat],
    )
    return [p[stat] for p in out["Datapoints"]]


def test_pending_then_completed_and_replica_on_destination(sb: Sandbox, s3: dict[str, Any]) -> None:
    replicate(s3)
    version = s3[EAST].put_object(Bucket=SRC, Key="logo.png", Body=b"png bytes")["VersionId"]

    assert status(s3[EAST], SRC, "logo.png") == "PENDING"
    sb.advance(LAG / 2)
    assert status(s3[EAST], SRC, "logo.png") == "PENDING"
    with pytest.raises(s3[WEST].exceptions.ClientError):
        s3[WEST].head_object(Bucket=DST, Key="logo.png")

    sb.advance(LAG / 2)

    assert status(s3[EAST], SRC, "logo.png") == "COMPLETED"
    head = s3[WEST].head_object(Bucket=DST, Key="logo.png")
    assert head["ReplicationStatus"] == "REPLICA"
    assert head["VersionId"] == version  # S3 keeps the version id
    body = s3[WEST].get_object(Bucket=DST, Key="logo.png")
    assert body["Body"].read() == b"png bytes"
    assert body["ReplicationStatus"] == "REPLICA"


def test_every_version_replicates(sb: Sandbox, s3: dict[str, Any]) -> None:
    replicate(s3)
    v1 = s3[EAST].put_object(Bucket=SRC, Key="k", Body=b"one")["VersionId"]
    v2 = s3[EAST].put_object(Bucket=SRC, Key="k", Body=b"two")["VersionId"]
    sb.advance(LAG)
    versions = s3[WEST].list_object_versions(Bucket=DST)["Versions"]
    assert sorted(v["VersionId"] for v in versions) == sorted([v1, v2])
    assert s3[WEST].get_object(Bucket=DST, Key="k")["Body"].read() == b"two"
    assert status(s3[EAST], SRC, "k", v1) == "COMPLETED"


def test_no_status_without_a_matching_rule(sb: Sandbox, s3: dict[str, Any]) -> None:
    s3[EAST].put_object(Bucket=SRC, Key="before-any-rule", Body=b"x")
    replicate(s3, prefix="images/")
    s3[EAST].put_object(Bucket=SRC, Key="docs/readme", Body=b"x")
    sb.advance(LAG)
    assert status(s3[EAST], SRC, "before-any-rule") is None
    assert status(s3[EAST], SRC, "docs/readme") is None
    assert s3[WEST].list_object_versions(Bucket=DST).get("Versions", []) == []


@pytest.mark.parametrize(
    "flt",
    [
        {"Tag": {"Key": "replicate", "Value": "yes"}},
        {"And": {"Prefix": "img/", "Tags": [{"Key": "replicate", "Value": "yes"}]}},
    ],
    ids=["tag", "and"],
)
def test_a_tag_filter_replicates_only_objects_written_with_the_tag(
    sb: Sandbox, s3: dict[str, Any], flt: dict[str, Any]
) -> None:
    body = rule(DST, RULE) | {"Filter": flt}
    s3[EAST].put_bucket_replication(
        Bucket=SRC, ReplicationConfiguration={"Role": ROLE, "Rules": [body]}
    )
    # GetBucketReplication gives the filter back as it was put (moto alone: Prefix "").
    [got] = s3[EAST].get_bucket_replication(Bucket=SRC)["ReplicationConfiguration"]["Rules"]
    assert got["Filter"] == flt
    s3[EAST].put_object(Bucket=SRC, Key="img/untagged", Body=b"x")
    s3[EAST].put_object(Bucket=SRC, Key="img/other", Body=b"x", Tagging="replicate=no")
    s3[EAST].put_object(Bucket=SRC, Key="img/tagged", Body=b"x", Tagging="replicate=yes&b=1")
    assert status(s3[EAST], SRC, "img/tagged") == "PENDING"
    sb.advance(LAG)
    assert status(s3[EAST], SRC, "img/untagged") is None
    assert status(s3[EAST], SRC, "img/other") is None
    assert status(s3[EAST], SRC, "img/tagged") == "COMPLETED"
    replicas = s3[WEST].list_object_versions(Bucket=DST).get("Versions", [])
    assert [v["Key"] for v in replicas] == ["img/tagged"]
    tags = s3[WEST].get_object_tagging(Bucket=DST, Key="img/tagged")["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == {"replicate": "yes", "b": "1"}
    # Tagging an existing object later does not replicate it (new objects only).
    s3[EAST].put_object_tagging(
        Bucket=SRC, Key="img/untagged", Tagging={"TagSet": [{"Key": "replicate", "Value": "yes"}]}
    )
    sb.advance(LAG)
    assert len(s3[WEST].list_object_versions(Bucket=DST).get("Versions", [])) == 1


def test_two_way_replication_does_not_loop(sb: Sandbox, s3: dict[str, Any]) -> None:
    replicate(s3)
    s3[WEST].put_bucket_replication(
        Bucket=DST, ReplicationConfiguration={"Role": ROLE, "Rules": [rule(SRC, "back")]}
    )
    s3[EAST].put_object(Bucket=SRC, Key="one-way", Body=b"x")
    s3[WEST].put_object(Bucket=DST, Key="other-way", Body=b"y")
    sb.advance(LAG)
    sb.advance(LAG)
    assert len(s3[EAST].list_object_versions(Bucket=SRC)["Versions"]) == 2
    assert len(s3[WEST].list_object_versions(Bucket=DST)["Versions"]) == 2
    assert status(s3[EAST], SRC, "other-way") == "REPLICA"
    assert status(s3[WEST], DST, "other-way") == "COMPLETED"


def test_failed_when_the_destination_region_is_down_and_not_retried(
    sb: Sandbox, s3: dict[str, Any], client: Callable[[str, str], Any]
) -> None:
    replicate(s3)
    sb.add_fault(Fault(region=WEST, service="s3"))
    s3[EAST].put_object(Bucket=SRC, Key="during-outage", Body=b"x")
    sb.advance(LAG)

    assert status(s3[EAST], SRC, "during-outage") == "FAILED"
    assert datapoints(client("cloudwatch", EAST), "OperationsFailedReplication", "Sum") == [1.0]

    sb.heal(WEST, "s3")
    sb.advance(LAG)
    # As on AWS, a FAILED object stays FAILED (S3 Batch Replication or a new PUT redoes it).
    assert status(s3[EAST], SRC, "during-outage") == "FAILED"
    assert s3[WEST].list_object_versions(Bucket=DST).get("Versions", []) == []
    s3[EAST].put_object(Bucket=SRC, Key="during-outage", Body=b"x")
    sb.advance(LAG)
    assert status(s3[EAST], SRC, "during-outage") == "COMPLETED"


def test_pending_while_the_source_region_is_down(sb: Sandbox, s3: dict[str, Any]) -> None:
    replicate(s3)
    s3[EAST].put_object(Bucket=SRC, Key="k", Body=b"x")
    sb.add_fault(Fault(region=EAST))
    sb.advance(LAG * 5)
    assert s3[WEST].list_object_versions(Bucket=DST).get("Versions", []) == []
    sb.heal(EAST)
    sb.advance(0.0)
    assert status(s3[EAST], SRC, "k") == "COMPLETED"


def test_metrics_with_exact_dimensions_in_the_source_region(
    sb: Sandbox, s3: dict[str, Any], client: Callable[[str, str], Any]
) -> None:
    replicate(s3)
    s3[EAST].put_object(Bucket=SRC, Key="a", Body=b"12345")
    s3[EAST].put_object(Bucket=SRC, Key="b", Body=b"123")
    sb.advance(0.0)
    cw = client("cloudwatch", EAST)
    assert datapoints(cw, "OperationsPendingReplication") == [2.0]
    assert datapoints(cw, "BytesPendingReplication") == [8.0]

    sb.advance(LAG + 0.1)

    assert datapoints(cw, "ReplicationLatency") == [pytest.approx(LAG + 0.1)]
    assert datapoints(cw, "OperationsPendingReplication", "Minimum") == [0.0]
    assert datapoints(cw, "BytesPendingReplication", "Minimum") == [0.0]
    names = {
        m["MetricName"]
        for m in cw.list_metrics(Namespace="AWS/S3", Dimensions=DIMS)["Metrics"]
        if sorted(m["Dimensions"], key=lambda d: d["Name"]) == sorted(DIMS, key=lambda d: d["Name"])
    }
    assert names == {
        "OperationsPendingReplication",
        "BytesPendingReplication",
        "ReplicationLatency",
    }
    # Published in the source bucket's region only.
    assert (
        client("cloudwatch", WEST).list_metrics(Namespace="AWS/S3", Dimensions=DIMS)["Metrics"]
        == []
    )


def test_no_metrics_when_the_rule_has_them_off(
    sb: Sandbox, s3: dict[str, Any], client: Callable[[str, str], Any]
) -> None:
    replicate(s3, metrics=False)
    s3[EAST].put_object(Bucket=SRC, Key="a", Body=b"x")
    sb.advance(LAG)
    assert status(s3[EAST], SRC, "a") == "COMPLETED"
    cw = client("cloudwatch", EAST)
    assert cw.list_metrics(Namespace="AWS/S3", Dimensions=DIMS)["Metrics"] == []


@pytest.mark.parametrize("hook", simulation.HOOKS)
def test_patched_moto_attribute_exists_and_is_wrapped(sandbox: Sandbox, hook: str) -> None:
    # The simulation patches moto 5.2.5's internals: a moto upgrade must fail here first.
    module_name, cls_name, attr = hook.rsplit(".", 2)
    cls = getattr(importlib.import_module(module_name), cls_name)
    patched = vars(cls)[attr]
    function = patched.fget if isinstance(patched, property) else patched
    assert function.__code__.co_filename == simulation.__file__, f"{hook} is not patched"
