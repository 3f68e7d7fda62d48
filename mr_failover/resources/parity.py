"""Parity across regions: is the standby the same application as the region it replaces?

The classic failed failover is a standby that runs another version, another size or
another schema. For each kind of resource the topology names (ECS services, Lambda
functions, Auto Scaling groups, DynamoDB tables, the Aurora cluster), each region reads
what must match (:func:`observe_parity`), and the judgement compares every region with
the **reference region**: the topology's ``primary_region`` when it was read, else the
first declared region that was. A difference is a :class:`Mismatch` reported on the
region that differs; a blocking rule makes it unable to take over, the others are
warnings. docs/PARITY.md lists the rules, why each matters, and which block.

Resources are paired across regions by name (ECS ``cluster/service``, function, table),
and what has a different name in each region (Auto Scaling groups, Aurora clusters) by
its position among the unpaired ones of its kind. A resource one region lacks is the
compute or data section's finding (not found), not a parity mismatch.

A rule is silenced for one resource with ``parity.ignore`` in the topology (a reason is
required); a silenced mismatch stays in the JSON with its reason, and blocks nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mr_failover.aws import call, call_error, error_code
from mr_failover.resources.apigateway import api_clients, observe_endpoint
from mr_failover.resources.compute import describe_groups
from mr_failover.resources.section import (
    Cell,
    ErrorKind,
    Judgement,
    Read,
    ReadContext,
    RegionStatus,
    RegionView,
    Section,
)
from mr_failover.topology import PARITY_RULES

if TYPE_CHECKING:
    from mr_failover.aws import ClientSource
    from mr_failover.topology import Region, Topology

# Rules whose mismatch stops the region taking over; the others are warnings
# (docs/PARITY.md says why for each).
BLOCKING: frozenset[str] = frozenset(
    {
        "ecs.family",
        "ecs.images",
        "ecs.cpu",
        "ecs.memory",
        "lambda.code",
        "lambda.runtime",
        "lambda.memory",
        "lambda.timeout",
        "lambda.reserved_concurrency",
        "lambda.environment",
        "asg.instance_types",
        "asg.max_size",
        "dynamodb.billing_mode",
        "dynamodb.capacity",
        "dynamodb.indexes",
        "dynamodb.stream",
        "aurora.instance_classes",
        "aurora.parameter_group_family",
        "api.throttling",
        "api.certificate_domains",
        "secret.value",
        "ssm.value",
    }
)
# Rules on secret values: compared by a keyed hash (a key new in each process), never
# shown, not even hashed.
HIDDEN: frozenset[str] = frozenset({"secret.value", "ssm.value"})
assert set(PARITY_RULES) >= BLOCKING

# What each rule is called in a sentence.
LABELS: dict[str, str] = {
    "ecs.family": "task definition family",
    "ecs.revision": "task definition revision",
    "ecs.images": "container images",
    "ecs.cpu": "task CPU units",
    "ecs.memory": "task memory (MiB)",
    "lambda.code": "code (CodeSha256)",
    "lambda.runtime": "runtime",
    "lambda.memory": "memory (MB)",
    "lambda.timeout": "timeout (s)",
    "lambda.reserved_concurrency": "reserved concurrency",
    "lambda.environment": "environment variable names",
    "asg.launch_template": "launch template",
    "asg.launch_template_version": "launch template version",
    "asg.instance_types": "instance types",
    "asg.max_size": "MaxSize",
    "dynamodb.billing_mode": "billing mode",
    "dynamodb.capacity": "provisioned capacity",
    "dynamodb.indexes": "indexes",
    "dynamodb.stream": "stream",
    "aurora.instance_classes": "instance classes",
    "aurora.instance_count": "instance count",
    "aurora.parameter_group_family": "parameter group family",
    "api.stage": "mapped stage",
    "api.throttling": "stage throttling (rate/burst)",
    "api.certificate_domains": "certificate domain names",
    "secret.value": "value",
    "ssm.value": "value",
}
assert set(LABELS) == set(PARITY_RULES)

# An ECR image names its registry's region; the same image pushed to each region's
# registry (ECR replication) is the same application: compare what follows the host.
_ECR_HOST = re.compile(r"^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/")


def image_name(image: str) -> str:
    """``repo:tag`` (or ``repo@digest``) of an ECR image whatever its region; other
    images as written."""
    return _ECR_HOST.sub("", image)


@dataclass(frozen=True)
class ResourceFacts:
    """One resource as read in one region: the value of each rule, as text."""

    kind: str  # ecs, lambda, asg, dynamodb, aurora
    name: str  # as the topology names it in this region
    found: bool
    values: Mapping[str, str] = field(default_factory=dict)  # rule -> value
    # Numbers some rules compare by size, not equality (Auto Scaling: MaxSize, desired).
    numbers: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Mismatch:
    rule: str
    kind: str
    resource: str  # the name in the region that differs
    region: str
    value: str
    reference_region: str
    reference_resource: str
    reference_value: str
    blocking: bool
    ignored: str | None = None  # the topology's reason, when silenced

    def sentence(self) -> str:
        label = LABELS[self.rule]
        other = (
            self.reference_region
            if self.reference_resource == self.resource
            else f"{self.reference_region} ({self.reference_resource})"
        )
        if self.rule in HIDDEN:
            return (
                f"{self.kind} {self.resource}: value differs from {other}'s "
                f"(compared by hash, not shown) [{self.rule}]"
            )
        if self.rule == "asg.max_size":
            return (
                f"{self.kind} {self.resource}: MaxSize {self.value} is below the "
                f"{self.reference_value} instances {other} runs now [{self.rule}]"
            )
        return (
            f"{self.kind} {self.resource}: {label} {self.value}, {other} has "
            f"{self.reference_value} [{self.rule}]"
        )


@dataclass(frozen=True)
class ParityStatus:
    reference: str | None  # the region compared against (None: nothing to compare)
    resources: tuple[ResourceFacts, ...]
    mismatches: tuple[Mismatch, ...] = ()

    @property
    def blocking(self) -> tuple[Mismatch, ...]:
        return tuple(m for m in self.mismatches if m.blocking and m.ignored is None)


# --- reads --------------------------------------------------------------------------------


def _joined(values: Sequence[str]) -> str:
    return ",".join(sorted(values)) or "none"


def observe_ecs(client: Any, region: Region) -> list[ResourceFacts]:
    """Each ECS service's task definition: family, revision, images, CPU and memory."""
    out: list[ResourceFacts] = []
    by_cluster: dict[str, list[str]] = {}
    for spec in region.compute.ecs_services:
        by_cluster.setdefault(spec.cluster, []).append(spec.service)
    for cluster, names in by_cluster.items():
        seen: dict[str, dict[str, Any]] = {}
        for start in range(0, len(names), 10):  # DescribeServices takes 10 names
            answer = call(
                client, "describe_services", cluster=cluster, services=names[start : start + 10]
            )
            for svc in answer.get("services", []):
                if svc.get("status") != "INACTIVE":
                    seen[svc["serviceName"]] = svc
        for name in names:
            svc = seen.get(name)
            if svc is None or not svc.get("taskDefinition"):
                out.append(ResourceFacts("ecs", f"{cluster}/{name}", False))
                continue
            task = call(client, "describe_task_definition", taskDefinition=svc["taskDefinition"])
            td = task.get("taskDefinition", {})
            containers = td.get("containerDefinitions", [])
            images = [image_name(str(c.get("image", ""))) for c in containers]
            out.append(
                ResourceFacts(
                    "ecs",
                    f"{cluster}/{name}",
                    True,
                    {
                        "ecs.family": str(td.get("family", "")),
                        "ecs.revision": str(td.get("revision", "")),
                        "ecs.images": _joined(images),
                        "ecs.cpu": str(td.get("cpu", "none")),
                        "ecs.memory": str(td.get("memory", "none")),
                    },
                )
            )
    return out


