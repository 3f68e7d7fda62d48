"""Regional API endpoints as status sees them: API Gateway custom domains and their ACM
certificates.

Per region, each custom domain of the topology is read from API Gateway (REST: the
``apigateway`` API; HTTP: ``apigatewayv2``): its endpoint type, its regional domain name
(what the region's Route 53 record must point at), its base path mappings and its
certificate, which is then described in ACM in the same region (a regional endpoint can
only use a certificate of its own region). Every call is asked of the region it
describes. Judging happens in :mod:`mr_failover.status`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mr_failover.aws import call, call_error, error_code
from mr_failover.resources.section import (
    Cell,
    Judgement,
    Read,
    ReadContext,
    RegionStatus,
    RegionView,
    Section,
    at_once,
)
from mr_failover.topology import ApiEndpoint

if TYPE_CHECKING:
    from mr_failover.aws import ClientSource
    from mr_failover.topology import Region

_NOT_FOUND = {"NotFoundException", "ResourceNotFoundException"}
# API Gateway REST spells the root mapping "(none)"; HTTP APIs use an empty key.
ROOT_PATHS = frozenset({"", "(none)"})


@dataclass(frozen=True)
class CertificateFinding:
    arn: str
    status: str  # ISSUED, PENDING_VALIDATION, EXPIRED, ... or NOT_FOUND
    not_after: datetime | None

    def days_left(self, now: datetime) -> float | None:
        if self.not_after is None:
            return None
        return (self.not_after - now).total_seconds() / 86_400


@dataclass(frozen=True)
class Mapping:
    base_path: str  # "" for the root
    api_id: str
    stage: str | None


@dataclass(frozen=True)
class ApiEndpointFinding:
    domain: str
    api_type: str
    found: bool
    endpoint_type: str | None = None  # REGIONAL or EDGE
    regional_domain_name: str | None = None
    regional_hosted_zone_id: str | None = None
    mappings: tuple[Mapping, ...] = ()
    certificate: CertificateFinding | None = None

    def mapping(self, base_path: str, api_id: str | None) -> Mapping | None:
        """The mapping of ``base_path`` (to ``api_id`` when given)."""
        want = "" if base_path in ROOT_PATHS else base_path.strip("/")
        for m in self.mappings:
            if m.base_path == want and (api_id is None or m.api_id == api_id):
                return m
        return None


def observe_endpoint(
    apigw: Any, acm: Any, spec: ApiEndpoint, *, apigwv2: Any | None = None
) -> ApiEndpointFinding:
    """Read ``spec``'s custom domain; ``apigwv2`` is the client for an HTTP API's domain.

    The domain first; then its base path mappings (API Gateway) and its certificate (ACM,
    the ARN from the topology or from the domain) at the same time.
    """
    http = spec.api_type == "http"
    client = apigwv2 if http else apigw
    assert client is not None
    d = _domain(client, spec)
    if d is None:
        return ApiEndpointFinding(domain=spec.domain, api_type=spec.api_type, found=False)
    if http:
        c = _http_config(d)
        endpoint_type = c.get("EndpointType")
        regional_name, zone = c.get("ApiGatewayDomainName"), c.get("HostedZoneId")
        cert = c.get("CertificateArn")
    else:
        types = d.get("endpointConfiguration", {}).get("types", [])
        endpoint_type = types[0] if types else None
        regional_name, zone = d.get("regionalDomainName"), d.get("regionalHostedZoneId")
        cert = d.get("regionalCertificateArn") or d.get("certificateArn")
    cert_arn = spec.certificate_arn or cert
    mappings, certificate = at_once(
        lambda: _http_mappings(client, spec) if http else _rest_mappings(client, spec),
        lambda: observe_certificate(acm, cert_arn) if cert_arn else None,
    )
    return ApiEndpointFinding(
        domain=spec.domain,
        api_type=spec.api_type,
        found=True,
        endpoint_type=endpoint_type,
        regional_domain_name=regional_name,
        regional_hosted_zone_id=zone,
        mappings=mappings,
        certificate=certificate,
    )


def _missing(client: Any, operation: str, exc: Exception) -> bool:
    if error_code(exc) in _NOT_FOUND:
        return True
    raise call_error(client, operation, exc) from None


def _domain(client: Any, spec: ApiEndpoint) -> dict[str, Any] | None:
    """The custom domain (REST: ``domainName``, HTTP: ``DomainName``); None when missing."""
    key = "DomainName" if spec.api_type == "http" else "domainName"
    try:
        found: dict[str, Any] = client.get_domain_name(**{key: spec.domain})
    except Exception as exc:
        _missing(client, "get_domain_name", exc)
        return None
    return found


def _http_config(d: dict[str, Any]) -> dict[str, Any]:
    configs = d.get("DomainNameConfigurations", [])
    return configs[0] if configs else {}


def _rest_mappings(client: Any, spec: ApiEndpoint) -> tuple[Mapping, ...]:
    items = call(client, "get_base_path_mappings", domainName=spec.domain).get("items", [])
    return tuple(
        Mapping(
            base_path="" if m.get("basePath", "") in ROOT_PATHS else m["basePath"],
            api_id=str(m.get("restApiId", "")),
            stage=m.get("stage"),
        )
        for m in items
    )


def _http_mappings(client: Any, spec: ApiEndpoint) -> tuple[Mapping, ...]:
    items = call(client, "get_api_mappings", DomainName=spec.domain).get("Items", [])
    return tuple(
        Mapping(
            base_path=str(m.get("ApiMappingKey", "")).strip("/"),
            api_id=str(m.get("ApiId", "")),
            stage=m.get("Stage"),
        )
        for m in items
    )


def observe_certificate(client: Any, arn: str) -> CertificateFinding:
    try:
        c = client.describe_certificate(CertificateArn=arn)["Certificate"]
    except Exception as exc:
        _missing(client, "describe_certificate", exc)
        return CertificateFinding(arn=arn, status="NOT_FOUND", not_after=None)
    not_after = c.get("NotAfter")
    return CertificateFinding(
        arn=arn,
        status=str(c.get("Status", "")),
        not_after=not_after if isinstance(not_after, datetime) else None,
    )


def same_host(a: str, b: str) -> bool:
    """Host names equal up to case, a trailing dot and Route 53's ``dualstack.`` prefix."""

    def norm(h: str) -> str:
        return h.lower().rstrip(".").removeprefix("dualstack.")

    return norm(a) == norm(b)


