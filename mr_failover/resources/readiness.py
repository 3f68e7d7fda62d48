"""What is easy to forget: templates, code, secrets and parameters a region needs.

For one region, reads whether the newest deployment template of the source bucket has
replicated into the region's templates bucket, whether the CodeCommit repository (or
its named mirror) exists, whether each Secrets Manager secret has a replica here that
its primary reports ``InSync``, and whether each SSM parameter exists here.

Each item is observed on its own and carries its own error: one unanswered call (the
templates' source region, a secret's primary region) never hides the other items.
Reads that describe this region are asked of it; the source of a fact that only
another region knows (the newest template, a secret's ``ReplicationStatus``) is asked
of that region. :class:`ReadinessSection` judges it for the status report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from mr_failover.aws import ClientSource, call, call_error, error_code
from mr_failover.errors import CredentialsError, MrFailoverError, RegionUnreachableError
from mr_failover.resources.section import (
    Cell,
    Judgement,
    Read,
    ReadContext,
    RegionStatus,
    RegionView,
    Section,
    at_once,
)
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
    """``home``: where a secret that is no replica is expected to replicate from.

    The four kinds of item ask four different APIs and none waits for another, so they
    are read at the same time: the section then takes as long as its longest chain (two
    calls) instead of the sum of its calls (six for the example's us-west-2, the longest
    task of ``status``: bench/bench_status_cold.py). The secrets are read one after another.
    """
    templates, code, secrets, parameters = at_once(
        lambda: observe_templates(factory, region, spec.templates) if spec.templates else None,
        lambda: (
            observe_code(factory, region, spec.code_repository) if spec.code_repository else None
        ),
        lambda: tuple(observe_secret(factory, region, name, home) for name in spec.secrets),
        lambda: (
            observe_parameters(factory.client("ssm", region), spec.ssm_parameters)
            if spec.ssm_parameters
            else None
        ),
    )
    return ReadinessFinding(templates=templates, code=code, secrets=secrets, parameters=parameters)


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


# --- the status section ------------------------------------------------------------------


class ReadinessSection(Section):
    name = "readiness"
    rounds = 2  # a listing then its object; secrets in turn
    title = "readiness"
    layout = "line"
    counts_problems = True

    def reads(self, ctx: ReadContext) -> list[Read]:
        r = ctx.spec.readiness
        if not (r.templates or r.code_repository or r.secrets or r.ssm_parameters):
            return []
        home = ctx.topology.primary_region
        return [Read("readiness", lambda: observe(ctx.factory, ctx.region, r, home))]

    def judge(self, view: RegionView) -> Judgement:
        r = view.get("readiness")
        if not isinstance(r, ReadinessFinding):
            return Judgement()
        region = view.region
        reasons: list[str] = []
        warnings: list[str] = []
        t = r.templates
        if t is not None:
            src = f"{t.source_bucket} ({t.source_region})"
            if t.error:
                warnings.append(f"readiness: templates not checked: {t.error}")
            elif t.newest_key is None:
                warnings.append(f"readiness: no template in {src}")
            elif t.stale:
                reasons.append(f"readiness: {t.bucket} holds an older {t.newest_key} than {src}")
            elif not t.present:
                reasons.append(
                    f"readiness: newest template {t.newest_key} of {src} not in {t.bucket}"
                )
        c = r.code
        if c is not None:
            if c.error:
                warnings.append(f"readiness: code repository not fully checked: {c.error}")
            if c.available is False:
                mirror = f" and no mirror {c.mirror}" if c.mirror else ""
                reasons.append(f"readiness: no code repository {c.name} in {region}{mirror}")
        for sec in r.secrets:
            if sec.error:
                warnings.append(f"readiness: secret {sec.name} not fully checked: {sec.error}")
            elif sec.found is False:
                reasons.append(f"readiness: secret {sec.name} is not replicated to {region}")
            elif sec.status not in ("primary", "InSync"):
                detail = f" ({sec.message})" if sec.message else ""
                reasons.append(
                    f"readiness: secret {sec.name} replica is {sec.status} "
                    f"(primary {sec.primary_region}){detail}"
                )
        p = r.parameters
        if p is not None:
            if p.error:
                reasons.append(f"readiness: SSM parameters not checked: {p.error}")
            for name in p.missing:
                reasons.append(f"readiness: SSM parameter {name} missing in {region}")
        return Judgement(reasons, warnings, value=r)

    def value_cell(self, rd: ReadinessFinding, r: RegionStatus) -> Cell:
        missing = sum(1 for reason in r.reasons if reason.startswith("readiness:"))
        items = (
            (rd.templates is not None)
            + (rd.code is not None)
            + len(rd.secrets)
            + (len(rd.parameters.checked) if rd.parameters else 0)
        )
        return Cell(f"{missing} missing" if missing else f"{items} ok")


SECTION = ReadinessSection()
