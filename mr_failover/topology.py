"""The region topology file: its model, its loader and its validation.

A topology names the application's account, its regions and, in each region, the
resources that matter for failover. Loading never calls AWS. Every problem found is
reported at once, each with ``file:line:column`` and the key path
(``regions.us-west-2.aurora.cluster``), as one :class:`ConfigError` (exit code 2).

Line numbers survive validation because the YAML is composed into nodes first and
built into plain Python values by :class:`_Builder`, which records the position of
every key path; pydantic's error locations are then looked up in that map.

Validation is single-phase as far as the user can see: YAML-level problems (duplicate
keys, unreadable values), shape problems (pydantic) and cross-field checks are all
collected before anything is reported. When the shape is wrong, the cross-field checks
run on the regions that did validate, and skip the checks that would need a region that
did not (so a broken region never causes a second, misleading error elsewhere).
"""

from __future__ import annotations

import datetime
import difflib
import io
import json
import os
import pickle
import sys
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from mr_failover import diskcache
from mr_failover.errors import ConfigError

# PyYAML is imported by the functions that parse a file: a run whose topology is read
# back from the cache (load) never parses one, and never imports it.
if TYPE_CHECKING:
    import yaml

MAX_FILE_BYTES = 1_000_000
# A YAML alias bomb is small on disk and huge once aliases are expanded; real
# topologies have a few hundred nodes.
MAX_NODES = 50_000
# Real topologies nest about eight levels; the limit keeps recursion (ours, PyYAML's and
# pydantic's) far from Python's stack limit whatever the file holds.
MAX_DEPTH = 32

SCHEMA_URL_COMMENT = "# yaml-language-server: $schema="

ACCOUNT_PATTERN = r"^\d{12}$"
ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$"
ACCELERATOR_ARN_PATTERN = r"^arn:aws[a-z-]*:globalaccelerator::\d{12}:accelerator/[^/]+$"
ENDPOINT_GROUP_ARN_PATTERN = (
    r"^arn:aws[a-z-]*:globalaccelerator::\d{12}:accelerator/[^/]+/listener/[^/]+"
    r"/endpoint-group/[^/]+$"
)
CERTIFICATE_ARN_PATTERN = r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/.+$"
ARC_CLUSTER_ARN_PATTERN = r"^arn:aws[a-z-]*:route53-recovery-control::\d{12}:cluster/[^/]+$"
ROUTING_CONTROL_ARN_PATTERN = (
    r"^arn:aws[a-z-]*:route53-recovery-control::\d{12}:controlpanel/[^/]+"
    r"/routingcontrol/[^/]+$"
)
# A cluster endpoint as DescribeCluster gives it (https); plain http for loopback tests.
ENDPOINT_URL_PATTERN = r"^https?://[^\s/?#]+(/[^\s?#]*)?$"
# Loose shape of a region code, for editors (the schema); the loader also checks the code
# against botocore's list, which the schema cannot do without going stale.
REGION_PATTERN = r"^[a-z]{2,4}(-[a-z]+)+-\d+$"

Name = Annotated[str, StringConstraints(min_length=1, max_length=255, strip_whitespace=True)]
AccountId = Annotated[str, StringConstraints(pattern=ACCOUNT_PATTERN)]
HttpUrl = Annotated[str, StringConstraints(pattern=r"^https?://\S+$")]
RoleArn = Annotated[str, StringConstraints(pattern=ROLE_ARN_PATTERN)]
AcceleratorArn = Annotated[str, StringConstraints(pattern=ACCELERATOR_ARN_PATTERN)]
EndpointGroupArn = Annotated[str, StringConstraints(pattern=ENDPOINT_GROUP_ARN_PATTERN)]
CertificateArn = Annotated[str, StringConstraints(pattern=CERTIFICATE_ARN_PATTERN)]
ArcClusterArn = Annotated[str, StringConstraints(pattern=ARC_CLUSTER_ARN_PATTERN)]
RoutingControlArn = Annotated[str, StringConstraints(pattern=ROUTING_CONTROL_ARN_PATTERN)]
EndpointUrl = Annotated[str, StringConstraints(pattern=ENDPOINT_URL_PATTERN)]


class _Model(BaseModel):
    # defer_build: a model's validator is built when a file is first validated, not at
    # import, so a run whose topology comes from the cache (load) never builds one.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)


# endpoints.json as known_regions() parsed it, until the clients' model loader takes it
# (mr_failover.aws): botocore would otherwise parse the 1.2 MB file a second time.
_SPARE_ENDPOINTS: list[dict[str, Any]] = []


@cache
def known_regions() -> frozenset[str]:
    """Every region botocore knows, read from its endpoint data (no client made)."""
    import botocore

    path = Path(botocore.__file__).parent / "data" / "endpoints.json"
    data = json.loads(path.read_bytes())
    regions = frozenset(r for p in data["partitions"] for r in p.get("regions", {}))
    _SPARE_ENDPOINTS.append(data)
    return regions


def take_endpoint_data() -> dict[str, Any] | None:
    """The endpoint data :func:`known_regions` parsed, to the first caller only.

    botocore adds to the endpoint data it is given (each endpoint gets its partition's
    defaults), so the dict is handed over once, never shared: a later caller parses the
    file itself.
    """
    try:
        return _SPARE_ENDPOINTS.pop()
    except IndexError:
        return None


def _check_region(value: str) -> str:
    if value not in known_regions():
        raise ValueError(_not_a_region(value))
    return value


def _not_a_region(value: str) -> str:
    # No guess for text with non-ASCII characters: 'us-east-\uff11' (a fullwidth digit)
    # looks like us-east-1 and would be "corrected" to a region that merely shares letters.
    close = (
        difflib.get_close_matches(value, sorted(known_regions()), n=1) if value.isascii() else []
    )
    hint = f"did you mean {close[0]}?" if close else "for example us-east-1"
    if not value.isascii():
        hint = "it has non-ASCII characters; type the code in ASCII, for example us-east-1"
    return f"{_clip(repr(value))} is not an AWS region code ({hint})"


RegionCode = Annotated[
    str, StringConstraints(pattern=REGION_PATTERN), AfterValidator(_check_region)
]


class Policy(_Model):
    """Recovery objectives the operations are judged against."""

    rpo_seconds: int = Field(ge=0, le=86_400, description="Most data loss accepted, seconds.")
    rto_seconds: int = Field(gt=0, le=86_400, description="Longest recovery accepted, seconds.")
    certificate_min_days: int = Field(
        default=30,
        ge=0,
        le=397,
        description="A certificate expiring within this many days stops its region taking over.",
    )


class LockLocation(_Model):
    """Where operators' lease lock lives: a DynamoDB table (conditional writes).

    With ``fallback_regions`` the table is a global table with replicas there, and the
    lock is taken in the first of ``region``, then the fallbacks, that answers: the lock
    must not depend on the one region that may be down.
    """

    table: Name = Field(description="DynamoDB table holding the lock item.")
    region: RegionCode = Field(description="Region of the lock table (tried first).")
    fallback_regions: list[RegionCode] = Field(
        default_factory=list,
        description="Regions with a replica of the lock table (a DynamoDB global table), "
        "tried in this order when the lock region does not answer.",
    )

    @model_validator(mode="after")
    def _distinct_regions(self) -> LockLocation:
        regions = self.regions()
        if len(set(regions)) != len(regions):
            raise ValueError("lock region and fallback_regions must all differ")
        return self

    def regions(self) -> list[str]:
        """Every lock region, in the order operators try them."""
        return [self.region, *self.fallback_regions]


