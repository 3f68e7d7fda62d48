"""ClientFactory against moto: a role per region, sessions named after the tool and user."""

from __future__ import annotations

import getpass
import re

import boto3
from moto import mock_aws

from mr_failover.aws import ClientFactory, check_account
from mr_failover.topology import Topology


def test_role_per_region_and_session_name(fake_credentials: None) -> None:
    with mock_aws():
        role = boto3.client("iam", region_name="us-east-1").create_role(
            RoleName="failover-operator", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        t = Topology.model_validate(
            {
                "application": "shop",
                "account_id": "123456789012",
                "primary_region": "us-east-1",
                "policy": {"rpo_seconds": 60, "rto_seconds": 900},
                "regions": {"us-east-1": {}, "us-west-2": {"role_arn": role}},
            }
        )
        factory = ClientFactory(t)
        west = factory.client("sts", "us-west-2").get_caller_identity()["Arn"]
        east = factory.client("sts", "us-east-1").get_caller_identity()["Arn"]
        session = re.sub(r"[^\w+=,.@-]", "-", f"mr-failover-{getpass.getuser()}")
        assert west == f"arn:aws:sts::123456789012:assumed-role/failover-operator/{session}"
        assert east == "arn:aws:sts::123456789012:user/moto"  # no role: the caller itself
        assert check_account(factory, t).matches
