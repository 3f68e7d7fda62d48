"""Export the topology as an ARC Region switch plan: the ``CreatePlan`` request.

This module owns the translation from a topology and a pair of its regions to the
request body of ``arc-region-switch`` ``CreatePlan`` (protocol smithy-rpc-v2-cbor;
botocore's model is the reference for every member name). It is pure: no AWS call, no
client, no printing. What it cannot express, and the ids it could not find in the
topology, come back as notes for the command to print.

How the plan is built:
- recovery approach: active-active when both regions take traffic in steady state
  according to the topology's traffic entries (latency records, weighted records with a
  weight above 0, failover PRIMARY records, an accelerator dial above 0); otherwise
  active-passive with ``primaryRegion`` = the topology's primary region. A region with no
  traffic entry counts as serving only when it is the primary region.
- workflows: active-passive has one ``activate`` workflow per region; active-active has
  ``activate`` and ``deactivate`` workflows per region. Each starts with a manual
  approval, then scales the compute that must absorb the traffic (ECS services, EC2 Auto
  Scaling groups), then moves the Aurora global database writer (switchover when graceful,
  failover when ungraceful), then moves traffic (ARC routing controls when both regions
  have them, else Route 53 health check blocks for the records).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from mr_failover.errors import UsageError
from mr_failover.topology import Readiness, Region, Topology

# Patterns copied from the arc-region-switch model (botocore 1.44): its ParamValidator
# checks types and lengths but not patterns, and AWS would only refuse at CreatePlan.
PLAN_NAME_PATTERN = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,30}[a-zA-Z0-9])?"
IAM_ROLE_ARN_PATTERN = r"arn:aws[a-zA-Z0-9-]*:iam::[0-9]{12}:role/.+"
ASG_ARN_PATTERN = (
    r"arn:aws[a-zA-Z-]*:autoscaling:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"autoScalingGroup:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:"
    r"autoScalingGroupName/(?P<name>[\S\s]{1,255})"
)
RTO_MAX_MINUTES = 10_080  # the model's bound for recoveryTimeObjectiveMinutes

# Active-active: when a region is deactivated, the one that stays must absorb its share.
# Region switch scales the staying region to this percentage of the leaving region's
# 24-hour maximum, so 200 assumes the two regions carried equal shares.
ABSORB_PERCENT = 200
MATCH_PERCENT = 100

SERVICE = "arc-region-switch"
OPERATION = "CreatePlan"


@dataclass(frozen=True)
class RegionSwitchExport:
    """The ``CreatePlan`` request and what the operator must know about it."""

    request: dict[str, Any]
    approach_reason: str
    api_region: str
    notes: tuple[str, ...] = ()  # roles to create, derived values, assumptions
    gaps: tuple[str, ...] = ()  # blocks left out for a missing id, and how to get it
    not_covered: tuple[str, ...] = ()  # what the topology has that the plan cannot do

    def to_json(self) -> str:
        return json.dumps(self.request, indent=2) + "\n"

    def create_command(self, file: str) -> str:
        """The AWS CLI command that creates the plan from ``file``."""
        return (
            f"aws arc-region-switch create-plan --cli-input-json file://{file} "
            f"--region {self.api_region}"
        )


@dataclass(frozen=True)
class _Serving:
    serves: bool
    why: str


@dataclass
class _Build:
    """Mutable scratch while the request is assembled."""

    topology: Topology
    pair: tuple[str, str]
    notes: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)


def parse_regions(text: str) -> tuple[str, str]:
    """``"us-east-1,us-west-2"`` -> the pair; anything but two distinct regions is refused."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if len(names) != 2:
        raise UsageError(
            f"--regions: a Region switch plan holds exactly two regions, got {len(names)} "
            f"({', '.join(names) or 'none'}); pass two, like --regions us-east-1,us-west-2"
        )
    if names[0] == names[1]:
        raise UsageError(f"--regions: the two regions must differ, got {names[0]} twice")
    return names[0], names[1]