class SharedJournal(_Model):
    """An S3 location where runs are journaled besides the local copy, for the team.

    Each journal record is one object ``<prefix><run id>/<sequence>.json``, written only if
    no object has that key (a conditional write), so two writers never lose an entry.
    """

    bucket: Name = Field(description="S3 bucket holding the team's run journals.")
    region: RegionCode = Field(description="Region of the bucket.")
    prefix: str = Field(
        default="mr-failover/runs/",
        max_length=200,
        pattern=r"^([A-Za-z0-9!_.*'()-]+/)*$",
        description="Key prefix, ending with '/' (or empty).",
    )


class Notifications(_Model):
    """Where mutating runs and drills post their start, failures and end."""

    sns_topic_arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$",
        description="SNS topic to publish to (published in the topic's region).",
    )
    webhook_url: HttpUrl | None = Field(
        default=None,
        description="Chat webhook (Slack-compatible): a JSON POST with a 'text' field.",
    )

    @model_validator(mode="after")
    def _somewhere(self) -> Notifications:
        if self.sns_topic_arn is None and self.webhook_url is None:
            raise ValueError("notifications need sns_topic_arn, webhook_url or both")
        return self


class Probes(_Model):
    """Application probes: what a client gets from the global URL and each region's URL.

    ``status`` shows each probe's result and latency; a region whose probe fails cannot
    take over; a drill's synthetic client calls ``global_url`` for the whole drill.
    """

    global_url: HttpUrl | None = Field(
        default=None,
        description="The URL clients use (through DNS): GET it, expect expect_status.",
    )
    regions: dict[RegionCode, HttpUrl] = Field(
        default_factory=dict, description="Each region's own URL, region code -> URL."
    )
    expect_status: int = Field(default=200, ge=100, le=599)
    region_header: str | None = Field(
        default=None,
        max_length=100,
        description="A response header that names the serving region (e.g. x-served-by).",
    )
    timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    client_rate: float = Field(
        default=4.0,
        gt=0,
        le=50,
        description="Requests a second the drill's synthetic client sends to global_url.",
    )


class HealthCheck(_Model):
    """A Route 53 health check watching this region's endpoint."""

    name: Name = Field(description="Label, unique in the file; the check's Name tag.")
    id: str | None = Field(
        default=None, description="Route 53 health check id; looked up by Name tag if omitted."
    )
    fqdn: str | None = Field(default=None, description="Endpoint host name checked.")
    port: int = Field(default=443, ge=1, le=65535)
    path: str = Field(default="/health")
    type: Literal["HTTPS", "HTTP", "TCP"] = "HTTPS"
    request_interval: Literal[10, 30] = 30
    failure_threshold: int = Field(default=3, ge=1, le=10)


class Record(_Model):
    """A Route 53 record that sends traffic to this region."""

    zone: Name = Field(description="Hosted zone name, for example example.com.")
    hosted_zone_id: str | None = Field(default=None, description="Looked up by zone if omitted.")
    private_zone: bool = Field(
        default=False,
        description=(
            "The record is in the private hosted zone named 'zone' (split-view DNS), not the "
            "public one; used only to look the zone up when hosted_zone_id is omitted."
        ),
    )
    name: Name = Field(description="Record name, for example api.example.com.")
    type: Literal["A", "AAAA", "CNAME"] = "CNAME"
    set_identifier: Name
    routing_policy: Literal["failover", "weighted", "latency"]
    failover: Literal["PRIMARY", "SECONDARY"] | None = None
    weight: int | None = Field(default=None, ge=0, le=255)
    ttl: int = Field(default=60, ge=0, le=172_800)
    value: Name = Field(description="Regional endpoint the record answers with.")
    health_check: Name | None = Field(
        default=None, description="Name of a health check of this region."
    )

    @model_validator(mode="after")
    def _policy_fields(self) -> Record:
        if self.routing_policy == "failover" and self.failover is None:
            raise ValueError("a failover record needs 'failover: PRIMARY' or 'SECONDARY'")
        if self.routing_policy == "weighted" and self.weight is None:
            raise ValueError("a weighted record needs 'weight'")
        if self.routing_policy != "failover" and self.failover is not None:
            raise ValueError("'failover' is only for routing_policy: failover")
        if self.routing_policy != "weighted" and self.weight is not None:
            raise ValueError("'weight' is only for routing_policy: weighted")
        return self


class Traffic(_Model):
    """How traffic reaches the region, and which lever drains it."""

    drain_lever: Literal["health_check_inversion", "weight", "traffic_dial", "routing_control"] = (
        Field(
            default="health_check_inversion",
            description=(
                "How drain moves traffic away: invert the health checks, weight 0, the "
                "Global Accelerator traffic dial to 0, or the Route 53 ARC routing "
                "controls OFF."
            ),
        )
    )
    health_checks: list[HealthCheck] = Field(default_factory=list)
    records: list[Record] = Field(default_factory=list)
    routing_controls: list[RoutingControlArn] = Field(
        default_factory=list,
        description=(
            "Route 53 ARC routing control ARNs of this region (ON: may take traffic); "
            "needs the top-level 'arc'."
        ),
    )


class Aurora(_Model):
    """The region's Aurora cluster: a global database member or a read replica."""

    cluster: Name = Field(description="DB cluster identifier in this region.")
    role: Literal["writer", "secondary"] = Field(
        description="Designed role: one writer in the file, the rest secondaries."
    )
    mode: Literal["global", "replica"] = Field(
        default="global",
        description="global: Aurora global database member; replica: cross-region read replica.",
    )
    global_cluster: Name | None = Field(default=None, description="Global cluster identifier.")
    engine: Literal["aurora-mysql", "aurora-postgresql"] = "aurora-mysql"
    engine_version: str | None = None

    @model_validator(mode="after")
    def _mode_fields(self) -> Aurora:
        if self.mode == "global" and self.global_cluster is None:
            raise ValueError("mode: global needs 'global_cluster'")
        if self.mode == "replica" and self.global_cluster is not None:
            raise ValueError("'global_cluster' is only for mode: global")
        return self


class ReplicationTarget(_Model):
    """Where a bucket replicates to: a bucket declared in another region of the file."""

    bucket: Name = Field(description="Destination bucket, declared in `region`.")
    region: RegionCode = Field(description="Destination region, declared in this file.")


class Bucket(_Model):
    """An S3 bucket of this region, and its cross-region replication."""

    name: Name = Field(description="Bucket name, unique in the file.")
    replicate_to: list[ReplicationTarget] = Field(default_factory=list)
    replication_role_arn: RoleArn | None = Field(
        default=None, description="IAM role S3 uses to replicate."
    )
    rtc: bool = Field(default=False, description="Replication Time Control expected on.")


class EcsService(_Model):
    """An ECS service that must run here to serve traffic."""

    cluster: Name
    service: Name
    takeover_desired: int | None = Field(
        default=None, ge=0, description="Desired count to scale to when taking over."
    )


class AutoScalingGroup(_Model):
    """An Auto Scaling group that must run here to serve traffic."""

    name: Name
    takeover_desired: int | None = Field(default=None, ge=0)


class LambdaFunction(_Model):
    """A Lambda function that must exist here."""

    name: Name


class Compute(_Model):
    """Regional compute checked for takeover capacity."""

    ecs_services: list[EcsService] = Field(default_factory=list)
    autoscaling_groups: list[AutoScalingGroup] = Field(default_factory=list)
    lambda_functions: list[LambdaFunction] = Field(default_factory=list)


