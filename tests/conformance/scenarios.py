"""Conformance scenarios: AWS behaviours the tool and the sandbox rely on, checked cheaply.

Each scenario creates throwaway resources named ``mrf-conf-<run>-...`` and tagged
``mr-failover-conformance=<run>``, checks one documented rule, and registers the
deletion of what it created with :class:`Cleanup` *before* checking anything, so that a
failed check still deletes. The same scenarios run against the sandbox in ``make test``
(tests/sandbox/test_conformance.py) and against a real account in ``make conformance``
(tests/conformance/run.py). docs/CONFORMANCE.md lists them with their sources.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TAG = "mr-failover-conformance"
PREFIX = "mrf-conf"
ClientMaker = Callable[[str, str], Any]  # (service, region) -> boto3 client


@dataclass
class Context:
    """What a scenario needs: clients, two regions, the run id, a clock, the cleanup."""

    client: ClientMaker
    run_id: str
    regions: tuple[str, str]
    sleep: Callable[[float], None]
    wait_seconds: float  # the longest wait for an asynchronous effect
    cleanup: Cleanup = field(default_factory=lambda: Cleanup())

    def name(self, what: str) -> str:
        return f"{PREFIX}-{self.run_id}-{what}"

    def tags(self, key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
        return [{key: TAG, value: self.run_id}]

    def wait_for(self, what: str, check: Callable[[], bool], poll: float = 2.0) -> None:
        waited = 0.0
        while not check():
            if waited >= self.wait_seconds:
                raise AssertionError(f"{what}: not seen within {self.wait_seconds:g}s")
            self.sleep(poll)
            waited += poll


class Cleanup:
    """Deletions to run at the end, newest first; each failure is reported, none stops."""

    def __init__(self) -> None:
        self._undo: list[tuple[str, Callable[[], None]]] = []

    def add(self, what: str, undo: Callable[[], None]) -> None:
        self._undo.append((what, undo))

    def run(self) -> list[str]:
        """Run every deletion; the ones that failed, in words."""
        failed = []
        while self._undo:
            what, undo = self._undo.pop()
            try:
                undo()
            except Exception as exc:
                failed.append(f"{what}: {exc}")
        return failed


def new_run_id() -> str:
    return uuid.uuid4().hex[:8]


# --- Route 53 -----------------------------------------------------------------------------


def _health_check(ctx: Context, what: str, **extra: Any) -> str:
    r53 = ctx.client("route53", "us-east-1")
    config = {
        "Type": "HTTPS",
        "FullyQualifiedDomainName": "example.com",
        "Port": 443,
        "ResourcePath": "/",
        "RequestInterval": 30,
        "FailureThreshold": 3,
        **extra,
    }
    hc = r53.create_health_check(CallerReference=ctx.name(what), HealthCheckConfig=config)
    hc_id = str(hc["HealthCheck"]["Id"])
    ctx.cleanup.add(f"health check {hc_id}", lambda: r53.delete_health_check(HealthCheckId=hc_id))
    r53.change_tags_for_resource(
        ResourceType="healthcheck",
        ResourceId=hc_id,
        AddTags=[*ctx.tags(), {"Key": "Name", "Value": ctx.name(what)}],
    )
    return hc_id


def route53_health_check_inversion(ctx: Context) -> None:
    """UpdateHealthCheck Inverted, then Disabled with Inverted: both kept, version bumped."""
    r53 = ctx.client("route53", "us-east-1")
    hc_id = _health_check(ctx, "hc")
    first = r53.get_health_check(HealthCheckId=hc_id)["HealthCheck"]
    r53.update_health_check(
        HealthCheckId=hc_id, HealthCheckVersion=first["HealthCheckVersion"], Inverted=True
    )
    inverted = r53.get_health_check(HealthCheckId=hc_id)["HealthCheck"]
    assert inverted["HealthCheckConfig"]["Inverted"] is True, inverted
    assert inverted["HealthCheckVersion"] > first["HealthCheckVersion"], inverted
    r53.update_health_check(HealthCheckId=hc_id, Disabled=True)
    both = r53.get_health_check(HealthCheckId=hc_id)["HealthCheck"]["HealthCheckConfig"]
    assert (both.get("Disabled"), both.get("Inverted")) == (True, True), both
    # A stale version is refused (the tool's inversion relies on it).
    try:
        r53.update_health_check(
            HealthCheckId=hc_id, HealthCheckVersion=first["HealthCheckVersion"], Inverted=False
        )
    except r53.exceptions.HealthCheckVersionMismatch:
        pass
    else:
        raise AssertionError("a stale HealthCheckVersion was accepted")


def route53_record_with_health_check(ctx: Context) -> None:
    """A weighted record keeps its HealthCheckId and Weight (ListResourceRecordSets)."""
    r53 = ctx.client("route53", "us-east-1")
    hc_id = _health_check(ctx, "rec")
    zone_name = f"{ctx.name('zone')}.example.com."
    zone = r53.create_hosted_zone(Name=zone_name, CallerReference=ctx.name("zone"))
    zone_id = str(zone["HostedZone"]["Id"]).split("/")[-1]
    record = {
        "Name": f"api.{zone_name}",
        "Type": "A",
        "SetIdentifier": ctx.regions[0],
        "Weight": 100,
        "TTL": 60,
        "ResourceRecords": [{"Value": "192.0.2.10"}],
        "HealthCheckId": hc_id,
    }

    ctx.cleanup.add(f"hosted zone {zone_id}", lambda: delete_zone(r53, zone_id))
    r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id, AddTags=ctx.tags())
    r53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": record}]},
    )
    found = r53.list_resource_record_sets(
        HostedZoneId=zone_id, StartRecordName=record["Name"], StartRecordType="A"
    )["ResourceRecordSets"][0]
    assert (found.get("HealthCheckId"), found.get("Weight")) == (hc_id, 100), found


def delete_zone(r53: Any, zone_id: str) -> None:
    """Delete a hosted zone's own records (not its NS and SOA), then the zone."""
    records = r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    changes = [
        {"Action": "DELETE", "ResourceRecordSet": r}
        for r in records
        if r["Type"] not in ("NS", "SOA")
    ]
    if changes:
        r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    r53.delete_hosted_zone(Id=zone_id)