def region_switch_plan(
    topology: Topology,
    regions: Sequence[str],
    *,
    name: str | None = None,
    execution_role: str | None = None,
    approval_role: str | None = None,
    asg_arns: Iterable[str] = (),
) -> RegionSwitchExport:
    """Build the ``CreatePlan`` request for ``regions`` (two regions of ``topology``)."""
    pair = _check_pair(topology, regions)
    b = _Build(topology, pair)
    plan_name = _plan_name(topology, name)
    exec_role = _role(b, execution_role, "execution", "--execution-role", "region-switch")
    approver = _role(b, approval_role, "approval", "--approval-role", "region-switch-approver")
    asgs = _asg_arns(topology, pair, asg_arns)

    serving = {r: _serving(topology, r) for r in pair}
    active_active = all(s.serves for s in serving.values())
    why = "; ".join(f"{r}: {s.why}" for r, s in serving.items())
    request: dict[str, Any] = {
        "name": plan_name,
        "description": (
            f"{topology.application}: exported by mr-failover from its topology. Region "
            "switch does not check replication: run `mr-failover check replication` "
            "(go / no-go) before executing."
        ),
        "regions": list(pair),
        "executionRole": exec_role,
        "recoveryTimeObjectiveMinutes": min(
            RTO_MAX_MINUTES, math.ceil(topology.policy.rto_seconds / 60)
        ),
        "tags": {"application": topology.application, "created-by": "mr-failover"},
    }
    if active_active:
        request["recoveryApproach"] = "activeActive"
        reason = f"active-active: both regions take traffic in steady state ({why})"
    else:
        primary = _primary(topology, pair, serving)
        request["recoveryApproach"] = "activePassive"
        request["primaryRegion"] = primary
        reason = f"active-passive, primary {primary}: not both regions serve ({why})"

    blocks = _Blocks(b, approver, asgs, active_active)
    workflows: list[dict[str, Any]] = []
    for region in pair:
        workflows.append(_workflow("activate", region, blocks.activate(region)))
    if active_active:
        for region in pair:
            workflows.append(_workflow("deactivate", region, blocks.deactivate(region)))
    request["workflows"] = workflows

    return RegionSwitchExport(
        request=request,
        approach_reason=reason,
        api_region=create_plan_region(pair[0]),
        notes=tuple(b.notes),
        gaps=tuple(dict.fromkeys(b.gaps)),
        not_covered=tuple(_not_covered(topology, pair)),
    )


# --- validation of the command line --------------------------------------------------


def _check_pair(topology: Topology, regions: Sequence[str]) -> tuple[str, str]:
    if len(regions) != 2 or regions[0] == regions[1]:
        raise UsageError(
            f"a Region switch plan holds exactly two distinct regions, got {list(regions)}"
        )
    missing = [r for r in regions if r not in topology.regions]
    if missing:
        raise UsageError(
            f"--regions: {', '.join(missing)} not in the topology (its regions: "
            f"{', '.join(topology.regions)})"
        )
    return regions[0], regions[1]


def _plan_name(topology: Topology, name: str | None) -> str:
    if name is not None:
        if not re.fullmatch(PLAN_NAME_PATTERN, name):
            raise UsageError(
                f"--name {name!r}: a plan name is 1 to 32 letters, digits or hyphens, "
                "starting and ending with a letter or digit"
            )
        return name
    base = _slug(topology.application) or "app"
    suffix = "-region-switch"
    return (base[: 32 - len(suffix)].rstrip("-") + suffix).lstrip("-")