class AcceleratorEndpointGroup(_Model):
    """This region's endpoint group of the topology's Global Accelerator."""

    endpoint_group_arn: EndpointGroupArn | None = Field(
        default=None,
        description="Endpoint group ARN; found among the accelerator's listeners if omitted.",
    )
    traffic_dial: int = Field(
        default=100, ge=0, le=100, description="Traffic dial percentage in steady state."
    )


class ElastiCache(_Model):
    """This region's member of an ElastiCache Global Datastore."""

    global_datastore: Name = Field(
        description="Global replication group id (AWS prefixes the name you chose)."
    )
    replication_group: Name = Field(description="Replication group id in this region.")
    role: Literal["primary", "secondary"] = Field(
        description="Designed role: one primary in the file, the rest secondaries."
    )


class ApiEndpoint(_Model):
    """A regional API Gateway custom domain serving the application in this region."""

    domain: Name = Field(description="Custom domain name, for example api.example.com.")
    api_type: Literal["rest", "http"] = Field(
        default="rest", description="rest: API Gateway REST API; http: HTTP API (v2)."
    )
    api_id: Name | None = Field(
        default=None, description="API the base path mapping must point at; any if omitted."
    )
    base_path: str = Field(
        default="", max_length=255, description="Mapped base path; empty for the root."
    )
    certificate_arn: CertificateArn | None = Field(
        default=None,
        description="ACM certificate expected on the domain; the attached one if omitted.",
    )
    record: Name | None = Field(
        default=None,
        description=(
            "set_identifier of this region's traffic record that must point at the "
            "domain's regional domain name."
        ),
    )


class TemplatesBucket(_Model):
    """The bucket holding deployment templates, replicated into this region."""

    bucket: Name = Field(description="The templates bucket in this region.")
    source_bucket: Name = Field(description="The bucket templates are published to.")
    source_region: RegionCode = Field(description="Region of source_bucket, declared here.")
    prefix: str = Field(default="", max_length=1024, description="Only keys under this prefix.")


class CodeMirror(_Model):
    """A CodeCommit repository that stands in for the code repository."""

    name: Name
    region: RegionCode | None = Field(default=None, description="This region if omitted.")


class CodeRepository(_Model):
    """The CodeCommit repository the application is deployed from."""

    name: Name = Field(description="Repository expected in this region.")
    mirror: CodeMirror | None = Field(
        default=None, description="A mirror that is enough when the repository is absent."
    )


class Readiness(_Model):
    """What is easy to forget: templates, code, secrets and parameters in this region."""

    templates: TemplatesBucket | None = None
    code_repository: CodeRepository | None = None
    secrets: list[Name] = Field(
        default_factory=list,
        description="Secrets Manager secrets (names) that must be replicated here, InSync.",
    )
    ssm_parameters: list[Name] = Field(
        default_factory=list, description="SSM parameter names that must exist here."
    )


class Region(_Model):
    """Everything that must be ready for this region to take over."""

    profile: Name | None = Field(default=None, description="AWS profile for this region.")
    role_arn: RoleArn | None = Field(default=None, description="Role to assume for this region.")
    traffic: Traffic = Field(default_factory=Traffic)
    aurora: Aurora | None = None
    dynamodb_tables: list[Name] = Field(
        default_factory=list, description="DynamoDB global tables with a replica here."
    )
    s3_buckets: list[Bucket] = Field(default_factory=list)
    compute: Compute = Field(default_factory=Compute)
    global_accelerator: AcceleratorEndpointGroup | None = None
    elasticache: ElastiCache | None = None
    api_endpoints: list[ApiEndpoint] = Field(default_factory=list)
    readiness: Readiness = Field(default_factory=Readiness)


class GlobalAccelerator(_Model):
    """The application's Global Accelerator; its API is served from us-west-2 only."""

    name: Name | None = Field(default=None, description="Accelerator name (looked up).")
    arn: AcceleratorArn | None = Field(default=None, description="Accelerator ARN.")

    @model_validator(mode="after")
    def _named(self) -> GlobalAccelerator:
        if self.name is None and self.arn is None:
            raise ValueError("global_accelerator needs 'arn' or 'name'")
        return self


class ArcEndpoint(_Model):
    """One of an ARC cluster's regional data-plane endpoints."""

    region: RegionCode = Field(
        description="Region the endpoint is in (requests are signed for it)."
    )
    url: EndpointUrl = Field(description="Endpoint URL, as DescribeCluster gives it.")


class Arc(_Model):
    """The Route 53 ARC cluster that serves the routing controls' data plane."""

    cluster_arn: ArcClusterArn = Field(description="ARN of the ARC cluster.")
    endpoints: list[ArcEndpoint] = Field(
        default_factory=list,
        description=(
            "The cluster's regional endpoints (five); read once with DescribeCluster "
            "(us-west-2) and cached when empty. `mr-failover arc endpoints` prints them."
        ),
    )


class Distribution(_Model):
    """A CloudFront distribution whose origin groups fail over between regions."""

    name: Name = Field(description="Label, unique in the file.")
    id: Name | None = Field(default=None, description="Distribution id, like E2QWRUHAPOMQZL.")
    alias: Name | None = Field(
        default=None, description="An alternate domain name (CNAME) that finds it if id is omitted."
    )
    origin_groups: list[Name] = Field(
        default_factory=list, description="Origin group ids to check; every group if empty."
    )

    @model_validator(mode="after")
    def _findable(self) -> Distribution:
        if self.id is None and self.alias is None:
            raise ValueError("a distribution needs 'id' or 'alias'")
        return self


# Parity rules (docs/PARITY.md): what must match across regions, by kind of resource.
# The rule ids live here so that the topology can silence them (``parity.ignore``);
# resources/parity.py compares them.
PARITY_RULES: dict[str, str] = {
    "ecs.family": "ecs",
    "ecs.revision": "ecs",
    "ecs.images": "ecs",
    "ecs.cpu": "ecs",
    "ecs.memory": "ecs",
    "lambda.code": "lambda",
    "lambda.runtime": "lambda",
    "lambda.memory": "lambda",
    "lambda.timeout": "lambda",
    "lambda.reserved_concurrency": "lambda",
    "lambda.environment": "lambda",
    "asg.launch_template": "asg",
    "asg.launch_template_version": "asg",
    "asg.instance_types": "asg",
    "asg.max_size": "asg",
    "dynamodb.billing_mode": "dynamodb",
    "dynamodb.capacity": "dynamodb",
    "dynamodb.indexes": "dynamodb",
    "dynamodb.stream": "dynamodb",
    "aurora.instance_classes": "aurora",
    "aurora.instance_count": "aurora",
    "aurora.parameter_group_family": "aurora",
    "api.stage": "api",
    "api.throttling": "api",
    "api.certificate_domains": "api",
    "secret.value": "secret",
    "ssm.value": "ssm",
}


def _check_rule(value: str) -> str:
    if value not in PARITY_RULES:
        close = difflib.get_close_matches(value, list(PARITY_RULES), n=1)
        hint = f"did you mean {close[0]!r}?" if close else "docs/PARITY.md lists them"
        raise ValueError(f"{_clip(repr(value))} is not a parity rule ({hint})")
    return value


ParityRule = Annotated[str, AfterValidator(_check_rule)]


Reason = Annotated[str, StringConstraints(min_length=3, max_length=500, strip_whitespace=True)]