# --- DynamoDB -----------------------------------------------------------------------------


def dynamodb_global_table_replica(ctx: Context) -> None:
    """Global tables version 2019.11.21: UpdateTable ReplicaUpdates Create adds a replica
    that becomes ACTIVE, and DescribeTable names the version."""
    home, other = ctx.regions
    ddb = ctx.client("dynamodb", home)
    table = ctx.name("table")
    ddb.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        Tags=ctx.tags(),
    )
    ctx.cleanup.add(f"table {table} in {home}", lambda: ddb.delete_table(TableName=table))
    ctx.wait_for(
        f"table {table} ACTIVE",
        lambda: ddb.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE",
    )
    ddb.update_table(TableName=table, ReplicaUpdates=[{"Create": {"RegionName": other}}])

    def drop_replica() -> None:
        ddb.update_table(TableName=table, ReplicaUpdates=[{"Delete": {"RegionName": other}}])
        ctx.wait_for(
            f"replica {other} removed",
            lambda: not ddb.describe_table(TableName=table)["Table"].get("Replicas"),
            poll=5.0,
        )

    ctx.cleanup.add(f"replica of {table} in {other}", drop_replica)

    def replica_active() -> bool:
        t = ddb.describe_table(TableName=table)["Table"]
        return any(
            r["RegionName"] == other and r.get("ReplicaStatus") == "ACTIVE"
            for r in t.get("Replicas", [])
        )

    ctx.wait_for(f"replica of {table} in {other} ACTIVE", replica_active, poll=5.0)
    described = ddb.describe_table(TableName=table)["Table"]
    assert described.get("GlobalTableVersion") == "2019.11.21", described
    far = ctx.client("dynamodb", other).describe_table(TableName=table)["Table"]
    assert far["TableStatus"] == "ACTIVE", far


# --- S3 -------------------------------------------------------------------------------------