def _role(b: _Build, given: str | None, what: str, option: str, suffix: str) -> str:
    if given is not None:
        if not re.fullmatch(IAM_ROLE_ARN_PATTERN, given):
            raise UsageError(
                f"{option} {given!r} is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)"
            )
        return given
    t = b.topology
    role = f"{_slug(t.application) or 'app'}-{suffix}"[:64]  # IAM's limit on a role name
    arn = f"arn:{partition(b.pair[0])}:iam::{t.account_id}:role/{role}"
    b.notes.append(
        f"{what} role {arn} is derived ({option} to choose another): it must exist before "
        "CreatePlan"
        + (
            ", trusted by arc-region-switch.amazonaws.com, with the permissions of every block"
            if what == "execution"
            else ", and be the role approvers use to approve the step"
        )
    )
    return arn


def _asg_arns(topology: Topology, pair: tuple[str, str], given: Iterable[str]) -> dict[str, str]:
    """``--asg-arn`` values by ``region/name``; each must name an ASG of the topology."""
    out: dict[str, str] = {}
    for arn in given:
        m = re.fullmatch(ASG_ARN_PATTERN, arn)
        if m is None:
            raise UsageError(
                f"--asg-arn {arn!r} is not an Auto Scaling group ARN (aws autoscaling "
                "describe-auto-scaling-groups gives AutoScalingGroupARN)"
            )
        region, account, asg = m["region"], m["account"], m["name"]
        if account != topology.account_id:
            raise UsageError(
                f"--asg-arn {arn}: account {account} is not the topology's {topology.account_id}"
            )
        names = (
            [g.name for g in topology.regions[region].compute.autoscaling_groups]
            if region in pair
            else []
        )
        if asg not in names:
            raise UsageError(
                f"--asg-arn {arn}: {asg} is not an Auto Scaling group of {region} in the "
                f"topology for regions {', '.join(pair)}"
            )
        out[f"{region}/{asg}"] = arn
    return out


# --- steady state and approach --------------------------------------------------------


def _serving(topology: Topology, name: str) -> _Serving:
    """Does the topology say this region takes traffic in steady state, and why."""
    region = topology.regions[name]
    on: list[str] = []
    off: list[str] = []
    for rec in region.traffic.records:
        label = f"{rec.routing_policy} record {rec.name}"
        if rec.routing_policy == "failover":
            (on if rec.failover == "PRIMARY" else off).append(f"{label} {rec.failover}")
        elif rec.routing_policy == "weighted":
            (on if (rec.weight or 0) > 0 else off).append(f"{label} weight {rec.weight}")
        else:
            on.append(label)
    if region.global_accelerator is not None:
        dial = region.global_accelerator.traffic_dial
        (on if dial > 0 else off).append(f"accelerator traffic dial {dial}")
    if off:
        return _Serving(False, "passive: " + ", ".join(off))
    if on:
        return _Serving(True, "serves: " + ", ".join(on))
    if name == topology.primary_region:
        return _Serving(True, "no traffic entry; serves as the primary region")
    return _Serving(False, "no traffic entry and not the primary region: taken as passive")


def _primary(topology: Topology, pair: tuple[str, str], serving: dict[str, _Serving]) -> str:
    if topology.primary_region in pair:
        return topology.primary_region
    for region in pair:
        if serving[region].serves:
            return region
    return pair[0]


# --- execution blocks -----------------------------------------------------------------


def _step(
    name: str, kind: str, config_key: str, config: dict[str, Any], what: str
) -> dict[str, Any]:
    return {
        "name": name,
        "description": what,
        "executionBlockType": kind,
        "executionBlockConfiguration": {config_key: config},
    }