class ParityIgnore(_Model):
    """One parity rule silenced for one resource, with the reason it may differ."""

    rule: ParityRule = Field(
        description="The rule, as docs/PARITY.md names it.",
        json_schema_extra={"enum": list(PARITY_RULES)},
    )
    resource: Name = Field(
        description=(
            "The resource as the topology names it in any region: 'cluster/service' for "
            "ECS, the function, group, table, Aurora cluster, API domain, secret or "
            "SSM parameter name."
        )
    )
    region: RegionCode | None = Field(
        default=None, description="Only in this region; every region if omitted."
    )
    reason: Reason = Field(description="Why this difference is fine (shown in the report).")


QuotaService = Literal["fargate", "ec2", "lambda"]


class Capacity(_Model):
    """Quota headroom for the take-over (docs/PARITY.md): status reads it when present."""

    quotas: list[QuotaService] = Field(
        default_factory=lambda: list(get_args(QuotaService)),
        description=(
            "Service Quotas to check: Fargate On-Demand vCPU, EC2 On-Demand Standard vCPU, "
            "Lambda concurrent executions."
        ),
    )


class Parity(_Model):
    """Cross-region parity checks (docs/PARITY.md): status compares the regions when
    this key is present (``parity: {}`` for no exception)."""

    ignore: list[ParityIgnore] = Field(
        default_factory=list, description="Rules silenced per resource, each with a reason."
    )


class Topology(_Model):
    """A multi-region application, as mr-failover sees it."""

    application: Name
    account_id: AccountId = Field(description="12-digit AWS account id, quoted.")
    primary_region: RegionCode = Field(description="Region that serves in steady state.")
    policy: Policy
    lock: LockLocation | None = None
    journal: SharedJournal | None = Field(
        default=None, description="Journal runs to S3 too, so the team shares history and resume."
    )
    notifications: Notifications | None = None

    probes: Probes | None = None
    global_accelerator: GlobalAccelerator | None = None
    cloudfront_distributions: list[Distribution] = Field(default_factory=list)
    arc: Arc | None = Field(
        default=None, description="Route 53 ARC cluster, for drain_lever: routing_control."
    )
    parity: Parity | None = Field(
        default=None,
        description="Compare the regions in status (parity: {}), and rules silenced per resource.",
    )
    capacity: Capacity | None = Field(
        default=None, description="Check quota headroom for the take-over in status (capacity: {})."
    )
    regions: dict[RegionCode, Region] = Field(
        min_length=2,
        description="Two or more regions, keyed by region code.",
        json_schema_extra={"additionalProperties": False},
    )

    @field_validator("account_id", mode="before")
    @classmethod
    def _quoted_account(cls, value: object) -> object:
        if isinstance(value, int):
            raise ValueError(
                'write the account id as a quoted 12-digit string, like "012345678901" '
                "(YAML reads unquoted digits as a number and drops leading zeros)"
            )
        return value

    def region(self, name: str) -> Region:
        return self.regions[name]

    def writer_region(self) -> str | None:
        for name, region in self.regions.items():
            if region.aurora and region.aurora.role == "writer":
                return name
        return None


# --- cross-field checks: each yields (key path, message) -------------------------------


