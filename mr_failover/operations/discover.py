"""``discover``: build a topology from what a live account holds.

Three ways in, any together: resources carrying tags (the Resource Groups Tagging API's
``GetResources`` in each region), the resources of CloudFormation stacks
(``ListStackResources`` in each region where the stack exists) and a domain's Route 53
records with the health checks they carry. From those seeds every fact the file holds
is *observed*: the Aurora writer (``IsWriter`` of the global cluster's members, or the
source of a cross-region read replica), DynamoDB global table replicas, S3 replication
rules and their targets, ElastiCache global datastore roles, the ARC routing controls
that records' ``RECOVERY_CONTROL`` health checks read, Global Accelerator endpoint groups,
compute (ECS services, Auto Scaling groups, Lambda functions) and each region's
readiness items (CodeCommit repository, Secrets Manager secrets, SSM parameters).

Reads are read-only and run like status's: one task per (region, read), concurrently,
each call with the factory's timeouts and the whole round bounded by a deadline
(:func:`mr_failover.status.run_concurrently`). Nothing is guessed: what could not be read
or decided becomes a :class:`Note` on the key path it concerns (a comment in the file,
a warning on stderr), and what only the user can choose (the policy, take-over capacity
without ``takeover_factor``) a ``TODO`` note. :mod:`mr_failover.operations.discover_yaml`
writes the result as a commented file and merges it into an existing one.

AWS pages each rule follows:
- GetResources, Resource Groups Tagging API Reference: several ``TagFilters`` must all
  match, the values of one filter are alternatives,
  https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/API_GetResources.html
- ListStackResources, AWS CloudFormation API Reference (a stack that does not exist is a
  ``ValidationError``),
  https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ListStackResources.html
- GlobalClusterMember (``IsWriter``), Amazon RDS API Reference,
  https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_GlobalClusterMember.html
- HealthCheckConfig (``Type`` RECOVERY_CONTROL and ``RoutingControlArn``), Amazon Route 53
  API Reference, https://docs.aws.amazon.com/Route53/latest/APIReference/API_HealthCheckConfig.html
- GlobalReplicationGroupInfo, Amazon ElastiCache API Reference,
  https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_GlobalReplicationGroupInfo.html
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from mr_failover.aws import CONTROL_PLANE_REGION, ClientSource, call, call_error, error_code
from mr_failover.errors import MrFailoverError, RegionUnreachableError, UsageError
from mr_failover.resources import aurora, cloudfront, dynamodb, elasticache, globalaccelerator, s3
from mr_failover.resources.arc import CONFIG_SERVICE
from mr_failover.resources.arc import CONTROL_PLANE_REGION as ARC_REGION
from mr_failover.resources.route53 import CONTROL_PLANE_REGION as ROUTE53_REGION
from mr_failover.resources.route53 import health_check_names
from mr_failover.status import DEFAULT_DEADLINE, run_concurrently
from mr_failover.topology import GlobalAccelerator, known_regions

KeyPath = tuple[str | int, ...]
NoteKind = Literal["todo", "problem"]

# What a discovered file says until the user decides (they are objectives, not facts).
PLACEHOLDER_RPO = 60
PLACEHOLDER_RTO = 900
RECORD_TYPES = ("A", "AAAA", "CNAME")


@dataclass(frozen=True)
class Note:
    """Something about ``where`` (a key path of the file) that discover could not settle.

    ``todo``: a choice only the user can make (policy, take-over capacity);
    ``problem``: something not read (a region did not answer) or not decided (two
    candidates, a record with no health check).
    """

    where: KeyPath
    text: str
    kind: NoteKind = "problem"

    def __str__(self) -> str:
        label = "TODO" if self.kind == "todo" else "problem"
        where = ".".join(str(p) for p in self.where) or "(top level)"
        return f"{label}: {where}: {self.text}"


@dataclass(frozen=True)
class DiscoverRequest:
    regions: tuple[str, ...]
    tags: tuple[tuple[str, str], ...] = ()
    stacks: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    application: str | None = None
    takeover_factor: float | None = None
    rpo_seconds: int | None = None
    rto_seconds: int | None = None

    def check(self) -> None:
        """UsageError for a request that cannot be answered."""
        if len(self.regions) < 2:
            raise UsageError("discover needs two or more --regions (a topology has 2+)")
        bad = [r for r in self.regions if r not in known_regions()]
        if bad:
            raise UsageError(f"not an AWS region code: {', '.join(bad)}")
        if len(set(self.regions)) != len(self.regions):
            raise UsageError("--regions lists a region twice")
        if not (self.tags or self.stacks or self.domains):
            raise UsageError("say where to start: --tag KEY=VALUE, --stack NAME or --domain NAME")
        if self.takeover_factor is not None and self.takeover_factor <= 0:
            raise UsageError("--takeover-factor must be more than 0")

    def sources(self) -> list[str]:
        out = [f"--tag {k}={v}" for k, v in self.tags]
        out += [f"--stack {s}" for s in self.stacks]
        out += [f"--domain {d}" for d in self.domains]
        return out


@dataclass
class Discovery:
    """The discovered topology as plain data (keys in the example's order) and its notes."""

    data: dict[str, Any]
    notes: list[Note] = field(default_factory=list)
    request: DiscoverRequest | None = None

    @property
    def problems(self) -> list[Note]:
        return [n for n in self.notes if n.kind == "problem"]

    @property
    def todos(self) -> list[Note]:
        return [n for n in self.notes if n.kind == "todo"]


# --- ARNs and stack resources -> what to describe ---------------------------------------


@dataclass
class Inventory:
    """Resource identifiers found by tags and stacks, per region (buckets: any region)."""

    clusters: dict[str, set[str]] = field(default_factory=dict)
    global_clusters: set[str] = field(default_factory=set)
    tables: dict[str, set[str]] = field(default_factory=dict)
    buckets: dict[str, str] = field(default_factory=dict)  # name -> region it was found in
    cache_groups: dict[str, set[str]] = field(default_factory=dict)
    global_datastores: set[str] = field(default_factory=set)
    ecs_services: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    asgs: dict[str, set[str]] = field(default_factory=dict)
    functions: dict[str, set[str]] = field(default_factory=dict)
    accelerators: set[str] = field(default_factory=set)
    health_checks: set[str] = field(default_factory=set)
    # Readiness: CodeCommit repository names, Secrets Manager secret names, and the part
    # of SSM parameter ARNs after ``parameter/`` (the names are read in the second round).
    repositories: dict[str, set[str]] = field(default_factory=dict)
    secrets: dict[str, set[str]] = field(default_factory=dict)
    parameters: dict[str, set[str]] = field(default_factory=dict)
    # Other ARNs (load balancers, instances, addresses): Global Accelerator endpoints.
    others: set[str] = field(default_factory=set)

    def empty(self) -> bool:
        return not any(
            (
                any(self.clusters.values()),
                self.global_clusters,
                any(self.tables.values()),
                self.buckets,
                any(self.cache_groups.values()),
                self.global_datastores,
                any(self.ecs_services.values()),
                any(self.asgs.values()),
                any(self.functions.values()),
                self.accelerators,
                self.health_checks,
                any(self.repositories.values()),
                any(self.secrets.values()),
                any(self.parameters.values()),
            )
        )


def _add_bucket(inv: Inventory, name: str, region: str) -> None:
    inv.buckets.setdefault(name, region)


def _add(table: dict[str, set[Any]], region: str, value: Any) -> None:
    table.setdefault(region, set()).add(value)


def add_arn(inv: Inventory, arn: str, notes: list[Note], found_in: str = "us-east-1") -> None:
    """File one ARN (``arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE``) where it belongs.

    ``found_in``: the region whose API listed it, for ARNs without a region (S3 buckets).
    """
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return
    service, region, resource = parts[2], parts[3] or found_in, parts[5]
    if service == "rds":
        kind, _, ident = resource.partition(":")
        if kind == "cluster":
            _add(inv.clusters, region, ident)
        elif kind == "global-cluster":
            inv.global_clusters.add(ident)
    elif service == "dynamodb" and resource.startswith("table/") and resource.count("/") == 1:
        _add(inv.tables, region, resource.removeprefix("table/"))
    elif service == "s3" and resource and "/" not in resource:
        inv.buckets.setdefault(resource, region)
    elif service == "elasticache":
        kind, _, ident = resource.partition(":")
        if kind == "replicationgroup":
            _add(inv.cache_groups, region, ident)
        elif kind == "globalreplicationgroup":
            inv.global_datastores.add(ident)
    elif service == "ecs" and resource.startswith("service/"):
        path = resource.removeprefix("service/").split("/")
        if len(path) == 2:
            _add(inv.ecs_services, region, (path[0], path[1]))
        else:
            # The old ARN format has no cluster name: ECS cannot be asked without it.
            notes.append(
                Note(
                    ("regions", region, "compute", "ecs_services"),
                    f"ECS service {arn} has an old-format ARN without its cluster: "
                    "add it by hand as {cluster: ..., service: ...}",
                )
            )
    elif service == "autoscaling" and "autoScalingGroupName/" in resource:
        _add(inv.asgs, region, resource.split("autoScalingGroupName/", 1)[1])
    elif service == "lambda" and resource.startswith("function:"):
        _add(inv.functions, region, resource.split(":")[1])
    elif service == "globalaccelerator" and "/listener/" not in resource:
        inv.accelerators.add(arn)
    elif service == "route53" and resource.startswith("healthcheck/"):
        inv.health_checks.add(resource.removeprefix("healthcheck/"))
    elif service == "codecommit" and resource and "/" not in resource:
        _add(inv.repositories, region, resource)  # arn:...:codecommit:REGION:ACCOUNT:NAME
    elif service == "secretsmanager" and resource.startswith("secret:"):
        name = secret_name(resource.removeprefix("secret:"))
        if name:
            _add(inv.secrets, region, name)
    elif service == "ssm" and resource.startswith("parameter/"):
        _add(inv.parameters, region, resource.removeprefix("parameter/"))
    else:
        inv.others.add(arn)


def secret_name(tail: str) -> str | None:
    """A secret's name from its ARN's last part: "Secrets Manager automatically adds a
    hyphen and six random characters after the secret name at the end of the ARN"
    (CreateSecret, ``Name``, AWS SDK for Kotlin API reference,
    https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/secretsmanager/aws.sdk.kotlin.services.secretsmanager.model/-create-secret-request/name.html).
    A replica's ARN is the primary's but for the region, and replicas carry the primary's
    tags ("Secrets Manager replicates the encrypted secret data and metadata such as tags",
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/add-regions.html), so
    each region's Tagging API lists the secret that is there."""
    if len(tail) < 8 or tail[-7] != "-":
        return None
    return tail[:-7]


# CloudFormation resource types -> how the physical id files into the inventory (a
# CodeCommit repository's physical id is its id, not its name: it is found by tag only).
_STACK_TYPES: dict[str, Callable[[Inventory, str, str], None]] = {
    "AWS::RDS::DBCluster": lambda inv, r, pid: _add(inv.clusters, r, pid),
    "AWS::RDS::GlobalCluster": lambda inv, r, pid: inv.global_clusters.add(pid),
    "AWS::DynamoDB::Table": lambda inv, r, pid: _add(inv.tables, r, pid),
    "AWS::DynamoDB::GlobalTable": lambda inv, r, pid: _add(inv.tables, r, pid),
    "AWS::S3::Bucket": lambda inv, r, pid: _add_bucket(inv, pid, r),
    "AWS::ElastiCache::ReplicationGroup": lambda inv, r, pid: _add(inv.cache_groups, r, pid),
    "AWS::ElastiCache::GlobalReplicationGroup": lambda inv, r, pid: inv.global_datastores.add(pid),
    "AWS::AutoScaling::AutoScalingGroup": lambda inv, r, pid: _add(inv.asgs, r, pid),
    "AWS::Lambda::Function": lambda inv, r, pid: _add(inv.functions, r, pid),
    "AWS::GlobalAccelerator::Accelerator": lambda inv, r, pid: inv.accelerators.add(pid),
    "AWS::Route53::HealthCheck": lambda inv, r, pid: inv.health_checks.add(pid),
    # Its physical id is the name ("/a/b"); filed like an ARN's tail ("a/b").
    "AWS::SSM::Parameter": lambda inv, r, pid: _add(inv.parameters, r, pid.removeprefix("/")),
}


def add_stack_resource(inv: Inventory, region: str, summary: Mapping[str, Any]) -> None:
    """One ``StackResourceSummaries`` entry (its ``PhysicalResourceId``) into ``inv``."""
    pid = summary.get("PhysicalResourceId")
    kind = summary.get("ResourceType", "")
    if not pid:
        return
    if kind == "AWS::ECS::Service" or str(pid).startswith("arn:"):
        add_arn(inv, str(pid), [])  # ECS services' physical ids are their ARNs
        return
    adder = _STACK_TYPES.get(kind)
    if adder is not None:
        adder(inv, region, str(pid))


# --- the reads --------------------------------------------------------------------------


def tagged_arns(client: Any, tags: Sequence[tuple[str, str]], **extra: Any) -> list[str]:
    """ARNs of the region's resources carrying every tag in ``tags``."""
    request: dict[str, Any] = {"TagFilters": [{"Key": k, "Values": [v]} for k, v in tags]}
    request |= extra
    out: list[str] = []
    while True:
        page = call(client, "get_resources", **request)
        out += [m["ResourceARN"] for m in page.get("ResourceTagMappingList", [])]
        token = page.get("PaginationToken")
        if not token:
            return out
        request["PaginationToken"] = token


def tagged_accelerators(client: Any, tags: Sequence[tuple[str, str]]) -> list[str]:
    """ARNs of the accelerators carrying every tag in ``tags``.

    Asked of Global Accelerator itself (ListAccelerators, then ListTagsForResource for
    each: "Tagging in AWS Global Accelerator",
    https://docs.aws.amazon.com/global-accelerator/latest/dg/tagging-in-global-accelerator.html),
    in us-west-2, the only region its API answers in. Whether the Resource Groups Tagging
    API lists accelerators could not be settled from the documents we could search (an
    assumption in docs/TOPOLOGY.md); the accelerator's own calls are documented.
    """
    out = []
    for acc in globalaccelerator._pages(client, "list_accelerators", "Accelerators"):
        arn = acc["AcceleratorArn"]
        have = call(client, "list_tags_for_resource", ResourceArn=arn).get("Tags", [])
        pairs = {(t.get("Key"), t.get("Value")) for t in have}
        if all(tag in pairs for tag in tags):
            out.append(arn)
    return out


def tagged_asgs(client: Any, tags: Sequence[tuple[str, str]]) -> set[str]:
    """Names of the region's Auto Scaling groups carrying every tag in ``tags``.

    GetResources does not return Auto Scaling groups ("GetResources ... aren't supported
    at this time and return an empty response for this service", Services that support
    the Resource Groups Tagging API,
    https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/supported-services.html),
    so they are asked of Auto Scaling's own DescribeTags, one tag at a time (its filters
    on key and value match any tag, not the same one).
    """
    found: set[str] | None = None
    for key, value in tags:
        request: dict[str, Any] = {
            "Filters": [{"Name": "key", "Values": [key]}, {"Name": "value", "Values": [value]}]
        }
        names: set[str] = set()
        while True:
            page = call(client, "describe_tags", **request)
            names |= {
                t["ResourceId"]
                for t in page.get("Tags", [])
                if t.get("Key") == key and t.get("Value") == value
            }
            if not page.get("NextToken"):
                break
            request["NextToken"] = page["NextToken"]
        found = names if found is None else found & names
    return found or set()


def stack_resources(client: Any, stack: str) -> list[dict[str, Any]] | None:
    """The stack's resources in the client's region; None when the stack is not there."""
    request: dict[str, Any] = {"StackName": stack}
    out: list[dict[str, Any]] = []
    while True:
        try:
            page = client.list_stack_resources(**request)
        except Exception as exc:
            if error_code(exc) == "ValidationError" and "does not exist" in str(exc):
                return None
            raise call_error(client, "list_stack_resources", exc) from None
        out += page.get("StackResourceSummaries", [])
        token = page.get("NextToken")
        if not token:
            return out
        request["NextToken"] = token


@dataclass(frozen=True)
class DomainRecords:
    """A domain's weighted, latency and failover records and the health checks they carry."""

    domain: str
    zone: str | None  # zone name, None when no hosted zone holds the name
    zone_id: str | None
    records: tuple[dict[str, Any], ...]
    checks: Mapping[str, dict[str, Any]]  # id -> HealthCheck (GetHealthCheck)
    check_names: Mapping[str, str]  # id -> its Name tag


def _fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


def _same(a: str, b: str) -> bool:
    return a.rstrip(".").lower() == b.rstrip(".").lower()


def find_zone(client: Any, domain: str) -> tuple[str, str] | None:
    """(zone name, zone id) of the most specific hosted zone holding ``domain``."""
    labels = _fqdn(domain).rstrip(".").split(".")
    for i in range(len(labels) - 1):
        candidate = ".".join(labels[i:]) + "."
        out = call(client, "list_hosted_zones_by_name", DNSName=candidate, MaxItems="1")
        for hz in out.get("HostedZones", []):
            if _same(hz["Name"], candidate):
                return hz["Name"], str(hz["Id"]).removeprefix("/hostedzone/")
    return None


def read_domain(client: Any, domain: str, extra_checks: Iterable[str] = ()) -> DomainRecords:
    """The records named ``domain`` (A, AAAA, CNAME with a set identifier) and checks."""
    found = find_zone(client, domain)
    records: list[dict[str, Any]] = []
    if found is not None:
        request: dict[str, Any] = {"HostedZoneId": found[1], "StartRecordName": _fqdn(domain)}
        while True:
            page = call(client, "list_resource_record_sets", **request)
            sets = page.get("ResourceRecordSets", [])
            records += [
                r
                for r in sets
                if _same(r["Name"], domain) and r["Type"] in RECORD_TYPES and "SetIdentifier" in r
            ]
            if any(not _same(r["Name"], domain) for r in sets) or not page.get("IsTruncated"):
                break
            request["StartRecordName"] = page["NextRecordName"]
            request["StartRecordType"] = page["NextRecordType"]
            if "NextRecordIdentifier" in page:
                request["StartRecordIdentifier"] = page["NextRecordIdentifier"]
    ids = sorted(
        {r["HealthCheckId"] for r in records if r.get("HealthCheckId")} | set(extra_checks)
    )
    checks = {i: call(client, "get_health_check", HealthCheckId=i)["HealthCheck"] for i in ids}
    # A calculated check's children: the endpoint and routing-control checks it combines.
    children = {
        str(c)
        for check in checks.values()
        for c in check.get("HealthCheckConfig", {}).get("ChildHealthChecks") or ()
    }
    for i in sorted(children - set(checks)):
        checks[i] = call(client, "get_health_check", HealthCheckId=i)["HealthCheck"]
    names = health_check_names(client, sorted(checks))
    return DomainRecords(
        domain=_fqdn(domain),
        zone=found[0] if found else None,
        zone_id=found[1] if found else None,
        records=tuple(records),
        checks=checks,
        check_names=names,
    )


def parameter_names(client: Any, tails: Iterable[str]) -> list[str]:
    """The names of the region's SSM parameters whose ARNs end in ``parameter/TAIL``.

    A name in a hierarchy starts with a slash ("For parameters in a hierarchy, you must
    include a leading forward slash", PutParameter, ``Name``, AWS SDK for Kotlin API
    reference, https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/ssm/aws.sdk.kotlin.services.ssm.model/-put-parameter-request/name.html)
    that the ARN does not repeat; a name without one may be written with or without it.
    Each candidate is asked of DescribeParameters (a ``Name`` filter takes up to 50
    values), so only names that exist are written.
    """
    candidates: list[str] = []
    for tail in sorted(set(tails)):
        candidates += ["/" + tail] if "/" in tail else [tail, "/" + tail]
    found: set[str] = set()
    for start in range(0, len(candidates), 50):
        request: dict[str, Any] = {
            "ParameterFilters": [
                {"Key": "Name", "Option": "Equals", "Values": candidates[start : start + 50]}
            ]
        }
        while True:
            page = call(client, "describe_parameters", **request)
            found |= {str(p["Name"]) for p in page.get("Parameters", [])}
            if not page.get("NextToken"):
                break
            request["NextToken"] = page["NextToken"]
    return sorted(found)


@dataclass(frozen=True)
class RegionFacts:
    """What was described in one region."""

    clusters: tuple[dict[str, Any], ...] = ()
    global_clusters: tuple[aurora.GlobalClusterFinding, ...] = ()
    tables: tuple[dynamodb.TableFinding, ...] = ()
    cache_groups: tuple[dict[str, Any], ...] = ()
    datastores: tuple[elasticache.DatastoreFinding, ...] = ()
    ecs: tuple[dict[str, Any], ...] = ()
    asgs: tuple[dict[str, Any], ...] = ()
    api_domains: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    parameters: tuple[str, ...] = ()  # SSM parameter names


def describe_region(
    factory: ClientSource, region: str, inv: Inventory, want_apis: bool
) -> RegionFacts:
    """Every read of ``region``'s found resources (one task of the second round)."""
    clusters: list[dict[str, Any]] = []
    globals_: list[aurora.GlobalClusterFinding] = []
    ids = sorted(inv.clusters.get(region, ()))
    if ids or inv.global_clusters:
        rds = factory.client("rds", region)
        for ident in ids:
            try:
                out = rds.describe_db_clusters(DBClusterIdentifier=ident)
            except Exception as exc:
                if error_code(exc) == "DBClusterNotFoundFault":
                    continue
                raise call_error(rds, "describe_db_clusters", exc) from None
            clusters += out.get("DBClusters", [])
        arns = {c["DBClusterArn"] for c in clusters}
        wanted = set(inv.global_clusters) | {
            str(c["GlobalClusterIdentifier"]) for c in clusters if c.get("GlobalClusterIdentifier")
        }
        request: dict[str, Any] = {}
        while True:
            page = call(rds, "describe_global_clusters", **request)
            for g in page.get("GlobalClusters", []):
                members = {m["DBClusterArn"] for m in g.get("GlobalClusterMembers", [])}
                if g["GlobalClusterIdentifier"] in wanted or members & arns:
                    globals_.append(
                        aurora.observe_global_cluster(rds, g["GlobalClusterIdentifier"])
                    )
            if not page.get("Marker"):
                break
            request["Marker"] = page["Marker"]
    tables = []
    if inv.tables.get(region):
        ddb = factory.client("dynamodb", region)
        tables = [dynamodb.observe_table(ddb, t) for t in sorted(inv.tables[region])]
    groups: list[dict[str, Any]] = []
    datastores: list[elasticache.DatastoreFinding] = []
    if inv.cache_groups.get(region):
        ec = factory.client("elasticache", region)
        for ident in sorted(inv.cache_groups[region]):
            out = call(ec, "describe_replication_groups", ReplicationGroupId=ident)
            groups += out.get("ReplicationGroups", [])
        gids = {
            g["GlobalReplicationGroupInfo"]["GlobalReplicationGroupId"]
            for g in groups
            if g.get("GlobalReplicationGroupInfo", {}).get("GlobalReplicationGroupId")
        }
        datastores = [elasticache.observe_datastore(ec, gid) for gid in sorted(gids)]
    ecs: list[dict[str, Any]] = []
    by_cluster: dict[str, list[str]] = {}
    for cluster, service in sorted(inv.ecs_services.get(region, ())):
        by_cluster.setdefault(cluster, []).append(service)
    if by_cluster:
        client = factory.client("ecs", region)
        for cluster, names in by_cluster.items():
            for start in range(0, len(names), 10):  # DescribeServices takes 10 names
                out = call(
                    client, "describe_services", cluster=cluster, services=names[start : start + 10]
                )
                ecs += [
                    {**s, "clusterName": cluster}
                    for s in out.get("services", [])
                    if s.get("status") != "INACTIVE"
                ]
    asgs: list[dict[str, Any]] = []
    names = sorted(inv.asgs.get(region, ()))
    if names:
        client = factory.client("autoscaling", region)
        for start in range(0, len(names), 50):
            out = call(
                client,
                "describe_auto_scaling_groups",
                AutoScalingGroupNames=names[start : start + 50],
            )
            asgs += out.get("AutoScalingGroups", [])
    apis: dict[str, tuple[str, str]] = {}
    if want_apis:
        apis = api_domains(factory, region)
    parameters: list[str] = []
    if inv.parameters.get(region):
        parameters = parameter_names(factory.client("ssm", region), inv.parameters[region])
    return RegionFacts(
        clusters=tuple(clusters),
        global_clusters=tuple(globals_),
        tables=tuple(tables),
        cache_groups=tuple(groups),
        datastores=tuple(datastores),
        ecs=tuple(ecs),
        asgs=tuple(asgs),
        api_domains=apis,
        parameters=tuple(parameters),
    )


def api_domains(factory: ClientSource, region: str) -> dict[str, tuple[str, str]]:
    """Regional domain name (``d-....execute-api.REGION.amazonaws.com``) -> (custom
    domain, ``rest`` or ``http``), from API Gateway's REST and HTTP API custom domains."""
    out: dict[str, tuple[str, str]] = {}
    rest = factory.client("apigateway", region)
    request: dict[str, Any] = {}
    while True:
        page = call(rest, "get_domain_names", **request)
        for d in page.get("items", []):
            if d.get("regionalDomainName"):
                out[d["regionalDomainName"].lower()] = (d["domainName"], "rest")
        if not page.get("position"):
            break
        request["position"] = page["position"]
    v2 = factory.client("apigatewayv2", region)
    request = {}
    while True:
        page = call(v2, "get_domain_names", **request)
        for d in page.get("Items", []):
            for conf in d.get("DomainNameConfigurations", []):
                target = conf.get("ApiGatewayDomainName")
                if target and target.lower() not in out:
                    out[target.lower()] = (d["DomainName"], "http")
        if not page.get("NextToken"):
            break
        request["NextToken"] = page["NextToken"]
    return out


def describe_buckets(
    factory: ClientSource, buckets: Mapping[str, str]
) -> dict[str, tuple[str, s3.BucketFinding]]:
    """Bucket -> (its region, its versioning and replication rules)."""
    out = {}
    for name, hint in sorted(buckets.items()):
        location = call(factory.client("s3", hint), "get_bucket_location", Bucket=name)
        # GetBucketLocation: "Buckets in Region us-east-1 have a LocationConstraint of
        # null" (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketLocation.html).
        region = location.get("LocationConstraint") or "us-east-1"
        if region == "EU":  # the legacy name of eu-west-1 in the same page
            region = "eu-west-1"
        out[name] = (region, s3.observe_bucket(factory.client("s3", region), name))
    return out


def describe_accelerators(
    factory: ClientSource, arns: set[str], record_values: set[str], endpoints: set[str]
) -> list[tuple[globalaccelerator.AcceleratorFinding, dict[str, set[str]]]]:
    """Accelerators of the application: tagged ones, and those a record points at or
    whose endpoints are found resources. Each with its groups' endpoint ids by region."""
    client = factory.client("globalaccelerator", globalaccelerator.GA_REGION)
    out = []
    for acc in globalaccelerator._pages(client, "list_accelerators", "Accelerators"):
        arn = acc["AcceleratorArn"]
        dns = str(acc.get("DnsName", "")).rstrip(".").lower()
        finding = None
        ids: dict[str, set[str]] = {}
        if arn not in arns and dns not in record_values and not endpoints:
            continue
        for listener in globalaccelerator._pages(
            client, "list_listeners", "Listeners", AcceleratorArn=arn
        ):
            for g in globalaccelerator._pages(
                client,
                "list_endpoint_groups",
                "EndpointGroups",
                ListenerArn=listener["ListenerArn"],
            ):
                ids.setdefault(g["EndpointGroupRegion"], set()).update(
                    e["EndpointId"] for e in g.get("EndpointDescriptions", [])
                )
        mine = arn in arns or dns in record_values or any(i & endpoints for i in ids.values())
        if mine:
            finding = globalaccelerator.observe_accelerator(client, GlobalAccelerator(arn=arn))
            out.append((finding, ids))
    return out


def describe_distributions(factory: ClientSource, buckets: Iterable[str]) -> list[dict[str, Any]]:
    """CloudFront distributions (summaries) with an S3 origin in one of ``buckets``.

    The link is observed, not guessed: an S3 origin's ``DomainName`` is "the DNS name of
    the Amazon S3 bucket", like ``myawsbucket.s3.amazonaws.com`` (Origin, Amazon
    CloudFront API Reference,
    https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_Origin.html).
    Distributions are global: ListDistributions is asked once, in us-east-1.
    """
    wanted = set(buckets)
    client = factory.client("cloudfront", cloudfront.CONTROL_PLANE_REGION)
    return [
        item
        for item in cloudfront.distributions(client)
        if wanted
        & {
            cloudfront.origin_region(o.get("DomainName", ""), {})[1]
            for o in item.get("Origins", {}).get("Items", [])
        }
    ]


def describe_routing_controls(factory: ClientSource, arns: Iterable[str]) -> dict[str, str]:
    """Routing control ARN -> ARN of the ARC cluster that serves it (control plane)."""
    client = factory.client(CONFIG_SERVICE, ARC_REGION)
    panels: dict[str, str] = {}
    out = {}
    for arn in sorted(set(arns)):
        rc = call(client, "describe_routing_control", RoutingControlArn=arn)["RoutingControl"]
        panel = rc["ControlPanelArn"]
        if panel not in panels:
            cp = call(client, "describe_control_panel", ControlPanelArn=panel)["ControlPanel"]
            panels[panel] = cp["ClusterArn"]
        out[arn] = panels[panel]
    return out


# --- the orchestration --------------------------------------------------------------------


@dataclass
class _Round:
    results: dict[Any, Any]
    failures: dict[Any, MrFailoverError]


def _run(
    tasks: Mapping[Any, Callable[[], Any]], deadline: float, where: Mapping[Any, str]
) -> _Round:
    futures = run_concurrently(tasks, deadline=deadline)
    results: dict[Any, Any] = {}
    failures: dict[Any, MrFailoverError] = {}
    for key, future in futures.items():
        if not future.done() or future.cancelled():
            failures[key] = RegionUnreachableError(
                where[key],
                str(key[0]),
                f"no answer within {deadline:g} s",
                "the region may be impaired",
            )
        elif (exc := future.exception()) is not None:
            if not isinstance(exc, MrFailoverError):
                raise exc  # a bug: keep its traceback
            failures[key] = exc
        else:
            results[key] = future.result()
    return _Round(results, failures)


def discover(
    request: DiscoverRequest, factory: ClientSource, *, deadline: float = DEFAULT_DEADLINE
) -> Discovery:
    """Read the account and build the topology of ``request`` (see the module docstring)."""
    request.check()
    notes: list[Note] = []
    regions = request.regions
    # Round 1: the seeds (tags, stacks, domains) and the account.
    tasks: dict[Any, Callable[[], Any]] = {}
    where: dict[Any, str] = {}
    tasks[("account",)] = lambda: call(factory.client("sts", regions[0]), "get_caller_identity")
    where[("account",)] = regions[0]
    for region in regions:
        if request.tags:
            tasks[("tags", region)] = lambda r=region: tagged_arns(  # type: ignore[misc]
                factory.client("resourcegroupstaggingapi", r), request.tags
            )
            where[("tags", region)] = region
            tasks[("asg-tags", region)] = lambda r=region: tagged_asgs(  # type: ignore[misc]
                factory.client("autoscaling", r), request.tags
            )
            where[("asg-tags", region)] = region
        for stack in request.stacks:
            tasks[("stack", region, stack)] = lambda r=region, s=stack: stack_resources(  # type: ignore[misc]
                factory.client("cloudformation", r), s
            )
            where[("stack", region, stack)] = region
    ga_region = globalaccelerator.GA_REGION
    if request.tags:
        tasks[("tags-ga",)] = lambda: tagged_accelerators(
            factory.client("globalaccelerator", ga_region), request.tags
        )
        where[("tags-ga",)] = ga_region
    for domain in request.domains:
        tasks[("domain", domain)] = lambda d=domain: read_domain(  # type: ignore[misc]
            factory.client("route53", ROUTE53_REGION), d
        )
        where[("domain", domain)] = ROUTE53_REGION
    first = _run(tasks, deadline, where)
    _round_failures(first, notes, request)

    inv = Inventory()
    for key, value in first.results.items():
        if key[0] in ("tags", "tags-ga"):
            for arn in value:
                add_arn(inv, arn, notes, key[1] if len(key) > 1 else ga_region)
        elif key[0] == "asg-tags":
            for name in value:
                _add(inv.asgs, key[1], name)
        elif key[0] == "stack" and value is not None:
            for summary in value:
                add_stack_resource(inv, key[1], summary)
    for stack in request.stacks:
        looked = [r for r in regions if ("stack", r, stack) in first.results]
        if looked and all(first.results[("stack", r, stack)] is None for r in looked):
            notes.append(Note((), f"stack {stack} exists in none of {', '.join(looked)}"))
    domains: list[DomainRecords] = [
        first.results[("domain", d)] for d in request.domains if ("domain", d) in first.results
    ]
    for d in domains:
        if d.zone is None:
            notes.append(Note((), f"no hosted zone holds {d.domain}"))
        elif not d.records:
            notes.append(
                Note((), f"{d.domain} has no weighted, latency or failover record in {d.zone}")
            )
    account = first.results.get(("account",), {}).get("Account")

    # Round 2: describe what was found.
    record_values = {_value(r).rstrip(".").lower() for d in domains for r in d.records if _value(r)}
    rc_arns = {
        c["HealthCheckConfig"]["RoutingControlArn"]
        for d in domains
        for c in d.checks.values()
        if c.get("HealthCheckConfig", {}).get("RoutingControlArn")
    }
    tasks, where = {}, {}
    want_apis = any(".execute-api." in v for v in record_values)
    for region in regions:
        tasks[("describe", region)] = lambda r=region: describe_region(  # type: ignore[misc]
            factory, r, inv, want_apis
        )
        where[("describe", region)] = region
    if inv.buckets:
        tasks[("buckets",)] = lambda: describe_buckets(factory, inv.buckets)
        where[("buckets",)] = "s3"
    if inv.accelerators or record_values & _ga_dns_like(record_values) or inv.others:
        tasks[("accelerators",)] = lambda: describe_accelerators(
            factory, inv.accelerators, record_values, inv.others
        )
        where[("accelerators",)] = ga_region
    if inv.buckets:
        tasks[("cloudfront",)] = lambda: describe_distributions(factory, inv.buckets)
        where[("cloudfront",)] = cloudfront.CONTROL_PLANE_REGION
    if rc_arns:
        tasks[("arc",)] = lambda: describe_routing_controls(factory, rc_arns)
        where[("arc",)] = ARC_REGION
    second = _run(tasks, deadline, where)
    _round_failures(second, notes, request)
    facts = {r: second.results.get(("describe", r)) for r in regions}
    builder = _Builder(request, notes, account)
    builder.build(
        inv=inv,
        facts={r: f for r, f in facts.items() if f is not None},
        unread={r for r, f in facts.items() if f is None},
        buckets=second.results.get(("buckets",), {}),
        accelerators=second.results.get(("accelerators",), []),
        distributions=second.results.get(("cloudfront",), []),
        domains=domains,
        routing_clusters=second.results.get(("arc",), {}),
    )
    if inv.empty() and not any(d.records for d in domains):
        notes.insert(
            0,
            Note(
                (),
                f"no resources found in {', '.join(regions)} from {' '.join(request.sources())}"
                " (check the tag, stack or domain, the regions and the credentials' account)",
            ),
        )
    return Discovery(builder.data, notes, request)


def _ga_dns_like(values: set[str]) -> set[str]:
    return {v for v in values if v.endswith(".awsglobalaccelerator.com")}


def _round_failures(rnd: _Round, notes: list[Note], request: DiscoverRequest) -> None:
    for key, exc in rnd.failures.items():
        what = key[0]
        if what in ("tags", "asg-tags", "stack", "describe") and len(key) > 1:
            region = key[1]
            label = {
                "asg-tags": "tagged Auto Scaling groups",
                "tags": "tagged resources",
                "stack": f"stack {key[-1]}",
                "describe": "resources",
            }
            notes.append(Note(("regions", region), f"{label[what]} not read: {exc}"))
        elif what == "domain":
            notes.append(Note((), f"records of {key[1]} not read: {exc}"))
        elif what == "account":
            notes.append(Note(("account_id",), f"account not read: {exc}"))
        else:
            label = {
                "tags-ga": "tagged accelerators (Global Accelerator)",
                "buckets": "the buckets' replication",
                "accelerators": "the accelerators",
                "cloudfront": "CloudFront distributions",
                "arc": "the routing controls' ARC cluster",
            }.get(what, what)
            notes.append(Note((), f"{label} not read: {exc}"))
        if isinstance(exc, MrFailoverError) and exc.exit_code == 5 and not rnd.results:
            raise exc  # no credentials at all: nothing else will answer either


def _value(rrs: Mapping[str, Any]) -> str:
    if "AliasTarget" in rrs:
        return str(rrs["AliasTarget"].get("DNSName", ""))
    values = rrs.get("ResourceRecords", [])
    return str(values[0]["Value"]) if values else ""


_REGION_IN = re.compile(r"(?<![a-z0-9])([a-z]{2}(?:-gov)?-[a-z]+-\d)(?![0-9])")


class _Builder:
    """Assembles the topology data from the reads (pure: no AWS call)."""

    def __init__(self, request: DiscoverRequest, notes: list[Note], account: str | None) -> None:
        self.request = request
        self.notes = notes
        self.account = account
        self.regions: dict[str, dict[str, Any]] = {r: {} for r in request.regions}
        self.data: dict[str, Any] = {}
        self.arc_clusters: set[str] = set()
        self.accelerator: globalaccelerator.AcceleratorFinding | None = None
        self.distributions: list[dict[str, Any]] = []

    def note(self, where: KeyPath, text: str, kind: NoteKind = "problem") -> None:
        self.notes.append(Note(where, text, kind))

    def build(
        self,
        *,
        inv: Inventory,
        facts: Mapping[str, RegionFacts],
        unread: set[str],
        buckets: Mapping[str, tuple[str, s3.BucketFinding]],
        accelerators: Sequence[tuple[globalaccelerator.AcceleratorFinding, dict[str, set[str]]]],
        distributions: Sequence[Mapping[str, Any]],
        domains: Sequence[DomainRecords],
        routing_clusters: Mapping[str, str],
    ) -> None:
        self.distributions = [_distribution(d) for d in distributions]
        self._traffic(domains, facts, routing_clusters)
        writer = self._aurora(facts)
        self._dynamodb(facts)
        self._s3(buckets)
        self._compute(inv, facts)
        self._accelerator(accelerators)
        cache_primary = self._elasticache(facts)
        self._api_endpoints(facts)
        self._readiness(inv, facts)
        for region in unread:
            self.note(("regions", region), "not described (see the problem above): incomplete")
        self._top(writer, cache_primary)

    # -- top level --

    def _top(self, writer: str | None, cache_primary: str | None) -> None:
        req = self.request
        d = self.data
        d["application"] = req.application or self._application()
        if self.account is None:
            d["account_id"] = "000000000000"
            self.note(("account_id",), "the account could not be read: put yours here")
        else:
            d["account_id"] = self.account
        primary = writer or cache_primary or self._primary_record_region()
        if primary is None:
            primary = req.regions[0]
            self.note(
                ("primary_region",),
                "nothing observed says which region serves in steady state (no Aurora "
                "writer, ElastiCache primary or PRIMARY failover record): the first of "
                "--regions is written; change it if needed",
                "todo",
            )
        d["primary_region"] = primary
        policy: dict[str, Any] = {
            "rpo_seconds": req.rpo_seconds if req.rpo_seconds is not None else PLACEHOLDER_RPO,
            "rto_seconds": req.rto_seconds if req.rto_seconds is not None else PLACEHOLDER_RTO,
        }
        d["policy"] = policy
        for key, given in (("rpo_seconds", req.rpo_seconds), ("rto_seconds", req.rto_seconds)):
            if given is None:
                self.note(
                    ("policy", key),
                    f"your objective: {policy[key]} is a placeholder "
                    f"(or pass --{key.replace('_', '-')})",
                    "todo",
                )
        if self.accelerator is not None:
            d["global_accelerator"] = (
                {"name": self.accelerator.name}
                if self.accelerator.name
                else {"arn": self.accelerator.arn}
            )
        if self.distributions:
            d["cloudfront_distributions"] = self.distributions
        if len(self.arc_clusters) == 1:
            d["arc"] = {"cluster_arn": next(iter(self.arc_clusters))}
            self.note(
                ("arc",),
                "`mr-failover arc endpoints` prints the cluster's endpoints to paste here",
                "todo",
            )
        elif len(self.arc_clusters) > 1:
            self.note(
                (),
                "routing controls belong to several ARC clusters "
                f"({', '.join(sorted(self.arc_clusters))}): one topology has one; "
                "their controls are left out",
            )
            for spec in self.regions.values():
                spec.get("traffic", {}).pop("routing_controls", None)
        d["regions"] = {r: _ordered_region(spec) for r, spec in self.regions.items()}

    def _application(self) -> str:
        req = self.request
        if len(req.tags) >= 1:
            return req.tags[0][1]
        if req.stacks:
            return req.stacks[0]
        return req.domains[0].rstrip(".").split(".")[0] if req.domains else "application"

    def _primary_record_region(self) -> str | None:
        for region, spec in self.regions.items():
            for rec in spec.get("traffic", {}).get("records", []):
                if rec.get("failover") == "PRIMARY":
                    return region
        return None

    # -- Route 53 and ARC --

    def _record_region(self, rrs: Mapping[str, Any], check: Mapping[str, Any] | None) -> str | None:
        if rrs.get("Region"):
            return str(rrs["Region"])
        candidates = [_value(rrs), str(rrs.get("SetIdentifier", ""))]
        if check is not None:
            candidates.append(
                str(check.get("HealthCheckConfig", {}).get("FullyQualifiedDomainName", ""))
            )
        for text in candidates:
            found = {m for m in _REGION_IN.findall(text.lower()) if m in self.request.regions}
            if len(found) == 1:
                return str(found.pop())
        return None

    def _traffic(
        self,
        domains: Sequence[DomainRecords],
        facts: Mapping[str, RegionFacts],
        routing_clusters: Mapping[str, str],
    ) -> None:
        for d in domains:
            for rrs in d.records:
                self._record(d, rrs, routing_clusters)
        for region, spec in self.regions.items():
            traffic = spec.get("traffic")
            if not traffic:
                continue
            checks = traffic.get("health_checks", [])
            records = traffic.get("records", [])
            bare = [r for r in records if r.get("health_check") is None and not r.get("_rc")]
            if checks:
                lever = "health_check_inversion"
            elif traffic.get("routing_controls"):
                lever = "routing_control"
            elif records and all(r["routing_policy"] == "weighted" for r in records):
                lever = "weight"
            else:
                lever = "health_check_inversion"
            traffic["drain_lever"] = lever
            for i, rec in enumerate(records):
                if rec.pop("_rc", False):
                    continue
                if rec in bare and lever != "weight":
                    self.note(
                        ("regions", region, "traffic", "records", i),
                        f"record {rec['name']} ({rec['set_identifier']}) carries no health "
                        "check: Route 53 keeps answering with it whatever the region's state, "
                        "and no drain lever but weight moves it; attach a health check",
                    )

    def _record(
        self, d: DomainRecords, rrs: Mapping[str, Any], routing_clusters: Mapping[str, str]
    ) -> None:
        label = f"{rrs['Name']} ({rrs['SetIdentifier']})"
        if "Failover" in rrs:
            policy = "failover"
        elif "Weight" in rrs:
            policy = "weighted"
        elif "Region" in rrs:
            policy = "latency"
        else:
            self.note(
                (),
                f"record {label}: routing policy not one of failover, weighted, latency: left out",
            )
            return
        check_id = rrs.get("HealthCheckId")
        check = d.checks.get(check_id) if check_id else None
        region = self._record_region(rrs, check)
        if region is None:
            self.note(
                (),
                f"record {label} -> {_value(rrs)}: could not tell which of "
                f"{', '.join(self.request.regions)} it routes to (no region in its value, set "
                "identifier or health check): add it under that region's traffic.records",
            )
            return
        traffic = self.regions[region].setdefault("traffic", {})
        rec: dict[str, Any] = {
            "zone": d.zone,
            "hosted_zone_id": d.zone_id,
            "name": rrs["Name"],
            "type": rrs["Type"],
            "set_identifier": rrs["SetIdentifier"],
            "routing_policy": policy,
        }
        if policy == "failover":
            rec["failover"] = rrs["Failover"]
        if policy == "weighted":
            rec["weight"] = int(rrs["Weight"])
        if "TTL" in rrs:
            rec["ttl"] = int(rrs["TTL"])
        rec["value"] = _value(rrs).rstrip(".") if "AliasTarget" not in rrs else _value(rrs)
        config = (check or {}).get("HealthCheckConfig", {})
        if check_id and config.get("Type") == "RECOVERY_CONTROL":
            rec["_rc"] = True
            arn = config.get("RoutingControlArn")
            self._routing_control(region, traffic, arn, routing_clusters)
        elif check_id and config.get("Type") == "CALCULATED":
            self._calculated(region, traffic, d, check_id, config, rrs, rec, routing_clusters)
        elif check_id and check is not None:
            rec["health_check"] = self._check(region, traffic, d, check_id, check, rrs)
        elif check_id:
            self.note((), f"record {label}: health check {check_id} not read")
        records = traffic.setdefault("records", [])
        records.append(rec)
        if "AliasTarget" in rrs and "TTL" not in rrs:
            self.note(
                ("regions", region, "traffic", "records", len(records) - 1),
                "an alias record: Route 53 takes the target's TTL; ttl left at its default",
                "todo",
            )

    def _routing_control(
        self,
        region: str,
        traffic: dict[str, Any],
        arn: str | None,
        routing_clusters: Mapping[str, str],
    ) -> None:
        if not arn:
            return
        controls = traffic.setdefault("routing_controls", [])
        if arn not in controls:
            controls.append(arn)
        if arn in routing_clusters:
            self.arc_clusters.add(routing_clusters[arn])
        else:
            self.note(
                ("regions", region, "traffic", "routing_controls"),
                f"routing control {arn}: its ARC cluster was not read",
            )

    def _calculated(
        self,
        region: str,
        traffic: dict[str, Any],
        d: DomainRecords,
        check_id: str,
        config: Mapping[str, Any],
        rrs: Mapping[str, Any],
        rec: dict[str, Any],
        routing_clusters: Mapping[str, str],
    ) -> None:
        """A record's CALCULATED check: its routing-control children are the region's
        routing controls, its endpoint child the record's health check (an ARC setup where
        either lever moves the record). Healthy while at least ``HealthThreshold`` children
        are ("How Amazon Route 53 determines whether a health check is healthy",
        https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html)."""
        label = f"record {rrs['Name']} ({rrs['SetIdentifier']})"
        children = [str(c) for c in config.get("ChildHealthChecks") or ()]
        threshold = config.get("HealthThreshold")
        endpoints = []
        for child in children:
            found = d.checks.get(child)
            kind = (found or {}).get("HealthCheckConfig", {}).get("Type")
            if found is None:
                self.note((), f"{label}: child {child} of health check {check_id} not read")
            elif kind == "RECOVERY_CONTROL":
                rec["_rc"] = True
                arn = found["HealthCheckConfig"].get("RoutingControlArn")
                self._routing_control(region, traffic, arn, routing_clusters)
            else:
                endpoints.append((child, found))
        if threshold is None or int(threshold) < len(children):
            self.note(
                ("regions", region, "traffic"),
                f"{label} carries calculated health check {check_id}, healthy with "
                f"{threshold} of its {len(children)} children: one child going unhealthy "
                "(a drain) leaves it healthy, so no lever moves this record",
            )
        if endpoints:
            child, found = endpoints[0]
            rec["health_check"] = self._check(region, traffic, d, child, found, rrs)
            if len(endpoints) > 1:
                self.note(
                    ("regions", region, "traffic"),
                    f"{label}: calculated health check {check_id} has {len(endpoints)} "
                    "endpoint checks; the record names the first",
                )

    def _check(
        self,
        region: str,
        traffic: dict[str, Any],
        d: DomainRecords,
        check_id: str,
        check: Mapping[str, Any],
        rrs: Mapping[str, Any],
    ) -> str:
        checks = traffic.setdefault("health_checks", [])
        for existing in checks:
            if existing.get("id") == check_id:
                return str(existing["name"])
        name = d.check_names.get(check_id)
        if name is None:
            first = str(rrs["Name"]).rstrip(".").split(".")[0]
            name = f"{first}-{rrs['SetIdentifier']}"
        config = check.get("HealthCheckConfig", {})
        spec: dict[str, Any] = {"name": name, "id": check_id}
        kind = config.get("Type")
        index = len(checks)
        if kind in ("HTTPS", "HTTP", "TCP"):
            if config.get("FullyQualifiedDomainName"):
                spec["fqdn"] = config["FullyQualifiedDomainName"]
            if config.get("Port") is not None:
                spec["port"] = int(config["Port"])
            if kind != "TCP":
                spec["path"] = config.get("ResourcePath") or "/"
            spec["type"] = kind
            if config.get("RequestInterval") is not None:
                spec["request_interval"] = int(config["RequestInterval"])
            if config.get("FailureThreshold") is not None:
                spec["failure_threshold"] = int(config["FailureThreshold"])
        else:
            self.note(
                ("regions", region, "traffic", "health_checks", index),
                f"health check {check_id} is of type {kind}, which the file does not model: "
                "status reports its type, port and path as drift",
            )
        if d.check_names.get(check_id) is None:
            self.note(
                ("regions", region, "traffic", "health_checks", index, "name"),
                f"health check {check_id} has no Name tag: the name is made up here (tag "
                f"the check Name={name} to keep them together)",
                "todo",
            )
        checks.append(spec)
        return name

    # -- data --

    def _aurora(self, facts: Mapping[str, RegionFacts]) -> str | None:
        """Fill each region's aurora; return the observed writer region."""
        globals_: dict[str, aurora.GlobalClusterFinding] = {}
        clusters: dict[str, dict[str, Any]] = {}
        for region, f in facts.items():
            for g in f.global_clusters:
                globals_.setdefault(g.id, g)
            for c in f.clusters:
                clusters[c["DBClusterArn"]] = {**c, "_region": region}
        if len(globals_) > 1:
            self.note(
                (),
                f"the tag or stack matches {len(globals_)} Aurora global databases "
                f"({', '.join(sorted(globals_))}): two applications? None is written; "
                "narrow the tag (or add one by hand as regions.R.aurora)",
            )
            return None
        if globals_:
            g = next(iter(globals_.values()))
            writer = g.writer_region
            for m in g.members:
                if m.region not in self.regions:
                    self.note(
                        (),
                        f"Aurora global database {g.id} has a member in {m.region}, "
                        "not one of --regions: left out",
                    )
                    continue
                seen = clusters.get(m.cluster_arn)
                member: dict[str, Any] = {
                    "mode": "global",
                    "global_cluster": g.id,
                    "cluster": m.cluster_arn.rsplit(":", 1)[-1],
                    "role": "writer" if m.is_writer else "secondary",
                }
                if seen is not None and seen.get("Engine"):
                    member["engine"] = seen["Engine"]
                self.regions[m.region]["aurora"] = member
            if writer is None:
                self.note(
                    ("regions",), f"Aurora global database {g.id} reports no writer (IsWriter)"
                )
            return writer if writer in self.regions else None
        # Cross-region read replicas: ReplicationSourceIdentifier names the writer's ARN.
        replicas = [c for c in clusters.values() if c.get("ReplicationSourceIdentifier")]
        sources = {c["ReplicationSourceIdentifier"] for c in replicas}
        if len(sources) > 1:
            self.note((), f"read replicas of {len(sources)} different writers: none is written")
            return None
        if not replicas:
            if clusters:
                names = ", ".join(sorted(c["DBClusterIdentifier"] for c in clusters.values()))
                self.note(
                    (),
                    f"Aurora cluster(s) {names} are neither in a global database nor "
                    "cross-region replicas: not written",
                )
            return None
        source = next(iter(sources))
        src_region = aurora.arn_region(source)
        if src_region not in self.regions:
            self.note((), f"the replicas' writer {source} is not in --regions")
            return None
        for c in [*replicas]:
            self.regions[c["_region"]]["aurora"] = {
                "mode": "replica",
                "cluster": c["DBClusterIdentifier"],
                "role": "secondary",
                "engine": c.get("Engine", "aurora-mysql"),
            }
        self.regions[src_region]["aurora"] = {
            "mode": "replica",
            "cluster": source.rsplit(":", 1)[-1],
            "role": "writer",
            "engine": replicas[0].get("Engine", "aurora-mysql"),
        }
        return src_region

    def _dynamodb(self, facts: Mapping[str, RegionFacts]) -> None:
        tables: dict[str, set[str]] = {}
        legacy: set[str] = set()
        for f in facts.values():
            for t in f.tables:
                tables.setdefault(t.name, set()).update(r.region for r in t.replicas)
                tables[t.name].add(t.region)
                if t.legacy:
                    legacy.add(t.name)
        for name in sorted(legacy):
            # rule: dynamodb-legacy-global-tables (replicas from DescribeGlobalTable)
            self.note(
                (),
                f"table {name} is a version 2017.11.29 (Legacy) global table: AWS recommends "
                f"upgrading it to version 2019.11.21 (Current) ({dynamodb.UPGRADE_GUIDE})",
            )
        for name, where in sorted(tables.items()):
            inside = [r for r in self.request.regions if r in where]
            outside = sorted(where - set(self.request.regions))
            if outside:
                self.note((), f"table {name} also has replicas in {', '.join(outside)}: left out")
            if len(inside) < 2:
                self.note(
                    (),
                    f"table {name} has no replica in another of --regions: "
                    "not a global table here, left out",
                )
                continue
            for region in inside:
                self.regions[region].setdefault("dynamodb_tables", []).append(name)

    def _s3(self, buckets: Mapping[str, tuple[str, s3.BucketFinding]]) -> None:
        where = {name: region for name, (region, _) in buckets.items()}
        for name, (region, finding) in sorted(buckets.items()):
            if region not in self.regions:
                self.note((), f"bucket {name} is in {region}, not one of --regions: left out")
                continue
            spec: dict[str, Any] = {"name": name}
            targets = []
            rtc = False
            for rule in finding.rules:
                if not rule.enabled:
                    continue
                target_region = where.get(rule.destination_bucket)
                if target_region is None:
                    self.note(
                        ("regions", region, "s3_buckets"),
                        f"bucket {name} replicates to {rule.destination_bucket}, which the "
                        "tag or stack does not find: that target is left out",
                    )
                    continue
                if target_region == region or target_region not in self.regions:
                    continue
                targets.append({"bucket": rule.destination_bucket, "region": target_region})
                rtc = rtc or rule.rtc
            if rtc:
                spec["rtc"] = True
            if targets:
                spec["replicate_to"] = targets
            self.regions[region].setdefault("s3_buckets", []).append(spec)

    def _compute(self, inv: Inventory, facts: Mapping[str, RegionFacts]) -> None:
        factor = self.request.takeover_factor
        for region, f in facts.items():
            compute: dict[str, Any] = {}
            for svc in sorted(f.ecs, key=lambda s: (s["clusterName"], s["serviceName"])):
                compute.setdefault("ecs_services", []).append(
                    self._takeover(
                        region,
                        "ecs_services",
                        len(compute.get("ecs_services", [])),
                        {"cluster": svc["clusterName"], "service": svc["serviceName"]},
                        int(svc.get("desiredCount", 0)),
                        factor,
                    )
                )
            for g in sorted(f.asgs, key=lambda g: str(g["AutoScalingGroupName"])):
                compute.setdefault("autoscaling_groups", []).append(
                    self._takeover(
                        region,
                        "autoscaling_groups",
                        len(compute.get("autoscaling_groups", [])),
                        {"name": g["AutoScalingGroupName"]},
                        int(g.get("DesiredCapacity", 0)),
                        factor,
                    )
                )
            for name in sorted(inv.functions.get(region, ())):
                compute.setdefault("lambda_functions", []).append({"name": name})
            if compute:
                self.regions[region]["compute"] = compute

    def _takeover(
        self,
        region: str,
        kind: str,
        index: int,
        spec: dict[str, Any],
        desired: int,
        factor: float | None,
    ) -> dict[str, Any]:
        if factor is not None:
            spec["takeover_desired"] = math.ceil(desired * factor)
        else:
            self.note(
                ("regions", region, "compute", kind, index),
                f"takeover_desired: desired is {desired} now; how many to carry every "
                "region's traffic is your choice (or pass --takeover-factor)",
                "todo",
            )
        return spec

    def _accelerator(
        self, found: Sequence[tuple[globalaccelerator.AcceleratorFinding, dict[str, set[str]]]]
    ) -> None:
        if len(found) > 1:
            self.note(
                (),
                f"{len(found)} accelerators belong to the application "
                f"({', '.join(a.name or a.arn for a, _ in found)}): "
                "one topology has one; none is written",
            )
            return
        if not found:
            return
        acc, _ = found[0]
        self.accelerator = acc
        for region in self.regions:
            groups = [g for g in acc.groups if g.region == region]
            if not groups:
                continue
            spec: dict[str, Any] = {}
            if len(groups) > 1:
                spec["endpoint_group_arn"] = groups[0].arn
                self.note(
                    ("regions", region, "global_accelerator"),
                    f"{len(groups)} endpoint groups in {region} (several listeners): the first "
                    "is written",
                )
            spec["traffic_dial"] = int(groups[0].dial)
            self.regions[region]["global_accelerator"] = spec

    def _elasticache(self, facts: Mapping[str, RegionFacts]) -> str | None:
        stores: dict[str, elasticache.DatastoreFinding] = {}
        for f in facts.values():
            for s in f.datastores:
                stores.setdefault(s.id, s)
        if len(stores) > 1:
            self.note(
                (),
                f"{len(stores)} ElastiCache global datastores match "
                f"({', '.join(sorted(stores))}): two applications? none is written",
            )
            return None
        if not stores:
            return None
        store = next(iter(stores.values()))
        for m in store.members:
            if m.region not in self.regions:
                self.note((), f"global datastore {store.id} has a member in {m.region}: left out")
                continue
            self.regions[m.region]["elasticache"] = {
                "global_datastore": store.id,
                "replication_group": m.replication_group,
                "role": "primary" if m.role == "PRIMARY" else "secondary",
            }
        primary = store.primary_region
        return primary if primary in self.regions else None

    def _api_endpoints(self, facts: Mapping[str, RegionFacts]) -> None:
        for region, spec in self.regions.items():
            apis = facts[region].api_domains if region in facts else {}
            for rec in spec.get("traffic", {}).get("records", []):
                hit = apis.get(str(rec["value"]).rstrip(".").lower())
                if hit is None:
                    continue
                domain, kind = hit
                endpoints = spec.setdefault("api_endpoints", [])
                if any(e["domain"] == domain for e in endpoints):
                    continue
                endpoints.append(
                    {"domain": domain, "api_type": kind, "record": rec["set_identifier"]}
                )

    def _readiness(self, inv: Inventory, facts: Mapping[str, RegionFacts]) -> None:
        """What must be in each region before it takes over, as found there: the CodeCommit
        repository, the secrets (a replica is listed where it is) and the SSM parameters.
        A templates bucket and a repository's mirror are choices no AWS fact shows: the
        file's ``readiness.templates`` and ``code_repository.mirror`` are yours to add."""
        for region, spec in self.regions.items():
            ready: dict[str, Any] = {}
            repos = sorted(inv.repositories.get(region, ()))
            if len(repos) == 1:
                ready["code_repository"] = {"name": repos[0]}
            elif repos:
                self.note(
                    ("regions", region),
                    f"{len(repos)} CodeCommit repositories in {region} belong to the "
                    f"application ({', '.join(repos)}): readiness names one (its mirror "
                    "under code_repository.mirror); none is written",
                )
            if inv.secrets.get(region):
                ready["secrets"] = sorted(inv.secrets[region])
            found = facts.get(region)
            if found is not None and found.parameters:
                ready["ssm_parameters"] = list(found.parameters)
            if ready:
                spec["readiness"] = ready


REGION_ORDER = (
    "traffic",
    "aurora",
    "dynamodb_tables",
    "s3_buckets",
    "compute",
    "global_accelerator",
    "elasticache",
    "api_endpoints",
    "readiness",
)
_TRAFFIC_ORDER = ("drain_lever", "routing_controls", "health_checks", "records")


def _distribution(summary: Mapping[str, Any]) -> dict[str, Any]:
    """A distribution's topology entry: named by its comment (else its id), found again by
    its first alternate domain name (else its id)."""
    dist_id = str(summary["Id"])
    comment = str(summary.get("Comment") or "").strip()
    aliases = summary.get("Aliases", {}).get("Items", [])
    out: dict[str, Any] = {"name": comment if 0 < len(comment) <= 255 else dist_id}
    if aliases:
        out["alias"] = str(aliases[0])
    else:
        out["id"] = dist_id
    return out


def _ordered_region(spec: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: spec[k] for k in REGION_ORDER if k in spec}
    if "traffic" in out:
        out["traffic"] = {k: out["traffic"][k] for k in _TRAFFIC_ORDER if k in out["traffic"]}
    return out


__all__ = [
    "CONTROL_PLANE_REGION",
    "DiscoverRequest",
    "Discovery",
    "Inventory",
    "Note",
    "add_arn",
    "add_stack_resource",
    "discover",
]
