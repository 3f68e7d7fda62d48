"""The services status reads, in the order of the report: one line per service.

Adding a service: its module under ``resources/`` with a :class:`Section` (see
docs/ARCHITECTURE.md), its part of the topology model, and one line here.
"""

from __future__ import annotations

from mr_failover.resources import (
    apigateway,
    aurora,
    capacity,
    cloudfront,
    compute,
    dynamodb,
    elasticache,
    globalaccelerator,
    parity,
    readiness,
    route53,
    s3,
)
from mr_failover.resources.section import GlobalSection, Section

SECTIONS: tuple[Section, ...] = (
    route53.SECTION,
    aurora.SECTION,
    dynamodb.SECTION,
    s3.SECTION,
    compute.SECTION,
    globalaccelerator.SECTION,
    elasticache.SECTION,
    apigateway.SECTION,
    readiness.SECTION,
    parity.SECTION,
    capacity.SECTION,
)
GLOBAL_SECTIONS: tuple[GlobalSection, ...] = (cloudfront.SECTION,)