def _cross_checks(
    t: Topology, declared: frozenset[str] | None = None
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Checks across fields and regions.

    ``declared`` is every region key of the file; when some regions failed validation,
    ``t.regions`` holds only the valid ones, and checks that need the missing ones are
    skipped rather than reported wrongly.
    """
    if declared is None:
        declared = frozenset(t.regions)
    complete = declared == frozenset(t.regions)
    if t.primary_region in known_regions() and t.primary_region not in declared:
        yield ("primary_region",), f"{t.primary_region!r} is not one of the declared regions"
    if t.probes is not None:
        for name in t.probes.regions:
            if name not in declared:
                yield ("probes", "regions", name), f"{name!r} is not one of the declared regions"

    auroras = {n: r.aurora for n, r in t.regions.items() if r.aurora}
    yield from _one_leader(
        auroras,
        complete,
        service="aurora",
        leader="writer",
        claim="to be the writer",
        groups=("global clusters", {str(a.global_cluster) for a in auroras.values()}),
    )
    if len({a.mode for a in auroras.values()}) > 1:
        yield ("regions",), "aurora mode must be the same in every region (global or replica)"

    seen_checks: dict[str, str] = {}
    seen_buckets: dict[str, str] = {}
    seen_clusters: dict[str, str] = {}
    # Route 53: "SetIdentifier: an identifier that differentiates among multiple resource
    # record sets that have the same combination of name and type" (ResourceRecordSet,
    # https://docs.aws.amazon.com/Route53/latest/APIReference/API_ResourceRecordSet.html),
    # so one identifier is one record, in whichever region the file declares it.
    seen_sets: dict[tuple[str, str, str], str] = {}
    for rname, region in t.regions.items():
        base: tuple[str | int, ...] = ("regions", rname)
        check_names = set()
        for i, hc in enumerate(region.traffic.health_checks):
            if hc.name in seen_checks:
                yield (
                    (*base, "traffic", "health_checks", i, "name"),
                    f"duplicate health check name {hc.name!r} (also in {seen_checks[hc.name]})",
                )
            seen_checks[hc.name] = rname
            check_names.add(hc.name)
        for i, rec in enumerate(region.traffic.records):
            if rec.health_check is not None and rec.health_check not in check_names:
                yield (
                    (*base, "traffic", "records", i, "health_check"),
                    f"{rec.health_check!r} is not a health check of {rname}",
                )
            key = (rec.name.rstrip(".").lower(), rec.type, rec.set_identifier)
            if key in seen_sets:
                other = seen_sets[key]
                where = "" if other == rname else f" (also in {other})"
                yield (
                    (*base, "traffic", "records", i, "set_identifier"),
                    f"duplicate record {rec.name} / {rec.set_identifier}{where}",
                )
            seen_sets[key] = rname
        if region.traffic.drain_lever == "weight" and not any(
            r.routing_policy == "weighted" for r in region.traffic.records
        ):
            yield (
                (*base, "traffic", "drain_lever"),
                "drain_lever: weight needs at least one weighted record",
            )
        if region.traffic.drain_lever == "health_check_inversion" and (
            region.traffic.records and not region.traffic.health_checks
        ):
            yield (
                (*base, "traffic", "drain_lever"),
                "drain_lever: health_check_inversion needs a health check",
            )
        if region.aurora:
            c = region.aurora.cluster
            if c in seen_clusters:
                yield (
                    (*base, "aurora", "cluster"),
                    f"duplicate cluster {c!r} (also in {seen_clusters[c]})",
                )
            seen_clusters[c] = rname
        for i, table in enumerate(region.dynamodb_tables):
            if table in region.dynamodb_tables[:i]:
                yield (*base, "dynamodb_tables", i), f"duplicate table {table!r}"
            elif complete and not any(
                table in other.dynamodb_tables for n, other in t.regions.items() if n != rname
            ):
                yield (
                    (*base, "dynamodb_tables", i),
                    f"global table {table!r} has no replica in another declared region",
                )
        for i, bucket in enumerate(region.s3_buckets):
            if bucket.name in seen_buckets:
                yield (
                    (*base, "s3_buckets", i, "name"),
                    f"duplicate bucket {bucket.name!r} (also in {seen_buckets[bucket.name]})",
                )
            seen_buckets[bucket.name] = rname
    for rname, region in t.regions.items():
        for i, bucket in enumerate(region.s3_buckets):
            for j, target in enumerate(bucket.replicate_to):
                path = ("regions", rname, "s3_buckets", i, "replicate_to", j)
                if target.region not in declared:
                    yield (*path, "region"), f"{target.region} is not a declared region"
                elif target.region not in t.regions:
                    continue  # declared but invalid: already reported
                elif target.bucket not in {b.name for b in t.regions[target.region].s3_buckets}:
                    yield (
                        (*path, "bucket"),
                        f"bucket {target.bucket!r} is not declared in {target.region}",
                    )
                elif target.region == rname:
                    yield (*path, "region"), "cross-region replication needs another region"
    yield from _edge_checks(t, declared, complete)
    yield from _parity_checks(t, declared, complete)


def parity_names(region: Region, kind: str) -> list[str]:
    """The names a region gives its resources of one parity kind (``parity.ignore``)."""
    c = region.compute
    if kind == "ecs":
        return [f"{s.cluster}/{s.service}" for s in c.ecs_services]
    if kind == "lambda":
        return [f.name for f in c.lambda_functions]
    if kind == "asg":
        return [g.name for g in c.autoscaling_groups]
    if kind == "dynamodb":
        return list(region.dynamodb_tables)
    if kind == "aurora":
        return [region.aurora.cluster] if region.aurora else []
    if kind == "api":
        return [a.domain for a in region.api_endpoints]
    if kind == "secret":
        return list(region.readiness.secrets)
    if kind == "ssm":
        return list(region.readiness.ssm_parameters)
    return []


def _parity_checks(
    t: Topology, declared: frozenset[str], complete: bool
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Each silenced rule names a resource of its kind that the topology declares."""
    if not isinstance(t.parity, Parity):
        return  # none, or INVALID (already reported)
    for i, entry in enumerate(t.parity.ignore):
        where: tuple[str | int, ...] = ("parity", "ignore", i)
        if entry.region is not None and entry.region not in declared:
            yield (*where, "region"), f"{entry.region} is not a declared region"
            continue
        if not complete:
            continue  # the resource may be in a region that did not validate
        kind = PARITY_RULES[entry.rule]
        regions = [entry.region] if entry.region else list(t.regions)
        names = {n for r in regions if r in t.regions for n in parity_names(t.regions[r], kind)}
        if entry.resource not in names:
            yield (
                (*where, "resource"),
                f"no {kind} resource named {entry.resource!r} in "
                f"{entry.region or 'any region'} (rule {entry.rule} is about {kind})",
            )


def _one_leader(
    members: Mapping[str, Aurora | ElastiCache],
    complete: bool,
    *,
    service: str,
    leader: str,
    claim: str,
    groups: tuple[str, set[str]],
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Exactly one region leads a replicated service, and all name the same group."""
    leaders = [n for n, m in members.items() if m.role == leader]
    for extra in leaders[1:]:
        yield (
            ("regions", extra, service, "role"),
            f"two regions claim {claim} ({leaders[0]} and {extra})",
        )
    if complete and members and not leaders:
        yield ("regions",), f"no region has {service} role: {leader}"
    what, names = groups
    if len(names) > 1:
        yield ("regions",), f"regions name different {what}: {sorted(names)}"


def _edge_checks(
    t: Topology, declared: frozenset[str], complete: bool
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Accelerator, ElastiCache, CloudFront, API endpoints and readiness items."""
    # A partial topology (some regions invalid) holds INVALID for a top-level key the file
    # had but that did not validate: present, already reported. An explicit null is absent.
    has_accelerator = t.global_accelerator is not None
    caches = {n: r.elasticache for n, r in t.regions.items() if r.elasticache}
    yield from _one_leader(
        caches,
        complete,
        service="elasticache",
        leader="primary",
        claim="the elasticache primary",
        groups=("global datastores", {c.global_datastore for c in caches.values()}),
    )
    seen_distributions: set[str] = set()
    seen_controls: dict[str, str] = {}
    yield from _arc_checks(t)
    for i, dist in enumerate(t.cloudfront_distributions):
        if dist.name in seen_distributions:
            yield (
                ("cloudfront_distributions", i, "name"),
                f"duplicate distribution name {dist.name!r}",
            )
        seen_distributions.add(dist.name)
    for rname, region in t.regions.items():
        base: tuple[str | int, ...] = ("regions", rname)
        if region.global_accelerator is not None and not has_accelerator:
            yield (
                (*base, "global_accelerator"),
                "an endpoint group needs the top-level 'global_accelerator' (the accelerator)",
            )
        if region.traffic.drain_lever == "traffic_dial" and region.global_accelerator is None:
            yield (
                (*base, "traffic", "drain_lever"),
                "drain_lever: traffic_dial needs this region's 'global_accelerator' endpoint group",
            )
        yield from _arc_region_checks(t, rname, region, seen_controls)
        set_ids = {rec.set_identifier for rec in region.traffic.records}
        domains: set[str] = set()
        for i, api in enumerate(region.api_endpoints):
            if api.domain in domains:
                yield (
                    (*base, "api_endpoints", i, "domain"),
                    f"duplicate api endpoint domain {api.domain!r}",
                )
            domains.add(api.domain)
            if api.record is not None and api.record not in set_ids:
                yield (
                    (*base, "api_endpoints", i, "record"),
                    f"{api.record!r} is not the set_identifier of a traffic record of {rname}",
                )
        ready = region.readiness
        if ready.templates is not None:
            src = ready.templates.source_region
            where = (*base, "readiness", "templates", "source_region")
            if src == rname:
                yield where, "the templates source must be another region"
            elif src not in declared:
                yield where, f"{src} is not a declared region"
        for key in ("secrets", "ssm_parameters"):
            names: list[str] = getattr(ready, key)
            for i, name in enumerate(names):
                if name in names[:i]:
                    yield (*base, "readiness", key, i), f"duplicate {name!r}"


def _arc_checks(t: Topology) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """The ARC cluster's endpoints: distinct URLs, at most one per region."""
    if not isinstance(t.arc, Arc):
        return  # none, or INVALID (already reported)
    urls: set[str] = set()
    regions: set[str] = set()
    for i, endpoint in enumerate(t.arc.endpoints):
        if endpoint.url in urls:
            yield ("arc", "endpoints", i, "url"), f"duplicate endpoint {endpoint.url!r}"
        if endpoint.region in regions:
            yield (
                ("arc", "endpoints", i, "region"),
                f"two endpoints in {endpoint.region} (a cluster has one per region)",
            )
        urls.add(endpoint.url)
        regions.add(endpoint.region)


def _arc_region_checks(
    t: Topology, rname: str, region: Region, seen: dict[str, str]
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """A region's routing controls: the cluster is declared, the lever has a control,
    and no routing control belongs to two regions (or twice to one)."""
    traffic = ("regions", rname, "traffic")
    has_arc = t.arc is not None
    if region.traffic.routing_controls and not has_arc:
        yield (
            (*traffic, "routing_controls"),
            "routing controls need the top-level 'arc' (the cluster and its endpoints)",
        )
    if region.traffic.drain_lever == "routing_control" and not region.traffic.routing_controls:
        yield (
            (*traffic, "drain_lever"),
            "drain_lever: routing_control needs at least one ARN under 'routing_controls'",
        )
    for i, arn in enumerate(region.traffic.routing_controls):
        if arn in seen:
            yield (
                (*traffic, "routing_controls", i),
                f"duplicate routing control (also in {seen[arn]})",
            )
        seen[arn] = rname


def control_panel_arn(routing_control_arn: str) -> str:
    """The control panel ARN of a routing control: the part before '/routingcontrol/'."""
    return routing_control_arn.split("/routingcontrol/", 1)[0]


# --- YAML to values, remembering where each key path came from ------------------------

Path_ = tuple[str | int, ...]
Marks = dict[Path_, tuple[int, int]]
# Suffix of a path whose mark is the key's position rather than the value's.
KEY_MARK = "\x00key"

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _TooBig(Exception):
    pass


class _Builder:
    """Builds plain values from composed YAML nodes, noting positions and problems.

    ``marks[path]`` is where a value starts and ``marks[(*path, KEY_MARK)]`` where its
    key does. A value that cannot be built becomes ``None`` and its path is *poisoned*,
    so the model's complaint about that ``None`` is not reported on top of the real one.
    """

    def __init__(self) -> None:
        self.marks: Marks = {}
        self.problems: list[tuple[int, int, Path_, str]] = []
        self.poisoned: set[Path_] = set()
        self._budget = MAX_NODES
        self._open: set[int] = set()

    def problem(self, node: yaml.Node, path: Path_, message: str, poison: bool = True) -> None:
        line, col = _pos(node)
        self.problems.append((line, col, path, message))
        if poison:
            self.poisoned.add(path)

    def build(self, node: yaml.Node, path: Path_) -> Any:
        import yaml

        self._budget -= 1
        if self._budget < 0:
            raise _TooBig
        self.marks[path] = _pos(node)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if id(node) in self._open:
            self.problem(node, path, "an alias inside this node refers to the node itself")
            return None
        if len(path) >= MAX_DEPTH:
            self.problem(node, path, f"nested more than {MAX_DEPTH} levels deep")
            return None
        self._open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            if node.tag != _SEQ_TAG:
                self.problem(node, path, f"the YAML tag {_tag(node.tag)} is not supported")
                return None
            return [self.build(v, (*path, i)) for i, v in enumerate(node.value)]
        finally:
            self._open.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, Any] | None:
        import yaml

        if node.tag != _MAP_TAG:
            self.problem(node, path, f"the YAML tag {_tag(node.tag)} is not supported")
            return None
        # '<<: *defaults' merges: built first so that explicit keys win, and their
        # positions overwrite the merged ones.
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                continue
            sources = (
                value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            )
            for source in reversed(sources):  # the first source listed wins
                if not isinstance(source, yaml.MappingNode):
                    self.problem(source, path, "'<<' merges a mapping or a list of mappings")
                    continue
                built = self.build(source, path)
                if isinstance(built, dict):
                    merged.update(built)
        out: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self._key(key_node, path)
            if key is None:
                continue
            sub = (*path, key)
            if key in out:
                self.problem(
                    key_node,
                    sub,
                    f"duplicate key {_clip(repr(key))} (first at line {first_line[key]})",
                    poison=False,
                )
                continue
            first_line[key] = _pos(key_node)[0]
            self.marks[(*sub, KEY_MARK)] = _pos(key_node)
            out[key] = self.build(value_node, sub)
        self.marks[path] = _pos(node)
        return {**{k: v for k, v in merged.items() if k not in out}, **out}

    def _key(self, node: yaml.Node, path: Path_) -> str | None:
        import yaml

        if not isinstance(node, yaml.ScalarNode):
            kind = "mapping" if isinstance(node, yaml.MappingNode) else "list"
            self.problem(node, path, f"a key must be a name, not a {kind}", poison=False)
            return None
        key = self._scalar(node, path, poison=False)
        if key is _BAD:
            return None
        if not isinstance(key, str):
            self.problem(
                node, path, f"key {_show(key)} is not a name; put it in quotes", poison=False
            )
            return None
        return key

    def _scalar(self, node: yaml.ScalarNode, path: Path_, poison: bool = True) -> Any:
        import yaml

        if node.tag not in yaml.constructor.SafeConstructor.yaml_constructors:
            self.problem(node, path, f"the YAML tag {_tag(node.tag)} is not supported", poison)
            return _BAD if not poison else None
        try:
            # A fresh constructor: a failed construction leaves state behind in one.
            return yaml.constructor.SafeConstructor().construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError, TypeError) as exc:
            detail = getattr(exc, "problem", None) or str(exc)
            self.problem(
                node, path, f"cannot read {_clip(repr(node.value))}: {_one_line(detail)}", poison
            )
            return _BAD if not poison else None


_BAD = object()


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _tag(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:") else tag


def _one_line(text: str) -> str:
    return _clip(" ".join(text.split()), 120)


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else f"{text[: limit - 20]}... ({len(text)} characters)"


def _read_text(file: Path, what: str = "topology file", how: str = "pass --config FILE") -> str:
    """The file's text, or a ConfigError naming the file (no line: nothing was parsed).

    Only a regular file is read: it is checked with stat() first, so a FIFO, a device or
    a socket is refused at once (opening a FIFO would wait forever for a writer).
    """
    import stat

    from mr_failover.statedir import kind

    try:
        info = file.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{file}: is {kind(info.st_mode)}, not a {what}")
        # Read one byte past the limit rather than trusting stat() for the size.
        with file.open("rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such file ({how})") from None
    except PermissionError:
        raise ConfigError(f"{file}: not readable (permission denied)") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{file}: larger than {MAX_FILE_BYTES} bytes; too large for a {what}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col(raw[: exc.start].decode("utf-8", "replace"))
        raise ConfigError(
            f"{file}:{line}:{col}: not UTF-8 text (byte {exc.start}); is it a binary file?"
        ) from None
    if "\x00" in text:
        line, col = _line_col(text[: text.index("\x00")])
        raise ConfigError(f"{file}:{line}:{col}: contains a NUL byte; is it a binary file?")
    return text


def _line_col(before: str) -> tuple[int, int]:
    """1-based position of the character that follows ``before``."""
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


def _prescan(file: Path, text: str, loader: Any, what: str) -> None:
    """Refuse deep nesting and too many values from the (iterative) event stream.

    PyYAML's composer recurses once per nesting level and is slow (seconds for a
    megabyte): a file nested too deep or holding more than MAX_NODES values is refused
    before it is composed, so no input can exhaust the stack or take long to reject.
    """
    import yaml

    depth = nodes = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.NodeEvent) and not isinstance(event, yaml.AliasEvent):
            nodes += 1
            if nodes > MAX_NODES:
                raise ConfigError(f"{file}: more than {MAX_NODES} values; too large for a {what}")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH and (mark := event.start_mark) is not None:
                raise ConfigError(
                    f"{file}:{mark.line + 1}:{mark.column + 1}: "
                    f"nested more than {MAX_DEPTH} levels deep"
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _compose(file: Path, text: str, what: str = "topology file") -> yaml.Node:
    """Parse ``text`` into a node graph; syntax errors become one-line ConfigErrors."""
    import yaml

    try:
        try:
            # libyaml's parser, when present, scans a megabyte in well under a second.
            _prescan(file, text, getattr(yaml, "CSafeLoader", yaml.SafeLoader), what)
        except yaml.YAMLError:
            # Reported by PyYAML's own parser below, in its words; scan with it first.
            _prescan(file, text, yaml.SafeLoader, what)
        node = _compose_fast(text)
    except yaml.reader.ReaderError as exc:
        line, col = _line_col(text[: exc.position])
        raise ConfigError(
            f"{file}:{line}:{col}: invalid YAML: control character "
            f"U+{_codepoint(exc.character):04X} is not allowed"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else f"{file}"
        detail = exc.problem or exc.context or "syntax error"
        if exc.context and exc.problem:
            detail = f"{exc.problem} ({exc.context})"
        raise ConfigError(f"{where}: invalid YAML: {_one_line(detail)}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: invalid YAML: {_one_line(str(exc))}") from None
    # A lone '---' composes to an empty scalar: as empty as no document at all.
    if node is None or (isinstance(node, yaml.ScalarNode) and node.value == "" and not node.style):
        example = "config/regions.yaml" if what == "topology file" else "config/drills/"
        raise ConfigError(f"{file}: the file is empty; see {example} for an example")
    return node


def _compose_fast(text: str) -> yaml.Node | None:
    """``yaml.compose`` with libyaml's parser when present, else (or on error) PyYAML's.

    The pure-Python composer took about half of a topology load (0.1 s for the example,
    on the status path: bench/bench_status_cold.py). A document libyaml refuses is composed
    again by PyYAML, so that errors are reported in its words, as before.
    """
    import yaml

    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return yaml.compose(text, Loader=fast)
        except yaml.YAMLError:
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


def _codepoint(character: object) -> int:
    # PyYAML gives the offending character as an int or a one-character string.
    if isinstance(character, int):
        return character
    return ord(str(character)[:1] or "?")


def _dotted(path: Path_) -> str:
    return ".".join(_path_part(p) for p in path) or "(top level)"


def _path_part(part: str | int) -> str:
    text = str(part)
    # Keys are user text: quote any that would blur the path or break the line.
    if text and text.isprintable() and not any(c.isspace() or c in ".'\"" for c in text):
        return _clip(text)
    return _clip(repr(text))


def _locate(path: Path_, marks: Marks) -> tuple[int, int]:
    for n in range(len(path), -1, -1):
        if path[:n] in marks:
            return marks[path[:n]]
    return (1, 1)


# --- pydantic's errors, in words a person reads -----------------------------------------

_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "a boolean"),
    (int, "an integer"),
    (float, "a decimal number"),
    (str, "a string"),
    (datetime.datetime, "a timestamp"),
    (datetime.date, "a date"),
    (bytes, "binary data"),
)

_PATTERNS = {
    ACCOUNT_PATTERN: 'a 12-digit account id in quotes, like "012345678901"',
    ROLE_ARN_PATTERN: "an IAM role ARN, like arn:aws:iam::012345678901:role/NAME",
    ACCELERATOR_ARN_PATTERN: (
        "an accelerator ARN, like arn:aws:globalaccelerator::012345678901:accelerator/ID"
    ),
    ENDPOINT_GROUP_ARN_PATTERN: (
        "an endpoint group ARN, like arn:aws:globalaccelerator::012345678901:"
        "accelerator/ID/listener/ID/endpoint-group/ID"
    ),
    CERTIFICATE_ARN_PATTERN: (
        "an ACM certificate ARN, like arn:aws:acm:us-east-1:012345678901:certificate/ID"
    ),
    ARC_CLUSTER_ARN_PATTERN: (
        "an ARC cluster ARN, like arn:aws:route53-recovery-control::012345678901:cluster/ID"
    ),
    ROUTING_CONTROL_ARN_PATTERN: (
        "a routing control ARN, like arn:aws:route53-recovery-control::012345678901:"
        "controlpanel/ID/routingcontrol/ID"
    ),
    ENDPOINT_URL_PATTERN: "an endpoint URL, like https://host-abc.us-east-1.example.aws/v1",
}


def _show(value: object) -> str:
    """``123 (an integer)``, ``'x' (a string)``, ``a list``, ``nothing (null)``."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    for kinds, label in _KINDS:
        if isinstance(value, kinds):
            text = repr(value) if isinstance(value, str | bytes) else str(value)
            if isinstance(value, bool):
                text = text.lower()
            return f"{_clip(text)} ({label})"
    return type(value).__name__


def _model_at(path: Path_, root: type[BaseModel] | None = None) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``path`` (for key suggestions)."""
    tp: Any = root or Topology
    for part in path:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            if field is None:
                return None
            tp = field.annotation
        else:
            tp = _inner(tp)
        while not (isinstance(tp, type) and issubclass(tp, BaseModel)) and get_args(tp):
            if get_origin(tp) in (dict, list):
                break
            tp = next((a for a in get_args(tp) if a is not type(None)), None)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _inner(tp: Any) -> Any:
    args = get_args(tp)
    if get_origin(tp) is dict:
        return args[1]
    if get_origin(tp) is list:
        return args[0]
    return None


def _unknown_key(path: Path_, root: type[BaseModel] | None = None) -> str:
    key = str(path[-1])
    text = f"unknown key {_clip(repr(key))}"
    model = _model_at(path[:-1], root)
    if model is None:
        return text
    names = list(model.model_fields)
    close = difflib.get_close_matches(key, names, n=1)
    if close:
        return f"{text} (did you mean {close[0]!r}?)"
    return f"{text} (expected one of: {', '.join(names)})"


def _message(err: Any, path: Path_, root: type[BaseModel] | None = None) -> str:
    kind: str = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    got = f"got {_show(value)}"
    if kind == "missing":
        return f"missing required key {path[-1]!r}"
    if kind == "extra_forbidden":
        return _unknown_key(path, root)
    if kind == "string_type":
        quote = "" if isinstance(value, dict | list) or value is None else "; put it in quotes"
        return f"expected a string, {got}{quote}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, {got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, {got}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping (indented 'key: value' lines), {got}"
    if kind == "list_type":
        return f"expected a list ('- item' lines or [a, b]), {got}"
    if kind == "literal_error":
        return f"expected {ctx.get('expected')}, {got}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"longer than {ctx.get('max_length')} characters"
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern")
        if pattern == REGION_PATTERN and isinstance(value, str):
            return _not_a_region(value)
        meaning = _PATTERNS.get(str(pattern), f"text matching {pattern}")
        return f"expected {meaning}, {got}"
    if kind == "too_short":
        what = "regions" if path == ("regions",) else "entries"
        return f"needs at least {ctx.get('min_length')} {what}, got {ctx.get('actual_length')}"
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "greater_than": ("more than", "gt"),
        "less_than_equal": ("at most", "le"),
        "less_than": ("less than", "lt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"must be {words} {ctx.get(key)}, {got}"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", err["msg"]))
    msg = str(err["msg"])
    return msg[:1].lower() + msg[1:]


