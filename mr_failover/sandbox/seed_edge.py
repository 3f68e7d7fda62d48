"""Seeding of the edge and the easy-to-forget items: CloudFront, API endpoints, readiness.

Called by :mod:`mr_failover.sandbox.seed` (kept apart so that file's many authors touch
few lines): regional API Gateway custom domains with an ACM certificate of their region
and a root base path mapping; CloudFront distributions (looked up by alias) whose origin
group fails over from the primary region's replicated bucket to its destination; the
templates buckets, with replication and one template already replicated; CodeCommit
repositories and mirrors; Secrets Manager secrets created in the primary region and
replicated; SSM parameters; the Route 53 ARC cluster, control panel and routing controls
(:func:`seed_arc`). Each is created only when missing, so seeding twice is
harmless. Returns, per (region, record set identifier), the regional domain name the
region's Route 53 record must answer with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from mr_failover.aws import translate
from mr_failover.resources.apigateway import ROOT_PATHS

if TYPE_CHECKING:
    from mr_failover.aws import ClientSource
    from mr_failover.topology import ApiEndpoint, Arc, ArcEndpoint, Distribution, Topology


class _Report(Protocol):
    def add(self, what: str) -> None: ...


class Seeder(Protocol):
    """What this module needs of :class:`mr_failover.sandbox.seed.Seeder` (which calls it:
    this module does not import it back)."""

    @property
    def t(self) -> Topology: ...

    @property
    def factory(self) -> ClientSource: ...

    @property
    def report(self) -> _Report: ...

    def call(self, service: str, region: str, op: str, **kwargs: Any) -> Any: ...

    def find(self, service: str, region: str, op: str, **kwargs: Any) -> Any | None: ...

    def bucket(self, region: str, name: str) -> None: ...

    def role(self, name: str, principal: str) -> str: ...


TEMPLATE_KEY = "templates/app.yaml"
TEMPLATE_BODY = b"# deployment template seeded by mr-failover\nResources: {}\n"
FAILOVER_CODES = [500, 502, 503, 504]


def seed_edge(s: Seeder) -> dict[tuple[str, str], str]:
    targets: dict[tuple[str, str], str] = {}
    for name, region in s.t.regions.items():
        for api in region.api_endpoints:
            domain = _api_endpoint(s, name, api)
            if api.record is not None:
                targets[(name, api.record)] = domain
    for dist in s.t.cloudfront_distributions:
        _distribution(s, dist)
    _templates(s)
    _code(s)
    _secrets(s)
    _parameters(s)
    return targets


def _certificate(s: Seeder, region: str, domain: str) -> str:
    out = s.call("acm", region, "list_certificates")
    for c in out.get("CertificateSummaryList", []):
        if c.get("DomainName") == domain:
            return str(c["CertificateArn"])
    arn = s.call("acm", region, "request_certificate", DomainName=domain, ValidationMethod="DNS")
    s.report.add(f"certificate {domain} ({region})")
    return str(arn["CertificateArn"])


def _api_endpoint(s: Seeder, region: str, spec: ApiEndpoint) -> str:
    cert = spec.certificate_arn or _certificate(s, region, spec.domain)
    api_name = f"{s.t.application}-{region}"
    if spec.api_type == "http":
        found = s.find("apigatewayv2", region, "get_domain_name", DomainName=spec.domain)
        if found is None:
            apis = s.call("apigatewayv2", region, "get_apis").get("Items", [])
            api_id = next((a["ApiId"] for a in apis if a["Name"] == api_name), None)
            if api_id is None:
                api_id = s.call(
                    "apigatewayv2", region, "create_api", Name=api_name, ProtocolType="HTTP"
                )["ApiId"]
            found = s.call(
                "apigatewayv2",
                region,
                "create_domain_name",
                DomainName=spec.domain,
                DomainNameConfigurations=[{"CertificateArn": cert, "EndpointType": "REGIONAL"}],
            )
            s.call(
                "apigatewayv2",
                region,
                "create_api_mapping",
                DomainName=spec.domain,
                ApiId=api_id,
                Stage="$default",
                ApiMappingKey=spec.base_path.strip("/"),
            )
            s.report.add(f"HTTP API domain {spec.domain} ({region})")
        return str(found["DomainNameConfigurations"][0]["ApiGatewayDomainName"])
    found = s.find("apigateway", region, "get_domain_name", domainName=spec.domain)
    if found is None:
        apis = s.call("apigateway", region, "get_rest_apis").get("items", [])
        api_id = next((a["id"] for a in apis if a["name"] == api_name), None)
        if api_id is None:
            api_id = s.call(
                "apigateway",
                region,
                "create_rest_api",
                name=api_name,
                endpointConfiguration={"types": ["REGIONAL"]},
            )["id"]
        found = s.call(
            "apigateway",
            region,
            "create_domain_name",
            domainName=spec.domain,
            regionalCertificateArn=cert,
            endpointConfiguration={"types": ["REGIONAL"]},
        )
        mapping: dict[str, Any] = {"domainName": spec.domain, "restApiId": api_id}
        if spec.base_path not in ROOT_PATHS:
            mapping["basePath"] = spec.base_path.strip("/")
        s.call("apigateway", region, "create_base_path_mapping", **mapping)
        s.report.add(f"REST API domain {spec.domain} ({region})")
    return str(found["regionalDomainName"])


def _distribution(s: Seeder, spec: Distribution) -> None:
    from mr_failover.errors import AwsCallError
    from mr_failover.resources.cloudfront import CONTROL_PLANE_REGION, find_distribution_id

    if spec.id is not None or spec.alias is None:
        return  # an id names a distribution that exists elsewhere: not the sandbox's
    client = s.factory.client("cloudfront", CONTROL_PLANE_REGION)
    try:
        find_distribution_id(client, spec.alias)
        return
    except AwsCallError:
        pass
    home = s.t.regions[s.t.primary_region]
    source = next((b for b in home.s3_buckets if b.replicate_to), None)
    if source is None:
        return  # nothing replicated to fail over between
    target = source.replicate_to[0]
    origins = [
        ("primary", source.name, s.t.primary_region),
        ("secondary", target.bucket, target.region),
    ]
    config = {
        "CallerReference": f"{s.t.application}-{spec.name}",
        "Comment": spec.name,
        "Enabled": True,
        "Aliases": {"Quantity": 1, "Items": [spec.alias]},
        "Origins": {
            "Quantity": 2,
            "Items": [
                {
                    "Id": oid,
                    "DomainName": f"{bucket}.s3.{region}.amazonaws.com",
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                }
                for oid, bucket, region in origins
            ],
        },
        "OriginGroups": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": f"{spec.name}-failover",
                    "FailoverCriteria": {
                        "StatusCodes": {"Quantity": len(FAILOVER_CODES), "Items": FAILOVER_CODES}
                    },
                    "Members": {
                        "Quantity": 2,
                        "Items": [{"OriginId": "primary"}, {"OriginId": "secondary"}],
                    },
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": f"{spec.name}-failover",
            "ViewerProtocolPolicy": "redirect-to-https",
            "MinTTL": 0,
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
        },
    }
    s.call("cloudfront", CONTROL_PLANE_REGION, "create_distribution", DistributionConfig=config)
    s.report.add(f"cloudfront distribution {spec.name}")


def _templates(s: Seeder) -> None:
    by_source: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for name, spec in s.t.regions.items():
        t = spec.readiness.templates
        if t is not None:
            by_source.setdefault((t.source_region, t.source_bucket), []).append((name, t.bucket))
    for (src_region, src_bucket), dests in by_source.items():
        s.bucket(src_region, src_bucket)
        for dest_region, bucket in dests:
            s.bucket(dest_region, bucket)
        role = s.role(f"{s.t.application}-templates-replication", "s3.amazonaws.com")
        s.call(
            "s3",
            src_region,
            "put_bucket_replication",
            Bucket=src_bucket,
            ReplicationConfiguration={
                "Role": role,
                "Rules": [
                    {
                        "ID": f"to-{bucket}",
                        "Priority": i + 1,
                        "Status": "Enabled",
                        "Filter": {},
                        "DeleteMarkerReplication": {"Status": "Disabled"},
                        "Destination": {"Bucket": f"arn:aws:s3:::{bucket}"},
                    }
                    for i, (_, bucket) in enumerate(dests)
                ],
            },
        )
        # Seeded as already replicated: seeding must not wait for the replication lag.
        for where, bucket in [(src_region, src_bucket), *dests]:
            s.call("s3", where, "put_object", Bucket=bucket, Key=TEMPLATE_KEY, Body=TEMPLATE_BODY)


def _code(s: Seeder) -> None:
    for name, region in s.t.regions.items():
        c = region.readiness.code_repository
        if c is None:
            continue
        wanted = [(name, c.name)]
        if c.mirror is not None:
            wanted.append((c.mirror.region or name, c.mirror.name))
        for where, repo in wanted:
            if s.find("codecommit", where, "get_repository", repositoryName=repo) is None:
                s.call("codecommit", where, "create_repository", repositoryName=repo)
                s.report.add(f"code repository {repo} ({where})")


def _secrets(s: Seeder) -> None:
    home = s.t.primary_region
    wanted: dict[str, list[str]] = {}
    for name, region in s.t.regions.items():
        for secret in region.readiness.secrets:
            wanted.setdefault(secret, []).append(name)
    for secret, regions in wanted.items():
        replicas = [r for r in regions if r != home]
        found = s.find("secretsmanager", home, "describe_secret", SecretId=secret)
        if found is None:
            s.call(
                "secretsmanager",
                home,
                "create_secret",
                Name=secret,
                SecretString="seeded-by-mr-failover",
                AddReplicaRegions=[{"Region": r} for r in replicas],
            )
            s.report.add(f"secret {secret} ({home}, replicated to {', '.join(replicas)})")
            continue
        have = {r["Region"] for r in found.get("ReplicationStatus", [])}
        missing = [r for r in replicas if r not in have]
        if missing:
            s.call(
                "secretsmanager",
                home,
                "replicate_secret_to_regions",
                SecretId=secret,
                AddReplicaRegions=[{"Region": r} for r in missing],
            )


def _parameters(s: Seeder) -> None:
    for name, region in s.t.regions.items():
        for param in region.readiness.ssm_parameters:
            out = s.call("ssm", name, "get_parameters", Names=[param])
            if out.get("InvalidParameters"):
                s.call("ssm", name, "put_parameter", Name=param, Value="seeded", Type="String")
                s.report.add(f"ssm parameter {param} ({name})")


ARC_CONTROL_REGION = "us-west-2"  # the recovery control configuration API's only region
ARC_CONFIG = "route53-recovery-control-config"


def seed_arc(s: Seeder) -> tuple[Arc | None, dict[str, str]]:
    """The topology's ARC cluster, one control panel and its routing controls (all On).

    Returns the ``arc`` section with the real cluster ARN and its five endpoints, and
    the real ARN of each routing control ARN the file lists. A control the file names by
    an ARN the sandbox does not know is created under the ARN's last segment as name;
    one that exists keeps its state (a second seeding changes nothing).
    """
    from mr_failover.topology import ArcEndpoint

    spec = s.t.arc
    if spec is None:
        return None, {}
    described = s.find(
        ARC_CONFIG, ARC_CONTROL_REGION, "describe_cluster", ClusterArn=spec.cluster_arn
    )
    if described is None:
        out = s.call(ARC_CONFIG, ARC_CONTROL_REGION, "list_clusters")
        named = [c for c in out["Clusters"] if c["Name"] == s.t.application]
        if named:
            described = {"Cluster": named[0]}
        else:
            described = s.call(
                ARC_CONFIG, ARC_CONTROL_REGION, "create_cluster", ClusterName=s.t.application
            )
            s.report.add(f"arc cluster {s.t.application}")
    cluster_arn = str(described["Cluster"]["ClusterArn"])
    endpoints = [
        ArcEndpoint(region=e["Region"], url=e["Endpoint"])
        for e in described["Cluster"]["ClusterEndpoints"]
    ]
    panels = s.call(ARC_CONFIG, ARC_CONTROL_REGION, "list_control_panels", ClusterArn=cluster_arn)
    panel = next((p for p in panels["ControlPanels"] if p["Name"] == s.t.application), None)
    if panel is None:
        panel = s.call(
            ARC_CONFIG,
            ARC_CONTROL_REGION,
            "create_control_panel",
            ClusterArn=cluster_arn,
            ControlPanelName=s.t.application,
        )["ControlPanel"]
        s.report.add(f"arc control panel {s.t.application}")
    panel_arn = str(panel["ControlPanelArn"])
    listed = s.call(
        ARC_CONFIG, ARC_CONTROL_REGION, "list_routing_controls", ControlPanelArn=panel_arn
    )["RoutingControls"]
    by_arn = {c["RoutingControlArn"] for c in listed}
    by_name = {c["Name"]: c["RoutingControlArn"] for c in listed}
    real: dict[str, str] = {}
    created: list[str] = []
    for region in s.t.regions.values():
        for arn in region.traffic.routing_controls:
            if arn in by_arn:
                real[arn] = arn
                continue
            name = arn.rsplit("/", 1)[-1]
            if name not in by_name:
                by_name[name] = s.call(
                    ARC_CONFIG,
                    ARC_CONTROL_REGION,
                    "create_routing_control",
                    ClusterArn=cluster_arn,
                    ControlPanelArn=panel_arn,
                    RoutingControlName=name,
                )["RoutingControl"]["RoutingControlArn"]
                created.append(by_name[name])
                s.report.add(f"arc routing control {name}")
            real[arn] = str(by_name[name])
    if created:  # AWS creates routing controls Off: the topology's regions take traffic
        _routing_controls_on(s, endpoints[0], created)
    return spec.model_copy(update={"cluster_arn": cluster_arn, "endpoints": endpoints}), real


def _routing_controls_on(s: Seeder, endpoint: ArcEndpoint, arns: list[str]) -> None:
    from mr_failover.aws import ClientFactory

    # The data plane answers on the cluster's endpoints only, signed for their region.
    factory = ClientFactory(None, endpoint_url=endpoint.url)
    client = factory.client("route53-recovery-cluster", endpoint.region)
    entries = [{"RoutingControlArn": a, "RoutingControlState": "On"} for a in arns]
    try:
        client.update_routing_control_states(UpdateRoutingControlStateEntries=entries)
    except Exception as exc:
        call = "route53-recovery-cluster:UpdateRoutingControlStates"
        raise translate(exc, endpoint.region, call) from None
