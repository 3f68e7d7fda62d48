"""CloudFront origin groups as status sees them: which origin fails over to which.

A distribution is global and its API is a control plane in us-east-1, so the
distributions are observed once, not per region. Each origin group's primary and
secondary origin is placed in a region (from the origin's domain name, else from the
topology's buckets), and its failover status codes are read from the distribution
config. Judging whether a region can take over happens in :mod:`mr_failover.status`:
this module only reads and types what is there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from mr_failover.aws import call
from mr_failover.errors import AwsCallError
from mr_failover.resources.section import GlobalSection, RegionStatus, Verdict
from mr_failover.topology import Distribution

if TYPE_CHECKING:
    from mr_failover.aws import ClientSource
    from mr_failover.topology import Topology

CONTROL_PLANE_REGION = "us-east-1"
# A primary that is down answers 5xx or times out; criteria without any 5xx code only
# fail over on 403/404, which a dead region never returns.
SERVER_ERRORS = frozenset({500, 502, 503, 504})
# rule: cloudfront-failover-methods
# "Optimize high availability with CloudFront origin failover", Amazon CloudFront
# Developer Guide,
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/high_availability_origin_failover.html:
# CloudFront fails over to the secondary origin only when the viewer request's method is
# GET, HEAD or OPTIONS; a POST, PUT, PATCH or DELETE sent to the group is not retried.
FAILOVER_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# bucket.s3.us-west-2.amazonaws.com, bucket.s3-us-west-2.amazonaws.com,
# bucket.s3-website-us-west-2.amazonaws.com, bucket.s3-website.us-west-2.amazonaws.com
_S3 = re.compile(
    r"^(?P<bucket>.+)\.s3(?:-website)?(?:[.-](?P<region>[a-z0-9-]+))?\.amazonaws\.com$"
)
_REGION_IN_HOST = re.compile(r"(?:^|[.-])([a-z]{2}(?:-gov)?-[a-z]+-\d)(?=\.)")


@dataclass(frozen=True)
class Origin:
    id: str
    domain: str
    region: str | None  # None: could not tell from the name or the topology
    bucket: str | None  # the S3 bucket, for an S3 origin


@dataclass(frozen=True)
class OriginGroupFinding:
    id: str
    primary: Origin | None
    secondary: Origin | None
    status_codes: tuple[int, ...]
    targeted: bool  # some cache behaviour sends requests to the group
    # Methods the cache behaviours targeting the group allow that origin failover does not
    # cover (POST, PUT, PATCH, DELETE): those requests fail with the primary.
    unprotected_methods: tuple[str, ...] = ()

    @property
    def fails_over_on_server_errors(self) -> bool:
        return bool(SERVER_ERRORS & set(self.status_codes))


@dataclass(frozen=True)
class DistributionFinding:
    name: str
    id: str
    domain_name: str
    status: str
    enabled: bool
    groups: tuple[OriginGroupFinding, ...]
    missing_groups: tuple[str, ...]  # named by the topology, absent from the config


def origin_region(domain: str, bucket_regions: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(region, bucket) of an origin host name; bucket None when not an S3 origin."""
    host = domain.lower().rstrip(".")
    s3 = _S3.match(host)
    if s3:
        bucket = s3.group("bucket")
        region = s3.group("region")
        if region in (None, "external-1"):  # the legacy global endpoint names no region
            region = bucket_regions.get(bucket)
        return region, bucket
    found = _REGION_IN_HOST.search(host)
    return (found.group(1) if found else None), None


def distributions(client: Any) -> Iterator[dict[str, Any]]:
    """Every distribution's summary (ListDistributions, page by page)."""
    marker: str | None = None
    while True:
        params = {"Marker": marker} if marker else {}
        page = call(client, "list_distributions", **params)["DistributionList"]
        yield from page.get("Items", [])
        if not page.get("IsTruncated"):
            return
        marker = page.get("NextMarker")