def _data_path(loc: tuple[Any, ...], data: Any) -> tuple[Path_, bool]:
    """pydantic's ``loc`` as a key path of ``data``; and whether the error is about a key.

    Drops pydantic's own segments (union member tags such as ``function-after[...]``),
    which a plain walk through the data cannot match.
    """
    out: list[str | int] = []
    cur: Any = data
    at_key = False
    for part in loc:
        if part == "[key]":
            at_key = True
        elif (isinstance(cur, dict) and part in cur) or (
            isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur)
        ):
            out.append(part)
            cur = cur[part]
        elif isinstance(part, str) and "[" in part:
            continue
        else:
            out.append(part)
            cur = None
    return tuple(out), at_key


def _pydantic_problems(
    exc: ValidationError, data: Any, b: _Builder, root: type[BaseModel] | None = None
) -> list[tuple[int, int, Path_, str]]:
    problems = []
    for err in exc.errors():
        path, at_key = _data_path(err["loc"], data)
        if any(path[:n] in b.poisoned for n in range(len(path) + 1)):
            continue  # the YAML layer already said what is wrong there
        if err["type"] in ("extra_forbidden", "missing") or at_key:
            target = (*path, KEY_MARK) if err["type"] != "missing" else (*path[:-1], KEY_MARK)
        else:
            target = path
        line, col = _locate(target, b.marks)
        problems.append((line, col, path, _message(err, path, root)))
    return problems


