"""CodeCommit repositories carry tags, and the Resource Groups Tagging API lists them.

moto 5.2.5's CodeCommit keeps no tags: ``CreateRepository`` drops its ``tags``,
``TagResource``, ``UntagResource`` and ``ListTagsForResource`` are not served, and its
Resource Groups Tagging API never returns a repository. On AWS a repository is tagged
when created or later (CreateRepository ``tags``,
https://docs.aws.amazon.com/codecommit/latest/APIReference/API_CreateRepository.html;
TagResource, https://docs.aws.amazon.com/codecommit/latest/APIReference/API_TagResource.html;
ListTagsForResource,
https://docs.aws.amazon.com/codecommit/latest/APIReference/API_ListTagsForResource.html), and
"The GetResources, GetTagKeys, and GetTagValues operations support all resource types"
("Services that support the Resource Groups Tagging API",
https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/supported-services.html).
Here the tags live on moto's repository object and the Tagging API's backends include the
region's repositories (rule ``codecommit-tags``). A repository ARN that names no
repository is ``RepositoryDoesNotExistException``, one of TagResource's documented errors.

Tied to moto 5.2.5 like the rest (tests/sandbox/test_moto_pin.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mr_failover.sandbox.state import Hooks

if TYPE_CHECKING:
    from mr_failover.sandbox.state import SandboxState

HOOKS = (
    "moto.codecommit.responses.CodeCommitResponse.create_repository",
    "moto.resourcegroupstaggingapi.models.iter_taggable_backends",
)
RESOURCE_TYPE = "codecommit:repository"

_hooks = Hooks("CodeCommit tags")


def install(sandbox: SandboxState) -> None:
    _hooks.install(sandbox, _patch_moto)


def _tags(repo: Any) -> dict[str, str]:
    tags: dict[str, str] | None = getattr(repo, "tags", None)
    if tags is None:
        tags = {}
        repo.tags = tags
    return tags


class _Repositories:
    """One region's repositories as the Tagging API sees a taggable backend."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    def iter_tagged_resources(self) -> Iterator[Any]:
        from moto.core.resource_tagging import TaggedResource

        for repo in list(self.backend.repositories.values()):
            yield TaggedResource(
                arn=repo.repository_metadata["Arn"],
                tags=dict(_tags(repo)),
                resource_type=RESOURCE_TYPE,
            )

    def owns_arn(self, arn: str) -> bool:
        return arn.split(":")[2:3] == ["codecommit"]

    def repository(self, arn: str) -> Any:
        from moto.codecommit.exceptions import RepositoryDoesNotExistException

        for repo in self.backend.repositories.values():
            if repo.repository_metadata["Arn"] == arn:
                return repo
        raise RepositoryDoesNotExistException(arn.rsplit(":", 1)[-1])

    def tag_resource(self, arn: str, tags: dict[str, str]) -> None:
        _tags(self.repository(arn)).update(tags)

    def untag_resource(self, arn: str, tag_keys: list[str]) -> None:
        tags = _tags(self.repository(arn))
        for key in tag_keys:
            tags.pop(key, None)


def _patch_moto() -> None:
    from moto.codecommit import models as codecommit
    from moto.codecommit.responses import CodeCommitResponse
    from moto.resourcegroupstaggingapi import models as tagging

    original_create = CodeCommitResponse.create_repository
    original_backends = getattr(tagging, "iter_taggable_backends")  # noqa: B009

    def create_repository(self: Any) -> Any:
        result = original_create(self)
        # rule: codecommit-tags
        tags = self._get_param("tags") or {}
        if tags:
            repo = self.codecommit_backend.repositories[self._get_param("repositoryName")]
            _tags(repo).update(tags)
        return result

    def tag_resource(self: Any) -> str:
        repos = _Repositories(self.codecommit_backend)
        repos.tag_resource(self._get_param("resourceArn"), self._get_param("tags") or {})
        return "{}"

    def untag_resource(self: Any) -> str:
        repos = _Repositories(self.codecommit_backend)
        repos.untag_resource(self._get_param("resourceArn"), self._get_param("tagKeys") or [])
        return "{}"

    def list_tags_for_resource(self: Any) -> str:
        repos = _Repositories(self.codecommit_backend)
        repo = repos.repository(self._get_param("resourceArn"))
        return json.dumps({"tags": dict(_tags(repo))})

    def iter_taggable_backends(account_id: str, region_name: str) -> Iterator[Any]:
        yield from original_backends(account_id, region_name)
        # Only a region whose CodeCommit was used has repositories (none is created here).
        accounts = codecommit.codecommit_backends
        if dict.__contains__(accounts, account_id):
            regions = accounts[account_id]
            if dict.__contains__(regions, region_name):
                yield _Repositories(regions[region_name])

    setattr(CodeCommitResponse, "create_repository", create_repository)  # noqa: B010
    setattr(CodeCommitResponse, "tag_resource", tag_resource)  # noqa: B010
    setattr(CodeCommitResponse, "untag_resource", untag_resource)  # noqa: B010
    setattr(CodeCommitResponse, "list_tags_for_resource", list_tags_for_resource)  # noqa: B010
    setattr(tagging, "iter_taggable_backends", iter_taggable_backends)  # noqa: B010