def observe_functions(client: Any, region: Region) -> list[ResourceFacts]:
    """Each Lambda function's code hash, runtime, memory, timeout, reserved concurrency
    and environment variable names (never their values)."""
    out: list[ResourceFacts] = []
    for spec in region.compute.lambda_functions:
        try:
            answer = client.get_function(FunctionName=spec.name)
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                out.append(ResourceFacts("lambda", spec.name, False))
                continue
            raise call_error(client, "get_function", exc) from None
        config = answer.get("Configuration", {})
        reserved = answer.get("Concurrency", {}).get("ReservedConcurrentExecutions")
        variables = config.get("Environment", {}).get("Variables", {}) or {}
        out.append(
            ResourceFacts(
                "lambda",
                spec.name,
                True,
                {
                    "lambda.code": str(config.get("CodeSha256", "")),
                    "lambda.runtime": str(config.get("Runtime", "image")),
                    "lambda.memory": str(config.get("MemorySize", "")),
                    "lambda.timeout": str(config.get("Timeout", "")),
                    "lambda.reserved_concurrency": "none" if reserved is None else str(reserved),
                    "lambda.environment": _joined(list(variables)),
                },
            )
        )
    return out


def observe_groups(autoscaling: Any, ec2: Any, region: Region) -> list[ResourceFacts]:
    """Each Auto Scaling group's launch template (name, version), instance types, sizes."""
    specs = region.compute.autoscaling_groups
    seen = describe_groups(autoscaling, [s.name for s in specs])
    out: list[ResourceFacts] = []
    for spec in specs:
        g = seen.get(spec.name)
        if g is None:
            out.append(ResourceFacts("asg", spec.name, False))
            continue
        template, version, types = group_template(ec2, g)
        out.append(
            ResourceFacts(
                "asg",
                spec.name,
                True,
                {
                    "asg.launch_template": template,
                    "asg.launch_template_version": version,
                    "asg.instance_types": _joined(types),
                },
                {"max_size": int(g.get("MaxSize", 0)), "desired": int(g.get("DesiredCapacity", 0))},
            )
        )
    return out