# Stands, in a partial topology, for a top-level section that failed validation.
INVALID: Any = object()


def _partial(data: dict[str, Any]) -> tuple[Topology, frozenset[str]] | None:
    """The parts of an invalid file that did validate, for the cross-field checks."""
    raw = data.get("regions")
    if not isinstance(raw, dict):
        return None
    regions: dict[str, Region] = {}
    for name, spec in raw.items():
        if name not in known_regions():
            continue
        try:
            regions[name] = Region.model_validate(spec)
        except ValidationError:
            continue
    primary = data.get("primary_region")
    # Only the two fields the cross checks read; the rest failed or does not matter.
    fields: dict[str, Any] = {
        "primary_region": primary if isinstance(primary, str) else "",
        "regions": regions,
    }
    for key, model in (
        ("global_accelerator", GlobalAccelerator),
        ("arc", Arc),
        ("parity", Parity),
    ):
        if key in data:
            try:
                fields[key] = model.model_validate(data[key])
            except ValidationError:
                fields[key] = INVALID  # reported; its presence still counts
    return Topology.model_construct(**fields), frozenset(raw)


def _not_this_kind(
    file: Path, data: dict[str, Any], b: _Builder, model: type[BaseModel], what: str, example: str
) -> None:
    """Refuse a mapping none of whose keys ``model`` knows (``--config /etc/shadow``).

    One line, naming at most one key, clipped, plus what the YAML layer found: the file's
    other keys are not listed as unknown keys (a file of secrets given by mistake must
    not be printed back).
    """
    if not data or set(data) & set(model.model_fields):
        return
    first = next(iter(data))
    line, col = b.marks.get((first, KEY_MARK), (1, 1))
    problems = [
        *b.problems,
        (
            line,
            col,
            (),
            f"not a {what}: none of its {len(data)} top-level keys is one "
            f"(the first is {_clip(repr(first), 40)}); see {example}",
        ),
    ]
    lines = sorted(
        {
            (ln, c, f"{file}:{ln}:{c}: {_dotted(p) + ': ' if p else ''}{m}")
            for ln, c, p, m in problems
        }
    )
    if len(lines) == 1:
        raise ConfigError(lines[0][2])
    raise ConfigError(f"{file}: not a {what}", [text for *_, text in lines])


