"""The sandbox seeder: create a topology file's resources in the sandbox, through boto3.

:func:`seed` builds, with the same :class:`~mr_failover.aws.ClientFactory` the tool uses
(pointed at the sandbox endpoint), everything a topology names: the Aurora global cluster
and its member clusters (or a writer and its cross-region read replica clusters), the
DynamoDB global tables (created in one region, replicas added with ``UpdateTable``
``ReplicaUpdates``), versioned buckets with their replication rules and role, hosted
zones, health checks (tagged ``Name=``) and records, ECS clusters and services, Auto
Scaling groups with a launch template, Lambda functions, and the lock table. It looks
before it creates, so a second run changes nothing. It returns the topology with the
generated ids filled in (health check ids, hosted zone ids, the ARC cluster's ARN and
endpoints and the routing controls' ARNs), which
:func:`mr_failover.topology.dump` renders back to a file the tool loads.

The seeder also tells the sandbox which region each health check watches (the control
API's ``POST /_sandbox/health-checks``), so that a region outage fails that region's
checks.
"""

from __future__ import annotations

import functools
import io
import json
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mr_failover.aws import CONTROL_PLANE_REGION, ClientFactory, error_code, translate
from mr_failover.errors import AwsCallError, UsageError
from mr_failover.topology import Bucket, HealthCheck, Record, Region, Topology

# Every table the seeder makes has this key: the tool never reads application items.
TABLE_KEY = "pk"
STREAM_VIEW = "NEW_AND_OLD_IMAGES"
MASTER_USERNAME = "mrfailover"
# The sandbox accepts any password; never a real one, this only ever reaches moto.
MASTER_PASSWORD = "sandbox-only-password"
DEFAULT_ENGINE_VERSION = {"aurora-mysql": "8.0.mysql_aurora.3.05.2", "aurora-postgresql": "15.4"}
INSTANCE_CLASS = "db.r6g.large"
# A placeholder image id: the sandbox's EC2 does not boot anything.
IMAGE_ID = "ami-12c6146b"
INSTANCE_TYPE = "t3.micro"
LAMBDA_RUNTIME = "python3.12"

_NOT_FOUND = {
    "ResourceNotFoundException",
    "GlobalClusterNotFoundFault",
    "DBClusterNotFoundFault",
    "NoSuchEntity",
    "NoSuchBucket",
    "404",
    "NotFound",
    "InvalidLaunchTemplateName.NotFoundException",
    "ClusterNotFoundException",
    "ServiceNotFoundException",
    "NoSuchHealthCheck",
    "NoSuchHostedZone",
    "ReplicationGroupNotFoundFault",
    "NotFoundException",
    "RepositoryDoesNotExistException",
}

AssignHealthCheck = Callable[[str, str], None]


@dataclass
class SeedReport:
    """What a run created (a second run over the same sandbox creates nothing)."""

    created: list[str] = field(default_factory=list)

    def add(self, what: str) -> None:
        self.created.append(what)


def seed(
    topology: Topology,
    factory: ClientFactory,
    *,
    assign_health_check: AssignHealthCheck | None = None,
    report: SeedReport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    timeout: float = 60.0,
) -> Topology:
    """Create every resource of ``topology``; the topology with generated ids filled in.

    ``assign_health_check(check_id, region)`` defaults to the sandbox control API at
    ``factory.endpoint_url``. ``sleep``/``clock``/``timeout`` bound the waits for new
    DynamoDB replicas to become ACTIVE and new ECS services' tasks to run.
    """
    seeder = Seeder(
        topology,
        factory,
        assign_health_check or _control_api_assigner(factory),
        report or SeedReport(),
        _Waiter(sleep, clock, timeout),
    )
    return seeder.run()