def s3_replication_prefix_filter(ctx: Context) -> None:
    """A rule with ``Filter.Prefix`` replicates the keys under it and no other key."""
    home, other = ctx.regions
    src_client, dst_client = ctx.client("s3", home), ctx.client("s3", other)
    iam = ctx.client("iam", "us-east-1")
    src, dst = ctx.name("src"), ctx.name("dst")
    for client, bucket, region in ((src_client, src, home), (dst_client, dst, other)):
        extra = {} if region == "us-east-1" else {"LocationConstraint": region}
        client.create_bucket(
            Bucket=bucket, **({"CreateBucketConfiguration": extra} if extra else {})
        )
        ctx.cleanup.add(f"bucket {bucket}", _empty_and_delete(client, bucket))
        client.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": ctx.tags()})
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    role = ctx.name("s3-replication")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role_arn = iam.create_role(
        RoleName=role, AssumeRolePolicyDocument=json.dumps(trust), Tags=ctx.tags()
    )["Role"]["Arn"]
    ctx.cleanup.add(f"role {role}", lambda: iam.delete_role(RoleName=role))
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                "Resource": f"arn:aws:s3:::{src}",
            },
            {
                "Effect": "Allow",
                "Action": [
                    "s3:GetObjectVersionForReplication",
                    "s3:GetObjectVersionAcl",
                    "s3:GetObjectVersionTagging",
                ],
                "Resource": f"arn:aws:s3:::{src}/*",
            },
            {
                "Effect": "Allow",
                "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
                "Resource": f"arn:aws:s3:::{dst}/*",
            },
        ],
    }
    iam.put_role_policy(RoleName=role, PolicyName="replicate", PolicyDocument=json.dumps(policy))
    ctx.cleanup.add(
        f"role policy of {role}",
        lambda: iam.delete_role_policy(RoleName=role, PolicyName="replicate"),
    )
    rule = {
        "ID": "conformance",
        "Priority": 1,
        "Status": "Enabled",
        "Filter": {"Prefix": "critical/"},
        "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": {"Bucket": f"arn:aws:s3:::{dst}"},
    }
    _retry_while_iam_propagates(
        ctx,
        lambda: src_client.put_bucket_replication(
            Bucket=src, ReplicationConfiguration={"Role": role_arn, "Rules": [rule]}
        ),
    )
    got = src_client.get_bucket_replication(Bucket=src)["ReplicationConfiguration"]["Rules"][0]
    assert got["Filter"] == {"Prefix": "critical/"}, got
    src_client.put_object(Bucket=src, Key="critical/in", Body=b"in")
    src_client.put_object(Bucket=src, Key="other/out", Body=b"out")

    def replicated() -> bool:
        try:
            head = dst_client.head_object(Bucket=dst, Key="critical/in")
        except dst_client.exceptions.ClientError:
            return False
        return head.get("ReplicationStatus") == "REPLICA"

    ctx.wait_for("critical/in replicated", replicated, poll=5.0)
    status = src_client.head_object(Bucket=src, Key="other/out").get("ReplicationStatus")
    assert status is None, f"other/out is outside the filter, yet shows {status}"
    keys = [v["Key"] for v in dst_client.list_object_versions(Bucket=dst).get("Versions", [])]
    assert keys == ["critical/in"], keys


def empty_and_delete(client: Any, bucket: str) -> None:
    out = client.list_object_versions(Bucket=bucket)
    for v in [*out.get("Versions", []), *out.get("DeleteMarkers", [])]:
        client.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
    client.delete_bucket(Bucket=bucket)


def _empty_and_delete(client: Any, bucket: str) -> Callable[[], None]:
    return lambda: empty_and_delete(client, bucket)


def _retry_while_iam_propagates(ctx: Context, fn: Callable[[], Any]) -> None:
    """A new role can take seconds to be usable by S3 (IAM is eventually consistent)."""
    last: Exception | None = None
    for _ in range(10):
        try:
            fn()
            return
        except Exception as exc:  # the error code differs; retry a few times, then raise
            last = exc
            ctx.sleep(3.0)
    assert last is not None
    raise last


# --- CloudWatch -------------------------------------------------------------------------------


def cloudwatch_composite_alarm_types(ctx: Context) -> None:
    """DescribeAlarms without AlarmTypes returns metric alarms only; AlarmTypes picks."""
    cw = ctx.client("cloudwatch", ctx.regions[0])
    metric, composite = ctx.name("metric"), ctx.name("composite")
    cw.put_metric_alarm(
        AlarmName=metric,
        Namespace="MrFailover/Conformance",
        MetricName="Probe",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        Tags=ctx.tags(),
    )
    ctx.cleanup.add(f"alarm {metric}", lambda: cw.delete_alarms(AlarmNames=[metric]))
    cw.put_composite_alarm(AlarmName=composite, AlarmRule=f'ALARM("{metric}")', Tags=ctx.tags())
    # A composite alarm must go before the alarms its rule names.
    ctx.cleanup.add(f"alarm {composite}", lambda: cw.delete_alarms(AlarmNames=[composite]))
    names = [metric, composite]
    plain = cw.describe_alarms(AlarmNames=names)
    assert [a["AlarmName"] for a in plain.get("MetricAlarms", [])] == [metric], plain
    assert plain.get("CompositeAlarms", []) == [], plain
    both = cw.describe_alarms(AlarmNames=names, AlarmTypes=["CompositeAlarm", "MetricAlarm"])
    assert [a["AlarmName"] for a in both.get("CompositeAlarms", [])] == [composite], both