def _workflow(action: str, region: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    verb = "take over traffic in" if action == "activate" else "move traffic away from"
    return {
        "workflowTargetAction": action,
        "workflowTargetRegion": region,
        "workflowDescription": f"{action} {region}: {verb} {region}",
        "steps": steps,
    }


class _Blocks:
    """The execution blocks of one plan; the same resources in every workflow."""

    def __init__(
        self, b: _Build, approver: str, asg_arns: dict[str, str], active_active: bool
    ) -> None:
        self.b = b
        self.approver = approver
        self.active_active = active_active
        self.ecs = self._ecs_pairs()
        self.asgs = self._asg_pairs(asg_arns)
        self.aurora = self._aurora()
        self.traffic = self._traffic()

    def activate(self, region: str) -> list[dict[str, Any]]:
        steps = [self._approval(f"activate {region}")]
        steps += self._scale(f"take over in {region}", MATCH_PERCENT)
        if not self.active_active and self.aurora is not None:
            steps.append(self.aurora)
        return steps + self.traffic

    def deactivate(self, region: str) -> list[dict[str, Any]]:
        other = next(r for r in self.b.pair if r != region)
        steps = [self._approval(f"deactivate {region}")]
        steps += self._scale(f"absorb {region}'s traffic in {other}", ABSORB_PERCENT)
        if self.aurora is not None:
            steps.append(self.aurora)
        return steps + self.traffic

    def _approval(self, what: str) -> dict[str, Any]:
        return _step(
            "approve",
            "ManualApproval",
            "executionApprovalConfig",
            {"approvalRole": self.approver},
            f"An operator approves: {what}. Run `mr-failover check replication` and "
            "`mr-failover status` first: they are the go / no-go.",
        )

    def _scale(self, what: str, percent: int) -> list[dict[str, Any]]:
        blocks = [
            _step(
                f"scale-ecs-{svc}",
                "ECSServiceScaling",
                "ecsCapacityIncreaseConfig",
                {
                    "services": services,
                    "targetPercent": percent,
                    "capacityMonitoringApproach": "sampledMaxInLast24Hours",
                },
                f"Scale ECS service {svc} to {percent}% of the other region's tasks ({what}).",
            )
            for svc, services in self.ecs
        ] + [
            _step(
                f"scale-asg-{label}",
                "EC2AutoScaling",
                "ec2AsgCapacityIncreaseConfig",
                {
                    "asgs": asgs,
                    "targetPercent": percent,
                    "capacityMonitoringApproach": "sampledMaxInLast24Hours",
                },
                f"Scale Auto Scaling groups {label} to {percent}% of the other region's "
                f"capacity ({what}).",
            )
            for label, asgs in self.asgs
        ]
        if len(blocks) < 2:
            return blocks
        # Capacity comes up in parallel: the slowest group, not their sum, sets the time.
        return [
            _step(
                "scale-compute",
                "Parallel",
                "parallelConfig",
                {"steps": blocks},
                f"Scale compute in parallel ({what}).",
            )
        ]

    def _ecs_pairs(self) -> list[tuple[str, list[dict[str, str]]]]:
        t, (a, c) = self.b.topology, self.b.pair
        there = {(s.cluster, s.service) for s in t.regions[c].compute.ecs_services}
        out = []
        for svc in t.regions[a].compute.ecs_services:
            key = (svc.cluster, svc.service)
            if key not in there:
                self.b.gaps.append(
                    f"ECS service {svc.cluster}/{svc.service} is in {a} but not in {c}: "
                    "no ECS scaling block for it (the block pairs one service per region)"
                )
                continue
            out.append(
                (
                    f"{svc.cluster}-{svc.service}",
                    [
                        {
                            "clusterArn": _arn(t, r, "ecs", f"cluster/{svc.cluster}"),
                            "serviceArn": _arn(t, r, "ecs", f"service/{svc.cluster}/{svc.service}"),
                        }
                        for r in self.b.pair
                    ],
                )
            )
        mine = {(s.cluster, s.service) for s in t.regions[a].compute.ecs_services}
        for key in sorted(there - mine):
            self.b.gaps.append(
                f"ECS service {key[0]}/{key[1]} is in {c} but not in {a}: no ECS scaling block"
            )
        return out

    def _asg_pairs(self, arns: dict[str, str]) -> list[tuple[str, list[dict[str, str]]]]:
        t, (a, c) = self.b.topology, self.b.pair
        left = t.regions[a].compute.autoscaling_groups
        right = t.regions[c].compute.autoscaling_groups
        if len(left) != len(right):
            if left or right:
                self.b.gaps.append(
                    f"{a} has {len(left)} Auto Scaling groups and {c} {len(right)}: they pair "
                    "up in the order listed, so no EC2 Auto Scaling block was written"
                )
            return []
        out = []
        for g1, g2 in zip(left, right, strict=True):
            found = [arns.get(f"{a}/{g1.name}"), arns.get(f"{c}/{g2.name}")]
            if None in found:
                missing = [
                    f"{r}/{g.name}"
                    for r, g, arn in ((a, g1, found[0]), (c, g2, found[1]))
                    if arn is None
                ]
                self.b.gaps.append(
                    f"EC2 Auto Scaling block for {g1.name} + {g2.name} left out: its ARN holds "
                    f"an id AWS assigns, not in the topology ({', '.join(missing)}). Get it with "
                    "`aws autoscaling describe-auto-scaling-groups --region R "
                    "--auto-scaling-group-names NAME --query "
                    "'AutoScalingGroups[0].AutoScalingGroupARN' --output text` and pass "
                    "--asg-arn ARN for each group"
                )
                continue
            out.append((f"{g1.name}-{g2.name}", [{"arn": str(arn)} for arn in found]))
        return out

    def _aurora(self) -> dict[str, Any] | None:
        t, pair = self.b.topology, self.b.pair
        auroras = [t.regions[r].aurora for r in pair]
        if all(x is None for x in auroras):
            return None
        if any(x is None for x in auroras):
            have = next(r for r, x in zip(pair, auroras, strict=True) if x is not None)
            self.b.gaps.append(
                f"only {have} has an Aurora cluster in the topology: no Aurora block"
            )
            return None
        if any(x is not None and x.mode == "replica" for x in auroras):
            self.b.gaps.append(
                "Aurora mode: replica (a cross-region read replica cluster) has no Region "
                "switch block: RdsPromoteReadReplica and RdsSwitchoverReadReplica act on RDS "
                "DB instances (db: ARNs), not on Aurora clusters (PromoteReadReplicaDBCluster). "
                "Promote with `mr-failover promote --region R --mode replica`, or add a "
                "CustomActionLambda step that calls PromoteReadReplicaDBCluster"
            )
            return None
        globals_ = {x.global_cluster for x in auroras if x is not None}
        if len(globals_) != 1:
            self.b.gaps.append(
                "the two regions name different global clusters "
                f"({', '.join(sorted(map(str, globals_)))}): no Aurora block"
            )
            return None
        global_id = str(globals_.pop())
        return _step(
            f"aurora-{global_id}",
            "AuroraGlobalDatabase",
            "globalAuroraConfig",
            {
                "behavior": "switchoverOnly",
                "ungraceful": {"ungraceful": "failover"},
                "globalClusterIdentifier": global_id,
                "databaseClusterArns": [
                    _arn(t, r, "rds", f"cluster:{x.cluster}")
                    for r, x in zip(pair, auroras, strict=True)
                    if x is not None
                ],
            },
            f"Move the writer of global database {global_id}: SwitchoverGlobalCluster "
            "(no data loss) when graceful, FailoverGlobalCluster with AllowDataLoss when "
            "ungraceful.",
        )

    def _traffic(self) -> list[dict[str, Any]]:
        t, pair = self.b.topology, self.b.pair
        controls = {r: list(t.regions[r].traffic.routing_controls) for r in pair}
        if all(controls.values()):
            return [self._routing_controls(controls)]
        if any(controls.values()):
            self.b.gaps.append(
                "only "
                + ", ".join(r for r in pair if controls[r])
                + " has routing controls: the plan moves traffic with Route 53 health check "
                "blocks instead (give both regions traffic.routing_controls to use them)"
            )
        steps = self._route53()
        if not steps:
            self.b.gaps.append(
                "no traffic step: neither routing controls in both regions nor Route 53 "
                "records in the topology (a Global Accelerator traffic dial has no Region "
                "switch block)"
            )
        return steps

    def _routing_controls(self, controls: dict[str, list[str]]) -> dict[str, Any]:
        pair = self.b.pair
        states: dict[str, list[dict[str, str]]] = {}
        for region in pair:
            mine = [{"routingControlArn": arn, "state": "On"} for arn in controls[region]]
            if not self.active_active:
                # Active-passive: taking over means the other region stops serving, or a
                # failover PRIMARY record whose control stays On would keep the traffic.
                other = next(r for r in pair if r != region)
                mine += [{"routingControlArn": arn, "state": "Off"} for arn in controls[other]]
            states[region] = mine
        what = (
            "the activated region's routing controls On, the other region's Off"
            if not self.active_active
            else "the region's routing controls On when activated, Off when deactivated"
        )
        return _step(
            "traffic-routing-controls",
            "ARCRoutingControl",
            "arcRoutingControlConfig",
            {"regionAndRoutingControls": states},
            f"Move traffic with ARC routing controls (data plane): {what}.",
        )

    def _route53(self) -> list[dict[str, Any]]:
        t, pair = self.b.topology, self.b.pair
        # One block per record name: Region switch finds each region's record set by name
        # and set identifier, in one hosted zone.
        by_name: dict[tuple[str, str], dict[str, Any]] = {}
        for region in pair:
            for rec in t.regions[region].traffic.records:
                entry = by_name.setdefault((rec.zone, rec.name), {"zone_ids": set(), "sets": []})
                entry["zone_ids"].add(rec.hosted_zone_id)
                entry["sets"].append({"recordSetIdentifier": rec.set_identifier, "region": region})
        steps = []
        for (zone, record), entry in by_name.items():
            ids = {z for z in entry["zone_ids"] if z is not None}
            if None in entry["zone_ids"] or len(ids) != 1:
                self.b.gaps.append(
                    f"Route 53 health check block for {record} left out: the topology has no "
                    f"hosted_zone_id for zone {zone} in every record. Set "
                    "traffic.records[].hosted_zone_id (from `aws route53 "
                    f"list-hosted-zones-by-name --dns-name {zone} --max-items 1 --query "
                    "'HostedZones[0].Id' --output text`), then export again"
                )
                continue
            zone_id = ids.pop().split("/")[-1]  # Route 53 answers /hostedzone/ID
            regions_with = {s["region"] for s in entry["sets"]}
            if regions_with != set(pair):
                lacking = ", ".join(sorted(set(pair) - regions_with))
                self.b.gaps.append(
                    f"record {record} has no record set in {lacking}: its Route 53 health "
                    "check block covers only the regions that have one"
                )
            steps.append(
                _step(
                    f"traffic-route53-{_slug(record)}",
                    "Route53HealthCheck",
                    "route53HealthCheckConfig",
                    {
                        "hostedZoneId": zone_id,
                        "recordName": record,
                        "recordSets": entry["sets"],
                    },
                    f"Move traffic for {record} with the health checks Region switch creates "
                    "for its record sets (attach them to the records after CreatePlan).",
                )
            )
        if steps:
            self.b.notes.append(
                "Route 53 health check blocks: Region switch creates its own health checks "
                "(`aws arc-region-switch list-route53-health-checks --arn PLAN_ARN`); attach "
                "each to its region's record. The records then follow Region switch, not the "
                "topology's health checks that `mr-failover health-check invert` flips"
            )
        return steps


# --- what the plan does not cover -----------------------------------------------------


def _not_covered(topology: Topology, pair: tuple[str, str]) -> list[str]:
    regions: list[Region] = [topology.regions[r] for r in pair]
    out = [
        "replication catch-up: Region switch does not check DynamoDB, S3 or Aurora lag "
        "before it acts; `mr-failover check replication` stays the go / no-go (RPO "
        f"{topology.policy.rpo_seconds}s)"
    ]
    tables = sorted({t for r in regions for t in r.dynamodb_tables})
    if tables:
        out.append(
            f"DynamoDB global tables ({', '.join(tables)}): no Region switch block; they are "
            "active in every region, only their lag matters"
        )
    buckets = sorted({b.name for r in regions for b in r.s3_buckets})
    if buckets:
        out.append(
            f"S3 replication ({', '.join(buckets)}): no Region switch block; "
            "`mr-failover check replication` reads its status and metrics"
        )
    caches = sorted({r.elasticache.global_datastore for r in regions if r.elasticache})
    if caches:
        out.append(
            f"ElastiCache global datastore ({', '.join(caches)}): no Region switch block; "
            "promote it by hand or with a CustomActionLambda step"
        )
    if topology.cloudfront_distributions:
        names = ", ".join(d.name for d in topology.cloudfront_distributions)
        out.append(f"CloudFront origin failover ({names}): CloudFront fails over by itself")
    if topology.global_accelerator is not None or any(r.global_accelerator for r in regions):
        out.append(
            "Global Accelerator traffic dials: no Region switch block; "
            "`mr-failover drain` turns them"
        )
    if any(r.compute.lambda_functions for r in regions):
        out.append("Lambda functions: nothing to switch; `mr-failover status` checks they exist")
    if any(r.readiness != Readiness() or r.api_endpoints for r in regions):
        out.append(
            "readiness (templates, code repository, secrets, SSM parameters, API custom "
            "domains and certificates): `mr-failover status` checks them"
        )
    return out


# --- ARNs, partitions, endpoint -------------------------------------------------------


@cache
def _partitions() -> tuple[dict[str, Any], ...]:
    import botocore.loaders

    data = botocore.loaders.create_loader().load_data("partitions")
    return tuple(data["partitions"])


def partition(region: str) -> str:
    """``aws``, ``aws-cn``, ``aws-us-gov``...: the ARN partition of ``region``."""
    for p in _partitions():
        if region in p.get("regions", {}) or re.match(p["regionRegex"], region):
            return str(p["id"])
    return "aws"


def _arn(topology: Topology, region: str, service: str, resource: str) -> str:
    return f"arn:{partition(region)}:{service}:{region}:{topology.account_id}:{resource}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9-]+", "-", text).strip("-")