def seed_file(
    config: str | Path, endpoint_url: str, write_topology: str | Path | None = None
) -> tuple[Topology, SeedReport]:
    """Seed the topology file ``config`` into the sandbox at ``endpoint_url``.

    The hook behind ``mr-failover sandbox up --seed FILE --write-topology OUT``: writes
    the topology with its generated ids to ``write_topology`` when given. Regions'
    profiles and roles are ignored: the sandbox takes any credentials.
    """
    from mr_failover import topology as topo

    loaded = topo.load(config)
    report = SeedReport()
    result = seed(loaded, ClientFactory(None, endpoint_url=endpoint_url), report=report)
    if write_topology is not None:
        Path(write_topology).write_text(topo.dump(result))
    return result, report


def _control_api_assigner(factory: ClientFactory) -> AssignHealthCheck:
    endpoint = factory.endpoint_url
    if not endpoint:
        raise ValueError("seed() needs a sandbox endpoint_url (or assign_health_check)")

    from mr_failover.sandbox.client import SandboxClient

    return SandboxClient(endpoint, timeout=10).assign_health_check


@dataclass
class _Waiter:
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    timeout: float

    def until(self, what: str, region: str, done: Callable[[], bool]) -> None:
        deadline = self.clock() + self.timeout
        delay = 0.05
        while not done():
            if self.clock() >= deadline:
                raise AwsCallError(region, what, f"not done after {self.timeout:.0f}s")
            self.sleep(delay)
            # Capped low: the sandbox answers in milliseconds and the waits are short.
            delay = min(delay * 2, 0.2)