def group_template(ec2: Any, group: Mapping[str, Any]) -> tuple[str, str, list[str]]:
    """A group's launch template name, the version it asks for, and its instance types
    (the mixed instances policy's overrides, else the template version's type)."""
    spec = group.get("LaunchTemplate")
    mixed = group.get("MixedInstancesPolicy", {}).get("LaunchTemplate", {})
    if spec is None:
        spec = mixed.get("LaunchTemplateSpecification")
    if spec is None:
        config = group.get("LaunchConfigurationName", "")
        return f"launch configuration {config}", "-", []
    name = str(spec.get("LaunchTemplateName") or spec.get("LaunchTemplateId") or "")
    version = str(spec.get("Version") or "$Default")
    types = [str(o["InstanceType"]) for o in mixed.get("Overrides", []) if o.get("InstanceType")]
    if not types:
        request: dict[str, Any] = {"Versions": [version]}
        if spec.get("LaunchTemplateId"):
            request["LaunchTemplateId"] = spec["LaunchTemplateId"]
        else:
            request["LaunchTemplateName"] = name
        answer = call(ec2, "describe_launch_template_versions", **request)
        for v in answer.get("LaunchTemplateVersions", []):
            kind = v.get("LaunchTemplateData", {}).get("InstanceType")
            if kind:
                types.append(str(kind))
    return name, version, types