def find_distribution_id(client: Any, alias: str) -> str:
    """The id of the distribution that has ``alias`` among its alternate domain names."""
    wanted = alias.lower().rstrip(".")
    for item in distributions(client):
        aliases = item.get("Aliases", {}).get("Items", [])
        if wanted in (a.lower().rstrip(".") for a in aliases):
            return str(item["Id"])
    raise AwsCallError(
        CONTROL_PLANE_REGION,
        "cloudfront:ListDistributions",
        f"no distribution has the alias {alias}",
        "create it, or set 'id' on the distribution in the topology",
    )


def observe_distribution(
    client: Any, spec: Distribution, bucket_regions: Mapping[str, str]
) -> DistributionFinding:
    dist_id = spec.id or find_distribution_id(client, spec.alias or "")
    dist = call(client, "get_distribution", Id=dist_id)["Distribution"]
    return distribution_finding(spec, dist, bucket_regions)


def distribution_finding(
    spec: Distribution, dist: Mapping[str, Any], bucket_regions: Mapping[str, str]
) -> DistributionFinding:
    """Type a ``GetDistribution`` answer (split out so any config shape can be tested)."""
    config = dist.get("DistributionConfig", {})
    origins: dict[str, Origin] = {}
    for o in config.get("Origins", {}).get("Items", []):
        region, bucket = origin_region(str(o.get("DomainName", "")), bucket_regions)
        origins[o["Id"]] = Origin(
            id=o["Id"], domain=str(o.get("DomainName", "")), region=region, bucket=bucket
        )
    behaviors = [config.get("DefaultCacheBehavior", {})]
    behaviors += config.get("CacheBehaviors", {}).get("Items", [])
    targets = {cb.get("TargetOriginId") for cb in behaviors}
    # AllowedMethods absent: CloudFront's default, GET and HEAD.
    methods: dict[str, set[str]] = {}
    for cb in behaviors:
        allowed = cb.get("AllowedMethods", {}).get("Items", ["GET", "HEAD"])
        methods.setdefault(cb.get("TargetOriginId"), set()).update(str(m) for m in allowed)
    groups = []
    for g in config.get("OriginGroups", {}).get("Items", []):
        if spec.origin_groups and g["Id"] not in spec.origin_groups:
            continue
        members = [m.get("OriginId") for m in g.get("Members", {}).get("Items", [])]
        codes = g.get("FailoverCriteria", {}).get("StatusCodes", {}).get("Items", [])
        groups.append(
            OriginGroupFinding(
                id=g["Id"],
                primary=origins.get(members[0]) if members else None,
                secondary=origins.get(members[1]) if len(members) > 1 else None,
                status_codes=tuple(sorted(int(c) for c in codes)),
                targeted=g["Id"] in targets,
                unprotected_methods=tuple(sorted(methods.get(g["Id"], set()) - FAILOVER_METHODS)),
            )
        )
    present = {g.id for g in groups}
    return DistributionFinding(
        name=spec.name,
        id=str(dist.get("Id", spec.id or "")),
        domain_name=str(dist.get("DomainName", "")),
        status=str(dist.get("Status", "")),
        enabled=bool(config.get("Enabled", False)),
        groups=tuple(groups),
        missing_groups=tuple(g for g in spec.origin_groups if g not in present),
    )


# --- the status section (global: observed once for every region) -----------------------