class Seeder:
    def __init__(
        self,
        topology: Topology,
        factory: ClientFactory,
        assign: AssignHealthCheck,
        report: SeedReport,
        waiter: _Waiter,
    ) -> None:
        self.t = topology
        self.factory = factory
        self.assign = assign
        self.report = report
        self.waiter = waiter
        # Waits for asynchronous effects (replicas ACTIVE, tasks RUNNING), run at the end
        # of run() so that they overlap with the rest of the seeding instead of adding up.
        self.settle: list[Callable[[], None]] = []
        self.home = topology.primary_region
        self.api_targets: dict[tuple[str, str], str] = {}
        self.routing_controls: dict[str, str] = {}  # ARN in the file -> seeded ARN

    def run(self) -> Topology:
        self._check_given_ids()  # before anything is created: no half-seeded sandbox
        self._aurora()
        self._dynamodb()
        self._s3()
        self._elasticache()
        self._global_accelerator()
        from mr_failover.sandbox.seed_edge import seed_arc, seed_edge

        self.api_targets = seed_edge(self)
        arc, self.routing_controls = seed_arc(self)
        regions = {
            name: self._region_compute_and_traffic(name, r) for name, r in self.t.regions.items()
        }
        if self.t.lock is not None:
            from mr_failover.engine import lock

            loc = self.t.lock
            if self.find("dynamodb", loc.region, "describe_table", TableName=loc.table) is None:
                lock.create_table(self.factory, self.t)
                self.report.add(f"lock table {loc.table} ({loc.region})")
            # Fallback lock regions hold replicas: the lock table is a global table.
            found = self._replicas(loc.table, loc.regions())
            present = found[1] if found else {loc.region}
            for region in loc.fallback_regions:
                if region not in present:
                    self._wait_active(loc.table, loc.region)
                    self.call(
                        "dynamodb",
                        loc.region,
                        "update_table",
                        TableName=loc.table,
                        ReplicaUpdates=[{"Create": {"RegionName": region}}],
                    )
                    self.report.add(f"lock table replica {loc.table} ({region})")
            if loc.fallback_regions:
                self._wait_active(loc.table, loc.region)
        for wait in self.settle:
            wait()
        return self.t.model_copy(update={"regions": regions, "arc": arc})

    def _check_given_ids(self) -> None:
        """Refuse ids the topology gives that this sandbox does not have (exit 2).

        A topology written for another AWS (a real account, or an earlier sandbox) names
        its hosted zone and health check ids; seeding around them would create records
        pointing at checks that do not exist here and write those stale ids back.
        """
        r53 = self._route53()
        missing: list[str] = []
        zones: set[str] = set()
        for name, region in self.t.regions.items():
            for i, hc in enumerate(region.traffic.health_checks):
                if (
                    hc.id is not None
                    and self.find("route53", r53, "get_health_check", HealthCheckId=hc.id) is None
                ):
                    missing.append(
                        f"health check {hc.id!r} (regions.{name}.traffic.health_checks[{i}].id)"
                    )
            for i, rec in enumerate(region.traffic.records):
                zone = rec.hosted_zone_id
                if zone is None or zone in zones:
                    continue
                zones.add(zone)
                if self.find("route53", r53, "get_hosted_zone", Id=zone) is None:
                    missing.append(
                        f"hosted zone {zone!r} (regions.{name}.traffic.records[{i}].hosted_zone_id)"
                    )
        if missing:
            raise UsageError(
                "the topology names ids this sandbox does not have: "
                + "; ".join(missing)
                + "; nothing was seeded. Remove those ids from the file (the seeder then "
                "creates the resources and writes their new ids) or seed the topology the "
                "sandbox wrote"
            )

    # --- helpers ----------------------------------------------------------------------

    def call(self, service: str, region: str, op: str, **kwargs: Any) -> Any:
        client = self.factory.client(service, region)
        try:
            return getattr(client, op)(**kwargs)
        except Exception as exc:
            raise translate(exc, region, f"{service}:{_pascal(op)}") from None

    def find(self, service: str, region: str, op: str, **kwargs: Any) -> Any | None:
        """The answer of a read, or None when it says the resource does not exist."""
        client = self.factory.client(service, region)
        try:
            return getattr(client, op)(**kwargs)
        except Exception as exc:
            if error_code(exc) in _NOT_FOUND:
                return None
            raise translate(exc, region, f"{service}:{_pascal(op)}") from None

    def _elasticache(self) -> None:
        """Replication groups, and a global datastore created from the primary's."""
        members = [(n, r.elasticache) for n, r in self.t.regions.items() if r.elasticache]
        members.sort(key=lambda m: m[1].role != "primary")
        if not members or members[0][1].role != "primary":
            return
        primary_region, primary = members[0]
        name = primary.global_datastore
        gid = ""
        for region, spec in members:
            found = self.find(
                "elasticache",
                region,
                "describe_replication_groups",
                ReplicationGroupId=spec.replication_group,
            )
            if found is not None:
                info = found["ReplicationGroups"][0].get("GlobalReplicationGroupInfo") or {}
                gid = gid or info.get("GlobalReplicationGroupId", "")
                continue
            extra: dict[str, Any] = {}
            if region != primary_region:
                extra["GlobalReplicationGroupId"] = gid
            else:
                extra = {"Engine": "redis", "CacheNodeType": "cache.r6g.large"}
            self.call(
                "elasticache",
                region,
                "create_replication_group",
                ReplicationGroupId=spec.replication_group,
                ReplicationGroupDescription=f"{self.t.application} cache",
                **extra,
            )
            self.report.add(f"elasticache replication group {spec.replication_group} ({region})")
            if region == primary_region:
                out = self.call(
                    "elasticache",
                    region,
                    "create_global_replication_group",
                    GlobalReplicationGroupIdSuffix=name,
                    PrimaryReplicationGroupId=spec.replication_group,
                )
                gid = out["GlobalReplicationGroup"]["GlobalReplicationGroupId"]
                self.report.add(f"elasticache global datastore {gid}")

    def _global_accelerator(self) -> None:
        """An accelerator with one TCP 443 listener and an endpoint group per region."""
        spec = self.t.global_accelerator
        if spec is None or spec.name is None:
            return  # an accelerator named only by ARN cannot be created with that ARN
        ga = CONTROL_PLANE_REGION["globalaccelerator"]
        out = self.call("globalaccelerator", ga, "list_accelerators")
        acc = next((a for a in out.get("Accelerators", []) if a["Name"] == spec.name), None)
        if acc is None:
            acc = self.call(
                "globalaccelerator",
                ga,
                "create_accelerator",
                Name=spec.name,
                IdempotencyToken=f"seed-{spec.name}",
            )["Accelerator"]
            self.report.add(f"global accelerator {spec.name}")
        arn = acc["AcceleratorArn"]
        listeners = self.call("globalaccelerator", ga, "list_listeners", AcceleratorArn=arn)
        if listeners.get("Listeners"):
            listener = listeners["Listeners"][0]["ListenerArn"]
        else:
            listener = self.call(
                "globalaccelerator",
                ga,
                "create_listener",
                AcceleratorArn=arn,
                PortRanges=[{"FromPort": 443, "ToPort": 443}],
                Protocol="TCP",
                IdempotencyToken=f"seed-{spec.name}-443",
            )["Listener"]["ListenerArn"]
        groups = self.call("globalaccelerator", ga, "list_endpoint_groups", ListenerArn=listener)
        present = {g["EndpointGroupRegion"] for g in groups.get("EndpointGroups", [])}
        for region, r in self.t.regions.items():
            if r.global_accelerator is None or region in present:
                continue
            self.call(
                "globalaccelerator",
                ga,
                "create_endpoint_group",
                ListenerArn=listener,
                EndpointGroupRegion=region,
                TrafficDialPercentage=float(r.global_accelerator.traffic_dial),
                EndpointConfigurations=[
                    {
                        "EndpointId": f"arn:aws:elasticloadbalancing:{region}:"
                        f"{self.t.account_id}:loadbalancer/app/{self.t.application}/0",
                        "Weight": 128,
                    }
                ],
                IdempotencyToken=f"seed-{spec.name}-{region}",
            )
            self.report.add(f"global accelerator endpoint group ({region})")

    def role(self, name: str, principal: str) -> str:
        """The ARN of IAM role ``name`` trusted by ``principal``, created if missing."""
        found = self.find("iam", self.home, "get_role", RoleName=name)
        if found is not None:
            return str(found["Role"]["Arn"])
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": principal}, "Action": "sts:AssumeRole"}
            ],
        }
        out = self.call(
            "iam",
            self.home,
            "create_role",
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(trust),
        )
        self.report.add(f"iam role {name}")
        return str(out["Role"]["Arn"])

    # --- Aurora -------------------------------------------------------------------------

    def _aurora(self) -> None:
        members = [(name, r.aurora) for name, r in self.t.regions.items() if r.aurora]
        if not members:
            return
        # The writer first: secondaries join (or replicate from) it.
        members.sort(key=lambda m: m[1].role != "writer")
        writer_region, writer = members[0]
        engine = writer.engine
        version = writer.engine_version or DEFAULT_ENGINE_VERSION[engine]
        writer_arn = ""
        if writer.mode == "global" and writer.global_cluster:
            gid = writer.global_cluster
            found = self.find(
                "rds", writer_region, "describe_global_clusters", GlobalClusterIdentifier=gid
            )
            if not found or not found.get("GlobalClusters"):
                self.call(
                    "rds",
                    writer_region,
                    "create_global_cluster",
                    GlobalClusterIdentifier=gid,
                    Engine=engine,
                    EngineVersion=version,
                )
                self.report.add(f"aurora global cluster {gid}")
        for region, spec in members:
            found = self.find(
                "rds", region, "describe_db_clusters", DBClusterIdentifier=spec.cluster
            )
            if found and found.get("DBClusters"):
                arn = str(found["DBClusters"][0]["DBClusterArn"])
            else:
                kwargs: dict[str, Any] = {
                    "DBClusterIdentifier": spec.cluster,
                    "Engine": engine,
                    "EngineVersion": spec.engine_version or version,
                }
                if spec is writer or spec.mode == "global":
                    if spec is writer:
                        kwargs |= {
                            "MasterUsername": MASTER_USERNAME,
                            "MasterUserPassword": MASTER_PASSWORD,
                        }
                    if spec.mode == "global":
                        kwargs["GlobalClusterIdentifier"] = spec.global_cluster
                else:
                    kwargs["ReplicationSourceIdentifier"] = writer_arn
                out = self.call("rds", region, "create_db_cluster", **kwargs)
                arn = str(out["DBCluster"]["DBClusterArn"])
                self.report.add(f"aurora cluster {spec.cluster} ({region})")
            if spec is writer:
                writer_arn = arn
            self._instance(region, spec.cluster, engine)

    def _instance(self, region: str, cluster: str, engine: str) -> None:
        name = f"{cluster}-1"
        found = self.find(
            "rds",
            region,
            "describe_db_instances",
            Filters=[{"Name": "db-cluster-id", "Values": [cluster]}],
        )
        if found and found.get("DBInstances"):
            return
        self.call(
            "rds",
            region,
            "create_db_instance",
            DBInstanceIdentifier=name,
            DBClusterIdentifier=cluster,
            Engine=engine,
            DBInstanceClass=INSTANCE_CLASS,
        )
        self.report.add(f"aurora instance {name} ({region})")

    # --- DynamoDB global tables ---------------------------------------------------------

    def _dynamodb(self) -> None:
        tables: dict[str, list[str]] = {}
        for region, spec in self.t.regions.items():
            for table in spec.dynamodb_tables:
                tables.setdefault(table, []).append(region)
        for table, regions in tables.items():
            # Created where the application writes first, then replicated outwards.
            regions.sort(key=lambda r: r != self.home)
            origin = regions[0]
            existing = self._replicas(table, regions)
            if existing is None:
                self.call(
                    "dynamodb",
                    origin,
                    "create_table",
                    TableName=table,
                    AttributeDefinitions=[{"AttributeName": TABLE_KEY, "AttributeType": "S"}],
                    KeySchema=[{"AttributeName": TABLE_KEY, "KeyType": "HASH"}],
                    BillingMode="PAY_PER_REQUEST",
                    StreamSpecification={"StreamEnabled": True, "StreamViewType": STREAM_VIEW},
                )
                self.report.add(f"dynamodb table {table} ({origin})")
                existing = (origin, {origin})
            origin, present = existing
            for region in regions:
                if region in present:
                    continue
                # One replica change at a time: AWS refuses an UpdateTable while the
                # table is UPDATING.
                self._wait_active(table, origin)
                self.call(
                    "dynamodb",
                    origin,
                    "update_table",
                    TableName=table,
                    ReplicaUpdates=[{"Create": {"RegionName": region}}],
                )
                self.report.add(f"dynamodb replica {table} ({region})")
            self.settle.append(functools.partial(self._wait_active, table, origin))

    def _replicas(self, table: str, regions: list[str]) -> tuple[str, set[str]] | None:
        """(a region holding the table, the regions with a replica), or None if nowhere."""
        for region in regions:
            found = self.find("dynamodb", region, "describe_table", TableName=table)
            if found is None:
                continue
            listed = {r["RegionName"] for r in found["Table"].get("Replicas", [])}
            return region, listed | {region}
        return None

    def _wait_active(self, table: str, region: str) -> None:
        def active() -> bool:
            t = self.call("dynamodb", region, "describe_table", TableName=table)["Table"]
            replicas = t.get("Replicas", [])
            return t["TableStatus"] == "ACTIVE" and all(
                r.get("ReplicaStatus") == "ACTIVE" for r in replicas
            )

        self.waiter.until(f"dynamodb:DescribeTable {table} ACTIVE", region, active)

    # --- S3 -----------------------------------------------------------------------------

    def _s3(self) -> None:
        buckets: dict[str, tuple[str, Bucket]] = {}
        for region, spec in self.t.regions.items():
            for bucket in spec.s3_buckets:
                buckets[bucket.name] = (region, bucket)
                self.bucket(region, bucket.name)
        # Rules after every bucket exists: S3 checks the destination when they are set.
        for region, bucket in buckets.values():
            if bucket.replicate_to:
                self._replication(region, bucket)

    def bucket(self, region: str, name: str) -> None:
        if self.find("s3", region, "head_bucket", Bucket=name) is None:
            kwargs: dict[str, Any] = {"Bucket": name}
            if region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
            self.call("s3", region, "create_bucket", **kwargs)
            self.report.add(f"s3 bucket {name} ({region})")
        status = self.call("s3", region, "get_bucket_versioning", Bucket=name).get("Status")
        if status != "Enabled":
            self.call(
                "s3",
                region,
                "put_bucket_versioning",
                Bucket=name,
                VersioningConfiguration={"Status": "Enabled"},
            )

    def _replication(self, region: str, bucket: Bucket) -> None:
        if bucket.replication_role_arn:
            role = bucket.replication_role_arn
            self.role(role.rsplit("/", 1)[-1], "s3.amazonaws.com")
        else:
            role = self.role(f"{self.t.application}-s3-replication", "s3.amazonaws.com")
        rules = []
        for priority, target in enumerate(bucket.replicate_to, start=1):
            destination: dict[str, Any] = {
                "Bucket": f"arn:aws:s3:::{target.bucket}",
                # Metrics on for every rule, so `check replication` has numbers to read;
                # Replication Time Control (the 15-minute SLA) only where the file says so.
                "Metrics": {"Status": "Enabled", "EventThreshold": {"Minutes": 15}},
            }
            if bucket.rtc:
                destination["ReplicationTime"] = {"Status": "Enabled", "Time": {"Minutes": 15}}
            rules.append(
                {
                    "ID": f"to-{target.bucket}",
                    "Priority": priority,
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "DeleteMarkerReplication": {"Status": "Disabled"},
                    "Destination": destination,
                }
            )
        # PutBucketReplication replaces the whole configuration: idempotent as it is.
        self.call(
            "s3",
            region,
            "put_bucket_replication",
            Bucket=bucket.name,
            ReplicationConfiguration={"Role": role, "Rules": rules},
        )

    # --- traffic and compute ------------------------------------------------------------

    def _region_compute_and_traffic(self, name: str, region: Region) -> Region:
        checks = [self._health_check(name, hc) for hc in region.traffic.health_checks]
        controls = [self.routing_controls.get(a, a) for a in region.traffic.routing_controls]
        ids = {hc.name: hc.id for hc in checks}
        if controls and checks:
            # An ARC setup: each record carries a calculated check over its endpoint check
            # and the routing controls' checks, so either lever moves its traffic.
            gates = [self._routing_control_check(arn) for arn in controls]
            ids = {hc.name: self._calculated_check(hc, gates) if hc.id else None for hc in checks}
        records = [
            # A record an API endpoint names answers with that endpoint's regional domain.
            self._record(name, rec.model_copy(update={"value": target}), ids)
            if (target := self.api_targets.get((name, rec.set_identifier)))
            else self._record(name, rec, ids)
            for rec in region.traffic.records
        ]
        self._compute(name, region)
        traffic = region.traffic.model_copy(
            update={"health_checks": checks, "records": records, "routing_controls": controls}
        )
        return region.model_copy(update={"traffic": traffic})

    def _route53(self) -> str:
        return CONTROL_PLANE_REGION["route53"]

    def _health_check(self, region: str, spec: HealthCheck) -> HealthCheck:
        check_id = spec.id
        if check_id is None:
            config: dict[str, Any] = {
                "Type": spec.type,
                "Port": spec.port,
                "RequestInterval": spec.request_interval,
                "FailureThreshold": spec.failure_threshold,
                "FullyQualifiedDomainName": spec.fqdn or f"{spec.name}.invalid",
            }
            if spec.type != "TCP":
                config["ResourcePath"] = spec.path
            check_id = self._named_check(spec.name, config)
        self.assign(check_id, region)
        return spec.model_copy(update={"id": check_id})

    def _named_check(self, name: str, config: dict[str, Any]) -> str:
        """The id of the check tagged Name=``name``, created with ``config`` if missing."""
        from mr_failover.resources.route53 import find_health_check_id

        client = self.factory.client("route53", self._route53())
        try:
            return find_health_check_id(client, name)
        except AwsCallError:
            pass
        out = self.call(
            "route53",
            self._route53(),
            "create_health_check",
            CallerReference=f"{self.t.application}-{name}",
            HealthCheckConfig=config,
        )
        check_id = str(out["HealthCheck"]["Id"])
        self.call(
            "route53",
            self._route53(),
            "change_tags_for_resource",
            ResourceType="healthcheck",
            ResourceId=check_id,
            AddTags=[{"Key": "Name", "Value": name}],
        )
        self.report.add(f"health check {name}")
        return check_id

    def _routing_control_check(self, control_arn: str) -> str:
        """The routing control's health check ("Creating a routing control health check
        in ARC", https://docs.aws.amazon.com/r53recovery/latest/dg/routing-control.create-health-check.html)."""
        return self._named_check(
            f"routing-control-{control_arn.rsplit('/', 1)[-1]}",
            {"Type": "RECOVERY_CONTROL", "RoutingControlArn": control_arn},
        )

    def _calculated_check(self, endpoint: HealthCheck, gates: list[str]) -> str:
        """A CALCULATED check healthy only while the endpoint check and every routing
        control check are (HealthThreshold = all children: "How Amazon Route 53 determines
        whether a health check is healthy",
        https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html)."""
        children = [str(endpoint.id), *gates]
        return self._named_check(
            f"{endpoint.name}-and-routing-control",
            {
                "Type": "CALCULATED",
                "ChildHealthChecks": children,
                "HealthThreshold": len(children),
            },
        )

    def _zone_id(self, zone: str) -> str:
        wanted = zone if zone.endswith(".") else zone + "."
        out = self.call("route53", self._route53(), "list_hosted_zones_by_name", DNSName=wanted)
        for hz in out.get("HostedZones", []):
            if hz["Name"].lower() == wanted.lower():
                return str(hz["Id"]).rsplit("/", 1)[-1]
        created = self.call(
            "route53",
            self._route53(),
            "create_hosted_zone",
            Name=wanted,
            CallerReference=f"{self.t.application}-{wanted}",
        )
        self.report.add(f"hosted zone {wanted}")
        return str(created["HostedZone"]["Id"]).rsplit("/", 1)[-1]

    def _record(self, region: str, spec: Record, check_ids: dict[str, str | None]) -> Record:
        zone_id = spec.hosted_zone_id or self._zone_id(spec.zone)
        rrs: dict[str, Any] = {
            "Name": spec.name,
            "Type": spec.type,
            "SetIdentifier": spec.set_identifier,
            "TTL": spec.ttl,
            "ResourceRecords": [{"Value": spec.value}],
        }
        if spec.routing_policy == "latency":
            rrs["Region"] = region
        elif spec.routing_policy == "weighted":
            rrs["Weight"] = spec.weight
        else:
            rrs["Failover"] = spec.failover
        if spec.health_check is not None and check_ids.get(spec.health_check):
            rrs["HealthCheckId"] = check_ids[spec.health_check]
        # UPSERT: creating and re-seeding are the same call.
        self.call(
            "route53",
            self._route53(),
            "change_resource_record_sets",
            HostedZoneId=zone_id,
            ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": rrs}]},
        )
        return spec.model_copy(update={"hosted_zone_id": zone_id})

    def _compute(self, region: str, spec: Region) -> None:
        for svc in spec.compute.ecs_services:
            self._ecs_service(region, svc.cluster, svc.service, svc.takeover_desired)
        for asg in spec.compute.autoscaling_groups:
            self._asg(region, asg.name, asg.takeover_desired)
        for fn in spec.compute.lambda_functions:
            self._lambda(region, fn.name)

    def _ecs_service(self, region: str, cluster: str, service: str, takeover: int | None) -> None:
        self.call("ecs", region, "create_cluster", clusterName=cluster)  # idempotent on AWS
        found = self.call("ecs", region, "describe_services", cluster=cluster, services=[service])
        if any(s.get("status") == "ACTIVE" for s in found.get("services", [])):
            return
        family = f"{cluster}-{service}"
        self.call(
            "ecs",
            region,
            "register_task_definition",
            family=family,
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="256",
            memory="512",
            containerDefinitions=[
                {"name": service, "image": "public.ecr.aws/nginx/nginx:stable", "essential": True}
            ],
        )
        self.call(
            "ecs",
            region,
            "create_service",
            cluster=cluster,
            serviceName=service,
            taskDefinition=family,
            desiredCount=_steady(takeover),
            launchType="FARGATE",
        )
        self.report.add(f"ecs service {cluster}/{service} ({region})")
        self.settle.append(lambda: self._wait_running(region, cluster, service))

    def _wait_running(self, region: str, cluster: str, service: str) -> None:
        """What ``aws ecs wait services-stable`` waits for: every desired task RUNNING."""

        def stable() -> bool:
            out = self.call("ecs", region, "describe_services", cluster=cluster, services=[service])
            return any(
                s.get("runningCount") == s.get("desiredCount") for s in out.get("services", [])
            )

        self.waiter.until(f"ecs:DescribeServices {cluster}/{service} stable", region, stable)

    def _asg(self, region: str, name: str, takeover: int | None) -> None:
        found = self.call(
            "autoscaling", region, "describe_auto_scaling_groups", AutoScalingGroupNames=[name]
        )
        if found.get("AutoScalingGroups"):
            return
        template = f"{name}-lt"
        if (
            self.find("ec2", region, "describe_launch_templates", LaunchTemplateNames=[template])
            is None
        ):
            self.call(
                "ec2",
                region,
                "create_launch_template",
                LaunchTemplateName=template,
                LaunchTemplateData={"ImageId": IMAGE_ID, "InstanceType": INSTANCE_TYPE},
            )
        desired = _steady(takeover)
        self.call(
            "autoscaling",
            region,
            "create_auto_scaling_group",
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateName": template, "Version": "$Latest"},
            MinSize=0,
            MaxSize=max(desired, takeover or 0, 1) * 2,
            DesiredCapacity=desired,
            AvailabilityZones=[f"{region}a"],
        )
        self.report.add(f"auto scaling group {name} ({region})")

    def _lambda(self, region: str, name: str) -> None:
        if self.find("lambda", region, "get_function", FunctionName=name) is not None:
            return
        role = self.role(f"{self.t.application}-lambda", "lambda.amazonaws.com")
        self.call(
            "lambda",
            region,
            "create_function",
            FunctionName=name,
            Runtime=LAMBDA_RUNTIME,
            Role=role,
            Handler="index.handler",
            Code={"ZipFile": _lambda_zip()},
        )
        self.report.add(f"lambda function {name} ({region})")


def _steady(takeover: int | None) -> int:
    # Active-active: each region runs half of what it scales to when it takes over.
    return max(1, (takeover or 2) // 2)


def _lambda_zip() -> bytes:
    buffer = io.BytesIO()
    # A fixed timestamp: the same bytes in every region (writestr with a name stamps the
    # current time, so two regions seeded across a 2 s boundary got different CodeSha256s
    # and a parity mismatch on lambda.code).
    entry = zipfile.ZipInfo("index.py", date_time=(2020, 1, 1, 0, 0, 0))
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(entry, "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def _pascal(op: str) -> str:
    return "".join(part.capitalize() for part in op.split("_"))