SCENARIOS: dict[str, Callable[[Context], None]] = {
    "route53-health-check-inversion": route53_health_check_inversion,
    "route53-record-with-health-check": route53_record_with_health_check,
    "dynamodb-global-table-replica": dynamodb_global_table_replica,
    "s3-replication-prefix-filter": s3_replication_prefix_filter,
    "cloudwatch-composite-alarm-types": cloudwatch_composite_alarm_types,
}

# What each scenario costs at list prices (us-east-1, USD) for the minutes it runs:
# health checks $0.75 per non-AWS endpoint-month (prorated), a hosted zone $0.50 a month
# (not charged when deleted within 12 hours), DynamoDB on-demand writes and a replica of an
# empty table (cents), S3 requests and two tiny objects, alarms $0.10 (metric) and $0.50
# (composite) a month, prorated.
COST_USD = {
    "route53-health-check-inversion": 0.01,
    "route53-record-with-health-check": 0.01,
    "dynamodb-global-table-replica": 0.02,
    "s3-replication-prefix-filter": 0.01,
    "cloudwatch-composite-alarm-types": 0.01,
}


def run_all(ctx: Context, names: list[str] | None = None) -> dict[str, str | None]:
    """Run the scenarios (each one's cleanup right after it); name -> failure or None."""
    results: dict[str, str | None] = {}
    for name in names or list(SCENARIOS):
        try:
            SCENARIOS[name](ctx)
            results[name] = None
        except Exception as exc:
            results[name] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        finally:
            for problem in ctx.cleanup.run():
                results[name] = (results[name] or "passed") + f"; cleanup failed: {problem}"
    return results


# --- the sweeper: whatever a run left behind, found by name prefix and tag ----------------


def sweep(client: ClientMaker, regions: tuple[str, str], run_id: str | None) -> list[str]:
    """Delete every conformance resource of ``run_id`` (None: of any run); what was deleted.

    Resources are found by their ``mrf-conf-<run>-`` name and, where the API lists tags
    cheaply, checked for the ``mr-failover-conformance`` tag before deletion.
    """
    start = f"{PREFIX}-{run_id}-" if run_id else f"{PREFIX}-"
    done: list[str] = []

    def tagged(tags: list[dict[str, str]]) -> bool:
        return any(
            t.get("Key") == TAG and (run_id is None or t.get("Value") == run_id) for t in tags
        )

    r53 = client("route53", "us-east-1")
    for hc in r53.list_health_checks().get("HealthChecks", []):
        if str(hc.get("CallerReference", "")).startswith(start):
            r53.delete_health_check(HealthCheckId=hc["Id"])
            done.append(f"health check {hc['Id']}")
    for zone in r53.list_hosted_zones().get("HostedZones", []):
        zone_id = str(zone["Id"]).split("/")[-1]
        if str(zone["Name"]).startswith(start):
            tags = r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id)
            if tagged(tags["ResourceTagSet"].get("Tags", [])):
                delete_zone(r53, zone_id)
                done.append(f"hosted zone {zone['Name']}")
    for region in regions:
        ddb = client("dynamodb", region)
        for table in ddb.list_tables().get("TableNames", []):
            if table.startswith(start):
                t = ddb.describe_table(TableName=table)["Table"]
                for replica in t.get("Replicas", []):
                    ddb.update_table(
                        TableName=table,
                        ReplicaUpdates=[{"Delete": {"RegionName": replica["RegionName"]}}],
                    )
                if not t.get("Replicas"):
                    ddb.delete_table(TableName=table)
                    done.append(f"table {table} in {region}")
                else:
                    done.append(f"replicas of {table} (run the sweep again to delete the table)")
        cw = client("cloudwatch", region)
        alarms = cw.describe_alarms(
            AlarmNamePrefix=start, AlarmTypes=["CompositeAlarm", "MetricAlarm"]
        )
        for kind in ("CompositeAlarms", "MetricAlarms"):  # composites first
            names = [a["AlarmName"] for a in alarms.get(kind, [])]
            if names:
                cw.delete_alarms(AlarmNames=names)
                done += [f"alarm {n}" for n in names]
    s3 = client("s3", regions[0])
    for bucket in s3.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        if name.startswith(start):
            region = s3.get_bucket_location(Bucket=name).get("LocationConstraint") or "us-east-1"
            empty_and_delete(client("s3", region), name)
            done.append(f"bucket {name}")
    iam = client("iam", "us-east-1")
    for role in iam.list_roles().get("Roles", []):
        name = role["RoleName"]
        if name.startswith(start):
            for policy in iam.list_role_policies(RoleName=name).get("PolicyNames", []):
                iam.delete_role_policy(RoleName=name, PolicyName=policy)
            iam.delete_role(RoleName=name)
            done.append(f"role {name}")
    return done