def observe_tables(client: Any, region: Region) -> list[ResourceFacts]:
    """Each DynamoDB table's billing mode, capacity, indexes and stream."""
    out: list[ResourceFacts] = []
    for name in region.dynamodb_tables:
        try:
            t = client.describe_table(TableName=name)["Table"]
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                out.append(ResourceFacts("dynamodb", name, False))
                continue
            raise call_error(client, "describe_table", exc) from None
        mode = str(t.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED"))
        capacity = "on-demand"
        if mode == "PROVISIONED":
            pt = t.get("ProvisionedThroughput", {})
            capacity = f"{pt.get('ReadCapacityUnits', 0)} RCU/{pt.get('WriteCapacityUnits', 0)} WCU"
        indexes = [f"global:{i['IndexName']}" for i in t.get("GlobalSecondaryIndexes", [])]
        indexes += [f"local:{i['IndexName']}" for i in t.get("LocalSecondaryIndexes", [])]
        stream = t.get("StreamSpecification", {})
        out.append(
            ResourceFacts(
                "dynamodb",
                name,
                True,
                {
                    "dynamodb.billing_mode": mode,
                    "dynamodb.capacity": capacity,
                    "dynamodb.indexes": _joined(indexes),
                    "dynamodb.stream": str(stream.get("StreamViewType", "on"))
                    if stream.get("StreamEnabled")
                    else "off",
                },
            )
        )
    return out


def observe_aurora(client: Any, region: Region) -> list[ResourceFacts]:
    """The Aurora cluster's instance classes and count, and its parameter group family."""
    if region.aurora is None:
        return []
    name = region.aurora.cluster
    try:
        clusters = client.describe_db_clusters(DBClusterIdentifier=name).get("DBClusters", [])
    except Exception as exc:
        if error_code(exc) == "DBClusterNotFoundFault":
            return [ResourceFacts("aurora", name, False)]
        raise call_error(client, "describe_db_clusters", exc) from None
    if not clusters:
        return [ResourceFacts("aurora", name, False)]
    cluster = clusters[0]
    instances = call(
        client,
        "describe_db_instances",
        Filters=[{"Name": "db-cluster-id", "Values": [name]}],
    ).get("DBInstances", [])
    classes = [str(i.get("DBInstanceClass", "")) for i in instances]
    family = "unknown"
    group = cluster.get("DBClusterParameterGroup")
    if group:
        family = _group_family(client, str(group))
    return [
        ResourceFacts(
            "aurora",
            name,
            True,
            {
                "aurora.instance_classes": _joined(sorted(set(classes))),
                "aurora.instance_count": str(len(instances)),
                "aurora.parameter_group_family": family,
            },
        )
    ]


def _group_family(client: Any, group: str) -> str:
    """A cluster parameter group's family (``aurora-mysql8.0``)."""
    try:
        groups = client.describe_db_cluster_parameter_groups(DBClusterParameterGroupName=group)
    except Exception as exc:
        # A default group is named default.<family> ("Working with parameter groups",
        # Amazon Aurora User Guide, https://docs.aws.amazon.com/AmazonRDS/latest/
        # AuroraUserGuide/USER_WorkingWithParamGroups.html); one that cannot be described
        # (moto does not create the defaults) still names its family.
        if error_code(exc) == "DBParameterGroupNotFound" and group.startswith("default."):
            return group.removeprefix("default.")
        raise call_error(client, "describe_db_cluster_parameter_groups", exc) from None
    found = groups.get("DBClusterParameterGroups", [])
    return str(found[0].get("DBParameterGroupFamily", "unknown")) if found else "unknown"


_HASH_KEY = secrets.token_bytes(32)


def digest(value: str | bytes) -> str:
    """A keyed hash of a secret value: equal values compare equal within this process;
    the key is never kept, so the hash says nothing outside it."""
    data = value.encode() if isinstance(value, str) else value
    return hmac.new(_HASH_KEY, data, hashlib.sha256).hexdigest()


def observe_secrets(client: Any, region: Region) -> list[ResourceFacts]:
    """Each declared Secrets Manager secret's value, as a keyed hash."""
    out: list[ResourceFacts] = []
    for name in region.readiness.secrets:
        try:
            answer = client.get_secret_value(SecretId=name)
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                out.append(ResourceFacts("secret", name, False))
                continue
            raise call_error(client, "get_secret_value", exc) from None
        value = answer.get("SecretString")
        if value is None:
            value = answer.get("SecretBinary", b"")
        out.append(ResourceFacts("secret", name, True, {"secret.value": digest(value)}))
    return out


def observe_parameters(client: Any, region: Region) -> list[ResourceFacts]:
    """Each declared SSM parameter's type and value, as a keyed hash (decrypted first, so
    SecureStrings compare by their plaintext)."""
    names = list(region.readiness.ssm_parameters)
    seen: dict[str, dict[str, Any]] = {}
    for start in range(0, len(names), 10):  # GetParameters takes 10 names
        batch = names[start : start + 10]
        answer = call(client, "get_parameters", Names=batch, WithDecryption=True)
        for parameter in answer.get("Parameters", []):
            seen[str(parameter["Name"])] = parameter
    out: list[ResourceFacts] = []
    for name in names:
        found = seen.get(name)
        if found is None:
            out.append(ResourceFacts("ssm", name, False))
            continue
        typed = f"{found.get('Type', '')}:{found.get('Value', '')}"
        out.append(ResourceFacts("ssm", name, True, {"ssm.value": digest(typed)}))
    return out


def observe_api_endpoints(factory: ClientSource, region: str, spec: Region) -> list[ResourceFacts]:
    """Each API endpoint's mapped stage, the stage's throttling, and the certificate's
    domain names."""
    apigw, acm, v2 = api_clients(factory, region, spec)
    out: list[ResourceFacts] = []
    for api in spec.api_endpoints:
        found = observe_endpoint(apigw, acm, api, apigwv2=v2)
        if not found.found:
            out.append(ResourceFacts("api", api.domain, False))
            continue
        mapping = found.mapping(api.base_path, api.api_id)
        stage = mapping.stage if mapping is not None else None
        throttling = "none"
        if mapping is not None and stage:
            if api.api_type == "http":
                assert v2 is not None
                throttling = _http_throttling(v2, mapping.api_id, stage)
            else:
                throttling = _rest_throttling(apigw, mapping.api_id, stage)
        names = "none"
        if found.certificate is not None:
            cert = call(acm, "describe_certificate", CertificateArn=found.certificate.arn)
            c = cert.get("Certificate", {})
            names = _joined(
                list({str(c.get("DomainName", "")), *c.get("SubjectAlternativeNames", [])} - {""})
            )
        out.append(
            ResourceFacts(
                "api",
                api.domain,
                True,
                {
                    "api.stage": stage or "none",
                    "api.throttling": throttling,
                    "api.certificate_domains": names,
                },
            )
        )
    return out


def _rest_throttling(client: Any, api_id: str, stage: str) -> str:
    """The stage's default method throttling (``*/*``), rate/burst; "account" when unset
    (the account-level limits apply)."""
    s = call(client, "get_stage", restApiId=api_id, stageName=stage)
    settings = s.get("methodSettings", {}).get("*/*", {})
    rate, burst = settings.get("throttlingRateLimit"), settings.get("throttlingBurstLimit")
    return "account" if rate is None and burst is None else f"{rate}/{burst}"


def _http_throttling(client: Any, api_id: str, stage: str) -> str:
    s = call(client, "get_stage", ApiId=api_id, StageName=stage)
    settings = s.get("DefaultRouteSettings", {})
    rate, burst = settings.get("ThrottlingRateLimit"), settings.get("ThrottlingBurstLimit")
    return "account" if rate is None and burst is None else f"{rate}/{burst}"


# One read per kind of resource, run concurrently like every other read: a region's
# parity is a dozen calls or more, which in a row could outlast the status deadline.
KINDS = ("ecs", "lambda", "asg", "dynamodb", "aurora", "api", "secret", "ssm")
READ_KEYS = frozenset(f"parity:{kind}" for kind in KINDS)


def parity_reads(
    factory: ClientSource, region: str, spec: Region
) -> list[tuple[str, Callable[[], list[ResourceFacts]]]]:
    """(read key, read) for each kind of resource the region declares."""
    c = spec.compute
    found: dict[str, Callable[[], list[ResourceFacts]]] = {}
    if c.ecs_services:
        found["ecs"] = lambda: observe_ecs(factory.client("ecs", region), spec)
    if c.lambda_functions:
        found["lambda"] = lambda: observe_functions(factory.client("lambda", region), spec)
    if c.autoscaling_groups:
        found["asg"] = lambda: observe_groups(
            factory.client("autoscaling", region), factory.client("ec2", region), spec
        )
    if spec.dynamodb_tables:
        found["dynamodb"] = lambda: observe_tables(factory.client("dynamodb", region), spec)
    if spec.aurora is not None:
        found["aurora"] = lambda: observe_aurora(factory.client("rds", region), spec)
    if spec.api_endpoints:
        found["api"] = lambda: observe_api_endpoints(factory, region, spec)
    if spec.readiness.secrets:
        found["secret"] = lambda: observe_secrets(factory.client("secretsmanager", region), spec)
    if spec.readiness.ssm_parameters:
        found["ssm"] = lambda: observe_parameters(factory.client("ssm", region), spec)
    return [(f"parity:{kind}", fn) for kind, fn in found.items()]


def gathered(reads: Mapping[str, object]) -> tuple[ResourceFacts, ...] | None:
    """A region's resources from its parity reads that answered (None: none did)."""
    out: list[ResourceFacts] = []
    answered = False
    for kind in KINDS:
        part = reads.get(f"parity:{kind}")
        if isinstance(part, list):
            answered = True
            out += [f for f in part if isinstance(f, ResourceFacts)]
    return tuple(out) if answered else None


def declares_any(spec: Region) -> bool:
    c = spec.compute
    return bool(
        c.ecs_services
        or c.lambda_functions
        or c.autoscaling_groups
        or spec.dynamodb_tables
        or spec.aurora
        or spec.api_endpoints
        or spec.readiness.secrets
        or spec.readiness.ssm_parameters
    )


# --- comparison ---------------------------------------------------------------------------


def pair(
    mine: Sequence[ResourceFacts], theirs: Sequence[ResourceFacts]
) -> list[tuple[ResourceFacts, ResourceFacts]]:
    """Pairs of the same resource: same kind and name, then by position among the rest."""
    pairs: list[tuple[ResourceFacts, ResourceFacts]] = []
    for kind in dict.fromkeys(r.kind for r in mine):
        a = [r for r in mine if r.kind == kind]
        b = [r for r in theirs if r.kind == kind]
        names_b = {r.name for r in b}
        names_a = {r.name for r in a}
        pairs += [(r, next(o for o in b if o.name == r.name)) for r in a if r.name in names_b]
        rest_a = [r for r in a if r.name not in names_b]
        rest_b = [r for r in b if r.name not in names_a]
        pairs += list(zip(rest_a, rest_b, strict=False))
    return pairs


def _generic(value: str, resource: str, region: str) -> str:
    """A value with its own resource's name and its region's code taken out: groups
    named per region (web-use1, web-usw2) have templates named the same way."""
    return value.replace(resource, "{resource}").replace(region, "{region}")


Silencer = Callable[[str, str, str], str | None]


def compare(
    region: str,
    mine: Sequence[ResourceFacts],
    reference: str,
    theirs: Sequence[ResourceFacts],
    silenced: Silencer = lambda rule, resource, region: None,
) -> list[Mismatch]:
    """Every rule on which ``region``'s resources differ from ``reference``'s."""
    out: list[Mismatch] = []
    for a, b in pair(mine, theirs):
        if not (a.found and b.found):
            continue
        for rule in PARITY_RULES:
            if PARITY_RULES[rule] != a.kind:
                continue
            if rule == "asg.max_size":
                ours, load = a.numbers.get("max_size"), b.numbers.get("desired")
                if ours is None or load is None or ours >= load:
                    continue
                value, ref_value = str(ours), str(load)
            else:
                if rule not in a.values or rule not in b.values:
                    continue
                value, ref_value = a.values[rule], b.values[rule]
                if value == ref_value or (
                    rule not in HIDDEN
                    and _generic(value, a.name, region) == _generic(ref_value, b.name, reference)
                ):
                    continue
            if rule in HIDDEN:
                value, ref_value = "(hash differs)", "(not shown)"
            reason = silenced(rule, a.name, region) or silenced(rule, b.name, region)
            out.append(
                Mismatch(
                    rule=rule,
                    kind=a.kind,
                    resource=a.name,
                    region=region,
                    value=value,
                    reference_region=reference,
                    reference_resource=b.name,
                    reference_value=ref_value,
                    blocking=rule in BLOCKING,
                    ignored=reason,
                )
            )
    return out


def silencer(topology: Topology) -> Silencer:
    """The topology's ``parity.ignore`` as a lookup: the reason, or None."""
    entries = topology.parity.ignore if topology.parity else []

    def reason(rule: str, resource: str, region: str) -> str | None:
        for e in entries:
            if e.rule == rule and e.resource == resource and e.region in (None, region):
                return e.reason
        return None

    return reason


def reference_region(topology: Topology, found: Mapping[str, Mapping[str, object]]) -> str | None:
    """The primary region when it was read, else the first declared region that was."""
    read = [n for n in topology.regions if gathered(found.get(n, {})) is not None]
    if topology.primary_region in read:
        return topology.primary_region
    return read[0] if read else None


# --- the status section ------------------------------------------------------------------


def warn_unless_unreachable(
    what: str, key: str, exc: Exception, unreachable: bool
) -> tuple[ErrorKind, str]:
    """A check that could not be made is worth knowing, not an outage of the region."""
    if unreachable:
        return "unreachable", f"{key}: {exc}"
    return "warning", f"{what} not checked: {exc}"


class ParitySection(Section):
    name = "parity"
    title = "parity"
    layout = "line"
    counts_problems = True

    def reads(self, ctx: ReadContext) -> list[Read]:
        # Opt-in (topology ``parity:``): it reads what other sections read too, and
        # GetFunction needs a permission that also shows environment values.
        if ctx.topology.parity is None or not declares_any(ctx.spec):
            return []
        return [Read(key, fn) for key, fn in parity_reads(ctx.factory, ctx.region, ctx.spec)]

    def read_error(self, key: str, exc: Exception, unreachable: bool) -> tuple[ErrorKind, str]:
        return warn_unless_unreachable("parity", key, exc, unreachable)

    def assemble(
        self, topology: Topology, found: Mapping[str, Mapping[str, object]]
    ) -> dict[str, object]:
        return {"parity_reference": reference_region(topology, found)}

    def judge(self, view: RegionView) -> Judgement:
        mine = gathered(view.found.get(view.region, {}))
        if mine is None:
            return Judgement()
        given = view.facts.get("parity_reference")
        reference = given if isinstance(given, str) else None
        theirs = gathered(view.found.get(reference, {})) if reference else None
        if reference is None or reference == view.region or theirs is None:
            return Judgement(value=ParityStatus(reference, mine))
        found = compare(view.region, mine, reference, theirs, silencer(view.topology))
        reasons = [f"parity: {m.sentence()}" for m in found if m.blocking and m.ignored is None]
        warnings = [
            f"parity: {m.sentence()}" for m in found if not m.blocking and m.ignored is None
        ]
        return Judgement(reasons, warnings, value=ParityStatus(reference, mine, tuple(found)))

    def value_cell(self, p: ParityStatus, r: RegionStatus) -> Cell:
        if p.reference is None:
            return Cell("-")
        if p.reference == r.name:
            return Cell("reference", "dim")
        open_ = [m for m in p.mismatches if m.ignored is None]
        if not open_:
            return Cell(f"same as {p.reference}", "green")
        blocking = sum(1 for m in open_ if m.blocking)
        text = f"{len(open_)} mismatch{'es' if len(open_) > 1 else ''} with {p.reference}"
        if blocking:
            text += f" ({blocking} blocking)"
        return Cell(text, "red" if blocking else "yellow")

    def to_json(self, value: Any) -> Any:
        if value is None:
            return None
        p: ParityStatus = value
        return {
            "reference_region": p.reference,
            "resources": [
                {
                    "kind": r.kind,
                    "name": r.name,
                    "found": r.found,
                    "values": {k: "(hashed)" if k in HIDDEN else v for k, v in r.values.items()},
                }
                for r in p.resources
            ],
            "mismatches": [
                {
                    "rule": m.rule,
                    "kind": m.kind,
                    "resource": m.resource,
                    "value": m.value,
                    "reference_region": m.reference_region,
                    "reference_resource": m.reference_resource,
                    "reference_value": m.reference_value,
                    "blocking": m.blocking,
                    "ignored": m.ignored,
                }
                for m in p.mismatches
            ],
        }


SECTION = ParitySection()