# --- the status section ------------------------------------------------------------------


@dataclass(frozen=True)
class ApiEndpointStatus:
    """A regional API endpoint, and its certificate's days left when observed."""

    endpoint: ApiEndpointFinding
    certificate_days_left: float | None


@dataclass(frozen=True)
class ApiStatus:
    endpoints: tuple[ApiEndpointStatus, ...]


def api_clients(factory: ClientSource, region: str, spec: Region) -> tuple[Any, Any, Any | None]:
    """API Gateway (REST), ACM and, when an endpoint is an HTTP API, API Gateway v2."""
    v2 = (
        factory.client("apigatewayv2", region)
        if any(a.api_type == "http" for a in spec.api_endpoints)
        else None
    )
    return factory.client("apigateway", region), factory.client("acm", region), v2


def observe_api(factory: ClientSource, region: str, spec: Region, now: datetime) -> ApiStatus:
    apigw, acm, v2 = api_clients(factory, region, spec)
    out = []
    for api in spec.api_endpoints:
        found = observe_endpoint(apigw, acm, api, apigwv2=v2)
        days = found.certificate.days_left(now) if found.certificate else None
        out.append(ApiEndpointStatus(endpoint=found, certificate_days_left=days))
    return ApiStatus(endpoints=tuple(out))


class ApiSection(Section):
    name = "api"
    rounds = 2  # the domain, then its mappings and certificate
    title = "api"
    layout = "line"

    def reads(self, ctx: ReadContext) -> list[Read]:
        if not ctx.spec.api_endpoints:
            return []
        return [Read("api", lambda: observe_api(ctx.factory, ctx.region, ctx.spec, ctx.now))]

    def judge(self, view: RegionView) -> Judgement:
        a = view.get("api")
        if not isinstance(a, ApiStatus):
            return Judgement()
        from mr_failover.resources.route53 import TrafficStatus

        reasons: list[str] = []
        warnings: list[str] = []
        traffic = view.get("traffic")
        min_days = view.topology.policy.certificate_min_days
        specs = {e.domain: e for e in view.spec.api_endpoints}
        for st in a.endpoints:
            f = st.endpoint
            spec = specs[f.domain]
            where = f"api: {f.domain}"
            if not f.found:
                reasons.append(f"{where}: no API Gateway custom domain in {view.region}")
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
                if spec.certificate_arn and spec.certificate_arn != cert.arn:
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
            if not isinstance(traffic, TrafficStatus):
                warnings.append(f"{where}: record {spec.record} not checked (Route 53 not read)")
                continue
            rec = next((r for r in traffic.records if r.set_identifier == spec.record), None)
            if rec is None or not rec.found:
                continue  # the traffic section already says the record is missing
            target = f.regional_domain_name or ""
            if not any(same_host(v, target) for v in rec.values):
                shown = ", ".join(rec.values) or "nothing"
                reasons.append(
                    f"{where}: record {rec.name} ({rec.set_identifier}) points at {shown}, "
                    f"not this region's {target}"
                )
        return Judgement(reasons, warnings, value=a)

    def value_cell(self, a: ApiStatus, r: RegionStatus) -> Cell:
        parts = []
        for st in a.endpoints:
            e = st.endpoint
            if not e.found:
                parts.append("missing")
            elif e.certificate is None or e.certificate.status != "ISSUED":
                parts.append("cert " + (e.certificate.status.lower() if e.certificate else "none"))
            elif st.certificate_days_left is not None:
                parts.append(f"cert {max(st.certificate_days_left, 0):.0f}d")
            else:
                parts.append("ok")
        return Cell(", ".join(parts) or "-")


SECTION = ApiSection()