def load(path: str | Path) -> Topology:
    """Load and validate a topology file; raise ConfigError listing every problem.

    A file validated before, byte for byte, by this same code is read back from the
    cache (:mod:`mr_failover.diskcache`): validating the example costs about 35 ms of a
    status run (the models' validators, the YAML parse and the region list), reading it
    back 2 ms. Only valid files are cached, and an entry is read only when its key
    matches: the file's text, this module's file (size and modification time) and the
    versions of Python, pydantic and botocore (whose region list is checked against).
    """
    file = Path(path)
    text = _read_text(file)
    cache = diskcache.default()
    key = f"{_code_fingerprint()}\n{text}"
    if cache is not None and (cached := _unpickle(cache.read(key, ".topology"))) is not None:
        return cached
    topology = _validate(file, text)
    if cache is not None:
        cache.write(key, ".topology", pickle.dumps(topology, protocol=pickle.HIGHEST_PROTOCOL))
    return topology


@cache
def _code_fingerprint() -> str:
    """What a validation's outcome depends on besides the file's text."""
    import botocore
    import pydantic
    import pydantic_core

    here = os.stat(__file__)
    return "|".join(
        map(
            str,
            (
                "topology-1",
                sys.version,
                pydantic.VERSION,
                pydantic_core.__version__,
                botocore.__version__,
                here.st_size,
                here.st_mtime_ns,
            ),
        )
    )


class _ModelsOnly(pickle.Unpickler):
    """Unpickles this module's models and plain data, nothing else (no other class or
    function can be named by a cache entry, whoever wrote it)."""

    def find_class(self, module: str, name: str) -> Any:
        found = globals().get(name) if module == __name__ else None
        if isinstance(found, type) and issubclass(found, _Model):
            return found
        raise pickle.UnpicklingError(f"{module}.{name} is not a topology model")


def _unpickle(raw: bytes | None) -> Topology | None:
    if raw is None:
        return None
    try:
        found = _ModelsOnly(io.BytesIO(raw)).load()
    except Exception:  # a torn or foreign entry, whatever it raises: validated afresh
        return None
    return found if isinstance(found, Topology) else None


def _validate(file: Path, text: str) -> Topology:
    node = _compose(file, text)
    b = _Builder()
    try:
        data = b.build(node, ())
    except _TooBig:
        raise ConfigError(
            f"{file}: expands to more than {MAX_NODES} values (YAML alias bomb?)"
        ) from None
    if not isinstance(data, dict):
        line, col = _pos(node)
        raise ConfigError(
            f"{file}:{line}:{col}: the top level must be a mapping of keys "
            f"(like 'application: shop'), got {_show(data)}"
        )
    _not_this_kind(file, data, b, Topology, "topology file", "config/regions.yaml")
    problems = list(b.problems)
    topology: Topology | None = None
    checked: tuple[Topology, frozenset[str]] | None
    try:
        topology = Topology.model_validate(data)
        checked = (topology, frozenset(topology.regions))
    except ValidationError as exc:
        problems += _pydantic_problems(exc, data, b)
        checked = _partial(data)
    if checked is not None:
        for loc, msg in _cross_checks(*checked):
            line, col = _locate(loc, b.marks)
            problems.append((line, col, loc, msg))
    if problems or topology is None:
        lines = sorted({(ln, c, f"{file}:{ln}:{c}: {_dotted(p)}: {m}") for ln, c, p, m in problems})
        count = len(lines)
        raise ConfigError(
            f"{file}: {count} problem{'' if count == 1 else 's'}", [text for *_, text in lines]
        )
    return topology


M = TypeVar("M", bound=BaseModel)


def load_model(
    path: str | Path,
    model: type[M],
    *,
    what: str = "file",
    cross_checks: Callable[[M], list[tuple[Path_, str]]] | None = None,
) -> M:
    """Load another YAML file (a drill scenario) with this module's hardened loading and
    file:line:column errors; ``cross_checks`` adds problems found on the valid model."""
    file = Path(path)
    node = _compose(file, _read_text(file, what, f"give the {what}'s path"), what)
    b = _Builder()
    try:
        data = b.build(node, ())
    except _TooBig:
        raise ConfigError(f"{file}: expands to more than {MAX_NODES} values") from None
    if not isinstance(data, dict):
        line, col = _pos(node)
        raise ConfigError(f"{file}:{line}:{col}: the top level must be a mapping of keys")
    _not_this_kind(file, data, b, model, what, "the examples in config/drills/")
    problems = list(b.problems)
    result: M | None = None
    try:
        result = model.model_validate(data)
    except ValidationError as exc:
        problems += _pydantic_problems(exc, data, b, model)
    if result is not None and cross_checks is not None:
        for loc, msg in cross_checks(result):
            line, col = _locate(loc, b.marks)
            problems.append((line, col, loc, msg))
    if problems or result is None:
        lines = sorted({(ln, c, f"{file}:{ln}:{c}: {_dotted(p)}: {m}") for ln, c, p, m in problems})
        count = len(lines)
        raise ConfigError(
            f"{file}: {count} problem{'' if count == 1 else 's'} in this {what}",
            [text for *_, text in lines],
        )
    return result


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the topology file, generated from the model."""
    schema = Topology.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mr-failover topology"
    return schema


def shipped_example() -> str:
    """The example topology shipped with the package."""
    return resources.files("mr_failover").joinpath("data/regions.yaml").read_text()


def dump(topology: Topology) -> str:
    """Render a topology back to YAML (used by the sandbox seeder to record ids)."""
    import yaml

    data = topology.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    return yaml.safe_dump(data, sort_keys=False)
