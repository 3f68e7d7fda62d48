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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mr_failover.aws import call
from mr_failover.errors import AwsCallError
from mr_failover.topology import Distribution

CONTROL_PLANE_REGION = "us-east-1"
# A primary that is down answers 5xx or times out; criteria without any 5xx code only
# fail over on 403/404, which a dead region never returns.
SERVER_ERRORS = frozenset({500, 502, 503, 504})

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


def find_distribution_id(client: Any, alias: str) -> str:
    """The id of the distribution that has ``alias`` among its alternate domain names."""
    wanted = alias.lower().rstrip(".")
    marker: str | None = None
    while True:
        params = {"Marker": marker} if marker else {}
        page = call(client, "list_distributions", **params)["DistributionList"]
        for item in page.get("Items", []):
            aliases = item.get("Aliases", {}).get("Items", [])
            if wanted in (a.lower().rstrip(".") for a in aliases):
                return str(item["Id"])
        if not page.get("IsTruncated"):
            break
        marker = page.get("NextMarker")
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
    targets = {config.get("DefaultCacheBehavior", {}).get("TargetOriginId")}
    targets |= {
        cb.get("TargetOriginId") for cb in config.get("CacheBehaviors", {}).get("Items", [])
    }
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