@cache
def create_plan_region(region: str) -> str:
    """The region that serves ``CreatePlan`` for a plan of ``region``'s partition.

    CreatePlan is a control-plane call: botocore's endpoint rules send it to the
    partition's control plane (us-east-1 for ``aws``) whatever region the client has.
    Read from those rules rather than hard-coded; no request is made.
    """
    import botocore.session
    from botocore.hooks import HierarchicalEmitter
    from botocore.regions import EndpointRulesetResolver

    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    model = session.get_service_model(SERVICE)
    builtins: Any = {
        "AWS::Region": region,
        "AWS::UseFIPS": False,
        "AWS::UseDualStack": False,
        "SDK::Endpoint": None,
    }
    resolver = EndpointRulesetResolver(
        endpoint_ruleset_data=loader.load_service_model(SERVICE, "endpoint-rule-set-1"),
        partition_data=loader.load_data("partitions"),
        service_model=model,
        builtins=builtins,
        client_context={},
        event_emitter=HierarchicalEmitter(),
        use_ssl=True,
        requested_auth_scheme=None,
    )
    endpoint = resolver.construct_endpoint(
        model.operation_model(OPERATION), call_args={}, request_context={}
    )
    for scheme in endpoint.properties.get("authSchemes", []):
        if scheme.get("signingRegion"):
            return str(scheme["signingRegion"])
    return region
