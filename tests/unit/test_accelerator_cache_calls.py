"""Every new AWS call of the Global Accelerator and ElastiCache modules, through Stubber.

Stubber validates each request against the service model, so a misspelt parameter or a
wrong type fails here rather than on AWS.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from mr_failover.errors import AwsCallError
from mr_failover.resources import elasticache, globalaccelerator
from mr_failover.topology import GlobalAccelerator

ACC = "arn:aws:globalaccelerator::123456789012:accelerator/abc"
LIS = f"{ACC}/listener/l1"
GRP = f"{LIS}/endpoint-group/g1"


def _client(service: str, region: str) -> Any:
    return boto3.client(
        service, region_name=region, aws_access_key_id="x", aws_secret_access_key="y"
    )


def _group(region: str, dial: float) -> dict[str, Any]:
    return {
        "EndpointGroupArn": GRP if region == "us-east-1" else f"{LIS}/endpoint-group/g2",
        "EndpointGroupRegion": region,
        "TrafficDialPercentage": dial,
        "EndpointDescriptions": [{"EndpointId": "e1", "HealthState": "HEALTHY"}],
    }


def test_observe_accelerator_by_name_pages_and_groups() -> None:
    client = _client("globalaccelerator", "us-west-2")
    with Stubber(client) as stub:
        stub.add_response(
            "list_accelerators",
            {"Accelerators": [{"AcceleratorArn": ACC, "Name": "shop", "Status": "DEPLOYED"}]},
            {},
        )
        stub.add_response(
            "list_listeners", {"Listeners": [{"ListenerArn": LIS}]}, {"AcceleratorArn": ACC}
        )
        stub.add_response(
            "list_endpoint_groups",
            {"EndpointGroups": [_group("us-east-1", 100.0)], "NextToken": "n"},
            {"ListenerArn": LIS},
        )
        stub.add_response(
            "list_endpoint_groups",
            {"EndpointGroups": [_group("us-west-2", 0.0)]},
            {"ListenerArn": LIS, "NextToken": "n"},
        )
        found = globalaccelerator.observe_accelerator(client, GlobalAccelerator(name="shop"))
    assert found.group("us-west-2") is not None
    assert found.group("us-west-2").dial == 0.0  # type: ignore[union-attr]
    assert found.group("us-east-1").healthy == 1  # type: ignore[union-attr]


def test_unknown_accelerator_name_is_one_line_error() -> None:
    client = _client("globalaccelerator", "us-west-2")
    with Stubber(client) as stub:
        stub.add_response("list_accelerators", {"Accelerators": []}, {})
        with pytest.raises(AwsCallError, match=r"no accelerator named 'shop'.*arn"):
            globalaccelerator.find_accelerator(client, GlobalAccelerator(name="shop"))


def test_set_traffic_dial_calls() -> None:
    client = _client("globalaccelerator", "us-west-2")
    action = globalaccelerator.SetTrafficDial(client, GRP, 0.0)
    with Stubber(client) as stub:
        stub.add_response(
            "describe_endpoint_group",
            {"EndpointGroup": _group("us-east-1", 100.0)},
            {"EndpointGroupArn": GRP},
        )
        stub.add_response(
            "update_endpoint_group",
            {"EndpointGroup": _group("us-east-1", 0.0)},
            {"EndpointGroupArn": GRP, "TrafficDialPercentage": 0.0},
        )
        stub.add_response(
            "describe_endpoint_group",
            {"EndpointGroup": _group("us-east-1", 0.0)},
            {"EndpointGroupArn": GRP},
        )
        stub.add_response(
            "describe_accelerator",
            {"Accelerator": {"AcceleratorArn": ACC, "Status": "IN_PROGRESS"}},
            {"AcceleratorArn": ACC},
        )
        assert action.holds() is False
        action.apply()
        assert action.settled() is False  # still IN_PROGRESS
    assert action.state() == "traffic dial 0%, accelerator IN_PROGRESS"
    step = globalaccelerator.dial_step(
        client, group_arn=GRP, region="us-east-1", dial=0.0, previous=100.0, undo="u"
    )
    assert (step.region, step.plane, step.plane_region) == ("us-west-2", "control", "us-west-2")


def _datastore(primary: str, status: str = "available") -> dict[str, Any]:
    other = "us-west-2" if primary == "us-east-1" else "us-east-1"
    names = {"us-east-1": "c-use1", "us-west-2": "c-usw2"}
    return {
        "GlobalReplicationGroupId": "abcde-cache",
        "Status": status,
        "Members": [
            {
                "ReplicationGroupId": names[primary],
                "ReplicationGroupRegion": primary,
                "Role": "PRIMARY",
                "Status": "associated",
            },
            {
                "ReplicationGroupId": names[other],
                "ReplicationGroupRegion": other,
                "Role": "SECONDARY",
                "Status": "associated",
            },
        ],
    }


def test_observe_datastore_by_suffix_falls_back_to_listing() -> None:
    client = _client("elasticache", "us-west-2")
    with Stubber(client) as stub:
        stub.add_client_error(
            "describe_global_replication_groups",
            "GlobalReplicationGroupNotFoundFault",
            http_status_code=404,
            expected_params={"GlobalReplicationGroupId": "cache", "ShowMemberInfo": True},
        )
        stub.add_response(
            "describe_global_replication_groups",
            {"GlobalReplicationGroups": [_datastore("us-east-1")]},
            {"ShowMemberInfo": True},
        )
        found = elasticache.observe_datastore(client, "cache")
    assert (found.id, found.primary_region) == ("abcde-cache", "us-east-1")


def test_failover_datastore_calls_and_waits() -> None:
    client = _client("elasticache", "us-west-2")
    action = elasticache.FailoverDatastore(client, "abcde-cache", "us-west-2", "c-usw2")
    exact = {"GlobalReplicationGroupId": "abcde-cache", "ShowMemberInfo": True}
    with Stubber(client) as stub:
        stub.add_response(
            "describe_global_replication_groups",
            {"GlobalReplicationGroups": [_datastore("us-east-1")]},
            exact,
        )
        stub.add_response(
            "failover_global_replication_group",
            {"GlobalReplicationGroup": _datastore("us-east-1", "modifying")},
            {
                "GlobalReplicationGroupId": "abcde-cache",
                "PrimaryRegion": "us-west-2",
                "PrimaryReplicationGroupId": "c-usw2",
            },
        )
        stub.add_response(
            "describe_global_replication_groups",
            {"GlobalReplicationGroups": [_datastore("us-east-1", "modifying")]},
            exact,
        )
        stub.add_response(
            "describe_global_replication_groups",
            {"GlobalReplicationGroups": [_datastore("us-west-2")]},
            exact,
        )
        assert action.holds() is False
        action.apply()
        assert action.settled() is False
        assert action.verify() is None