def cloudfront_problems(
    topology: Topology,
    found: Sequence[DistributionFinding],
    verdicts: Mapping[str, str],
) -> tuple[dict[str, list[str]], list[str]]:
    """Reasons per region (the secondary origin's), and report-wide warnings.

    A group that cannot fail over, or whose secondary S3 origin does not receive the
    primary's objects, stops the secondary's region taking over what CloudFront serves.
    A secondary in a drained or unreachable region is the primary's risk: a warning.
    """
    reasons: dict[str, list[str]] = {}
    warnings: list[str] = []
    replicates = {
        (b.name, t.bucket)
        for r in topology.regions.values()
        for b in r.s3_buckets
        for t in b.replicate_to
    }
    for d in found:
        for name in d.missing_groups:
            warnings.append(f"cloudfront: {d.name} has no origin group {name}")
        for g in d.groups:
            where = f"cloudfront: {d.name} origin group {g.id}"
            sec, pri = g.secondary, g.primary
            if sec is None or pri is None:
                warnings.append(f"{where}: a member origin is missing")
                continue
            target = sec.region
            problems: list[str] = []
            if not g.status_codes:
                problems.append(f"{where} has no failover criteria")
            elif not g.fails_over_on_server_errors:
                codes = ", ".join(map(str, g.status_codes))
                problems.append(f"{where} fails over only on {codes}, not on 5xx errors")
            if not g.targeted:
                problems.append(f"{where} is not the target of any cache behavior")
            if g.unprotected_methods:
                warnings.append(
                    f"{where}: origin failover covers only GET, HEAD and OPTIONS requests; "
                    f"its cache behavior also allows {', '.join(g.unprotected_methods)}, which "
                    "fail when the primary origin fails"
                )
            if (
                pri.bucket
                and sec.bucket
                and pri.bucket != sec.bucket
                and (pri.bucket, sec.bucket) not in replicates
            ):
                problems.append(
                    f"{where}: secondary bucket {sec.bucket} is not the replication "
                    f"destination of {pri.bucket}"
                )
            if target is None or target not in verdicts:
                warnings.extend(problems)
                if target is None:
                    warnings.append(f"{where}: region of secondary origin {sec.domain} unknown")
            else:
                if problems:
                    reasons.setdefault(target, []).extend(problems)
                if verdicts[target] in ("drained", "unreachable"):
                    warnings.append(
                        f"{where}: secondary origin {sec.id} is in {target}, "
                        f"which is {verdicts[target]}"
                    )
    return reasons, warnings


class CloudFrontSection(GlobalSection):
    name = "cloudfront"
    rounds = 2  # ListDistributions, then each distribution
    api_region = CONTROL_PLANE_REGION

    def declared(self, topology: Topology) -> bool:
        return bool(topology.cloudfront_distributions)

    def read(self, topology: Topology, factory: ClientSource) -> tuple[DistributionFinding, ...]:
        client = factory.client("cloudfront", CONTROL_PLANE_REGION)
        buckets = {b.name: n for n, r in topology.regions.items() for b in r.s3_buckets}
        return tuple(
            observe_distribution(client, d, buckets) for d in topology.cloudfront_distributions
        )

    def apply(
        self,
        topology: Topology,
        regions: tuple[RegionStatus, ...],
        found: tuple[Any, ...],
    ) -> tuple[tuple[RegionStatus, ...], list[str]]:
        if not found:
            return regions, []
        reasons, warnings = cloudfront_problems(
            topology, found, {r.name: r.verdict for r in regions}
        )
        out = []
        for r in regions:
            extra = reasons.get(r.name)
            if not extra:
                out.append(r)
                continue
            verdict: Verdict = "unreachable" if r.verdict == "unreachable" else "degraded"
            out.append(
                replace(r, verdict=verdict, can_take_over=False, reasons=(*r.reasons, *extra))
            )
        return tuple(out), warnings

    def lines(self, found: tuple[Any, ...]) -> list[str]:
        """``cloudfront assets/g: us-east-1 -> us-west-2 on 500,502,503,504``."""
        out = []
        for d in found:
            for g in d.groups:
                pri = g.primary.region if g.primary else "?"
                sec = g.secondary.region if g.secondary else "?"
                codes = ",".join(map(str, g.status_codes)) or "no failover criteria"
                out.append(f"cloudfront {d.name}/{g.id}: {pri} -> {sec} on {codes}")
        return out


SECTION = CloudFrontSection()
