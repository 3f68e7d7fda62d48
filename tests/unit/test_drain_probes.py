"""drain and the topology's application probes: an absorbing region whose own probe
fails cannot take the traffic (what clients would get there), and only the other
regions' own URLs are probed (the drained region may not answer)."""

from __future__ import annotations

import dataclasses
from typing import Any

from mr_failover.operations import drain as op
from mr_failover.resources.probes import ProbeResult
from mr_failover.topology import Probes
from tests.unit.test_drain import ecs, make_topology, region_status, report

EAST, WEST = "us-east-1", "us-west-2"


def probed() -> Any:
    spec = Probes.model_validate(
        {
            "global_url": "https://api.example.com/health",
            "regions": {
                EAST: "https://east.example.com/health",
                WEST: "https://west.example.com/h",
            },
        }
    )
    return make_topology().model_copy(update={"probes": spec})


def test_only_the_other_regions_own_urls_are_probed() -> None:
    t = probed()
    narrowed = op._absorber_probes(t, [WEST])
    assert narrowed.probes is not None
    assert narrowed.probes.global_url is None
    assert {r: str(u) for r, u in narrowed.probes.regions.items()} == {
        WEST: "https://west.example.com/h"
    }
    bare = make_topology()
    assert op._absorber_probes(bare, [WEST]) is bare  # no probes: nothing more is read


def test_an_absorber_whose_application_fails_cannot_take_the_traffic() -> None:
    failed = ProbeResult(WEST, "https://west.example.com/h", False, 503, 4.0, WEST, "HTTP 503")
    fine = dataclasses.replace(failed, target=EAST, ok=True, status=200, error=None)
    seen = dataclasses.replace(
        report(region_status(WEST, services=(ecs(2, 2),))),
        global_found={"probes": (failed, fine)},
    )
    (west,) = op.judge_absorbers(probed(), seen, scale_up=True)
    assert west.blockers == ("its application probe https://west.example.com/h failed: HTTP 503",)
    ok = dataclasses.replace(seen, global_found={"probes": (fine,)})
    (west,) = op.judge_absorbers(probed(), ok, scale_up=True)
    assert west.ok
