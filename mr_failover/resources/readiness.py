"""What is easy to forget: templates, code, secrets and parameters a region needs.

For one region, reads whether the newest deployment template of the source bucket has
replicated into the region's templates bucket, whether the CodeCommit repository (or
its named mirror) exists, whether each Secrets Manager secret has a replica here that
its primary reports ``InSync``, and whether each SSM parameter exists here.

Each item is observed on its own and carries its own error: one unanswered call (the
templates' source region, a secret's primary region) never hides the other items.
Reads that describe this region are asked of it; the source of a fact that only
another region knows (the newest template, a secret's ``ReplicationStatus``) is asked
of that region. Judging happens in :mod:`mr_failover.status`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from mr_failover.aws import ClientSource, call, call_error, error_code
from mr_failover.errors import CredentialsError, MrFailoverError, RegionUnreachableError
from mr_failover.topology import CodeRepository, Readiness, TemplatesBucket

T = TypeVar("T")
SSM_BATCH = 10  # GetParameters takes at most 10 names


@dataclass(frozen=True)
class TemplatesFinding:
    bucket: str
    source_bucket: str
    source_region: str
    newest_key: str | None = None  # None: the source holds no template (or unknown)
    newest_modified: datetime | None = None
    present: bool | None = None  # the newest template is here, same ETag
    stale: bool = False  # here, but an older version
    error: str | None = None


@dataclass(frozen=True)
class CodeFinding:
    name: str
    found: bool | None
    mirror: str | None = None  # "name in region" of the mirror
    mirror_found: bool | None = None
    error: str | None = None

    @property
    def available(self) -> bool | None:
        if self.found or self.mirror_found:
            return True
        if self.found is None or (self.mirror is not None and self.mirror_found is None):
            return None
        return False


@dataclass(frozen=True)
class SecretFinding:
    name: str
    found: bool | None
    primary_region: str | None = None
    status: str | None = None  # InSync, InProgress, Failed; "primary" here; None unknown
    message: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class ParametersFinding:
    checked: tuple[str, ...]
    missing: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class ReadinessFinding:
    templates: TemplatesFinding | None
    code: CodeFinding | None
    secrets: tuple[SecretFinding, ...]
    parameters: ParametersFinding | None


def observe(factory: ClientSource, region: str, spec: Readiness, home: str) -> ReadinessFinding:
    """``home``: where a secret that is no replica is expected to replicate from."""
    return ReadinessFinding(
        templates=observe_templates(factory, region, spec.templates) if spec.templates else None,
        code=observe_code(factory, region, spec.code_repository) if spec.code_repository else None,
        secrets=tuple(observe_secret(factory, region, name, home) for name in spec.secrets),
        parameters=observe_parameters(factory.client("ssm", region), spec.ssm_parameters)
        if spec.ssm_parameters
        else None,
    )


def _own(exc: MrFailoverError, region: str) -> MrFailoverError | None:
    """``exc`` when it must fail the whole section rather than one item.

    Missing credentials fail every call alike, and this region not answering is the
    region's problem, not an item's: status reports both per section.
    """
    if isinstance(exc, CredentialsError):
        return exc
    if isinstance(exc, RegionUnreachableError) and exc.region == region:
        return exc
    return None


def _guard(fn: Callable[[], T], on_error: Callable[[str], T], region: str) -> T:
    try:
        return fn()
    except MrFailoverError as exc:
        if (fatal := _own(exc, region)) is not None:
            raise fatal from None
        return on_error(str(exc))


def observe_templates(
    factory: ClientSource, region: str, spec: TemplatesBucket
) -> TemplatesFinding:
    base = TemplatesFinding(
        bucket=spec.bucket, source_bucket=spec.source_bucket, source_region=spec.source_region
    )

    def read() -> TemplatesFinding:
        newest = _newest_objects(factory.client("s3", spec.source_region), spec)
        if not newest:
            return base
        here = factory.client("s3", region)
        # LastModified has one-second resolution: every object of the newest second must
        # be here, or "the newest template" would depend on listing order.
        for key, modified, etag in newest:
            found = replace(base, newest_key=key, newest_modified=modified)
            try:
                head = here.head_object(Bucket=spec.bucket, Key=key)
            except Exception as exc:
                if error_code(exc) not in ("404", "NoSuchKey", "NotFound"):
                    raise call_error(here, "head_object", exc) from None
                return replace(found, present=False)
            if head.get("ETag") != etag:
                return replace(found, present=False, stale=True)
        key, modified, _ = newest[0]
        return replace(base, newest_key=key, newest_modified=modified, present=True)

    return _guard(read, lambda e: replace(base, error=e), region)


def _newest_objects(client: Any, spec: TemplatesBucket) -> list[tuple[str, datetime, str]]:
    """(key, LastModified, ETag) of every object modified in the newest second."""
    newest: list[tuple[str, datetime, str]] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"Bucket": spec.source_bucket, "Prefix": spec.prefix}
        if token:
            params["ContinuationToken"] = token
        page = call(client, "list_objects_v2", **params)
        for obj in page.get("Contents", []):
            entry = (obj["Key"], obj["LastModified"], obj.get("ETag", ""))
            if not newest or entry[1] > newest[0][1]:
                newest = [entry]
            elif entry[1] == newest[0][1]:
                newest.append(entry)
        if not page.get("IsTruncated"):
            return newest
        token = page.get("NextContinuationToken")


def _repository_exists(client: Any, name: str) -> bool:
    try:
        client.get_repository(repositoryName=name)
    except Exception as exc:
        if error_code(exc) == "RepositoryDoesNotExistException":
            return False
        raise call_error(client, "get_repository", exc) from None
    return True


def observe_code(factory: ClientSource, region: str, spec: CodeRepository) -> CodeFinding:
    mirror_region = (spec.mirror.region or region) if spec.mirror else None
    mirror = f"{spec.mirror.name} in {mirror_region}" if spec.mirror and mirror_region else None
    try:
        found: bool | None = _repository_exists(factory.client("codecommit", region), spec.name)
        error = None
    except MrFailoverError as exc:
        if (fatal := _own(exc, region)) is not None:
            raise fatal from None
        found, error = None, str(exc)
    mirror_found: bool | None = None
    if spec.mirror and mirror_region and not found:
        try:
            mirror_found = _repository_exists(
                factory.client("codecommit", mirror_region), spec.mirror.name
            )
        except MrFailoverError as exc:
            if (fatal := _own(exc, region)) is not None:
                raise fatal from None
            error = str(exc)
    return CodeFinding(
        name=spec.name, found=found, mirror=mirror, mirror_found=mirror_found, error=error
    )


def observe_secret(factory: ClientSource, region: str, name: str, home: str) -> SecretFinding:
    here = factory.client("secretsmanager", region)
    try:
        d = here.describe_secret(SecretId=name)
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return SecretFinding(name=name, found=False)
        err = call_error(here, "describe_secret", exc)
        if (fatal := _own(err, region)) is not None:
            raise fatal from None
        return SecretFinding(name=name, found=None, error=str(err))
    # A secret created here by hand (no PrimaryRegion) is no replica: its value is not
    # the primary's, so outside `home` it is judged by the home region's replication.
    primary = str(d.get("PrimaryRegion") or home)
    if primary == region:
        return SecretFinding(name=name, found=True, primary_region=region, status="primary")

    def replication() -> SecretFinding:
        # Only the primary's DescribeSecret reports ReplicationStatus on AWS.
        p = call(factory.client("secretsmanager", primary), "describe_secret", SecretId=name)
        for r in p.get("ReplicationStatus", []):
            if r.get("Region") == region:
                return SecretFinding(
                    name=name,
                    found=True,
                    primary_region=primary,
                    status=r.get("Status"),
                    message=r.get("StatusMessage"),
                )
        return SecretFinding(
            name=name,
            found=True,
            primary_region=primary,
            status="not replicated",
            message=f"the secret here is not a replica of {primary}'s",
        )

    return _guard(
        replication,
        lambda e: SecretFinding(name=name, found=True, primary_region=primary, error=e),
        region,
    )


def observe_parameters(client: Any, names: list[str]) -> ParametersFinding:
    missing: list[str] = []
    for i in range(0, len(names), SSM_BATCH):
        batch = names[i : i + SSM_BATCH]
        missing += call(client, "get_parameters", Names=batch).get("InvalidParameters", [])
    return ParametersFinding(checked=tuple(names), missing=tuple(missing))
