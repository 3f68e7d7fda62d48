"""rule: codecommit-tags (mr_failover/sandbox/codecommit.py)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError


def test_repositories_carry_tags_and_the_tagging_api_lists_them(aws: Any) -> None:
    cc = aws("codecommit", "us-west-2")
    tagged = cc.create_repository(repositoryName="shop-app", tags={"app": "shop"})
    arn = tagged["repositoryMetadata"]["Arn"]
    later = cc.create_repository(repositoryName="shop-mirror")["repositoryMetadata"]["Arn"]
    cc.create_repository(repositoryName="other", tags={"app": "other"})
    assert cc.list_tags_for_resource(resourceArn=arn)["tags"] == {"app": "shop"}
    cc.tag_resource(resourceArn=later, tags={"app": "shop", "team": "a"})
    cc.untag_resource(resourceArn=later, tagKeys=["team"])
    assert cc.list_tags_for_resource(resourceArn=later)["tags"] == {"app": "shop"}

    tagging = aws("resourcegroupstaggingapi", "us-west-2")
    found = tagging.get_resources(TagFilters=[{"Key": "app", "Values": ["shop"]}])
    assert sorted(m["ResourceARN"] for m in found["ResourceTagMappingList"]) == sorted([arn, later])
    typed = tagging.get_resources(ResourceTypeFilters=["codecommit:repository"])
    assert len(typed["ResourceTagMappingList"]) == 3
    # Another region's Tagging API lists its own repositories only.
    east = aws("resourcegroupstaggingapi", "us-east-1")
    assert not east.get_resources(TagFilters=[{"Key": "app", "Values": ["shop"]}])[
        "ResourceTagMappingList"
    ]
    with pytest.raises(ClientError) as err:
        cc.tag_resource(resourceArn=arn.replace("shop-app", "missing"), tags={"a": "b"})
    assert err.value.response["Error"]["Code"] == "RepositoryDoesNotExistException"
