"""The region topology file: its model, its loader and its validation.

A topology names the application's account, its regions and, in each region, the
resources that matter for failover. Loading never calls AWS. Every problem found is
reported at once, each with ``file:line:column`` and the key path
(``regions.us-west-2.aurora.cluster``), as one :class:`ConfigError` (exit code 2).

Line numbers survive validation because the YAML is composed into nodes first and
built into plain Python values by :func:`_construct`, which records the position of
every key path; pydantic's error locations are then looked up in that map.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from mr_failover.errors import ConfigError

MAX_FILE_BYTES = 1_000_000
# A YAML alias bomb is small on disk and huge once aliases are expanded; real
# topologies have a few hundred nodes.
MAX_NODES = 50_000

SCHEMA_URL_COMMENT = "# yaml-language-server: $schema="

Name = Annotated[str, StringConstraints(min_length=1, max_length=255, strip_whitespace=True)]
AccountId = Annotated[str, StringConstraints(pattern=r"^\d{12}$")]
RoleArn = Annotated[str, StringConstraints(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


@cache
def known_regions() -> frozenset[str]:
    """Every region botocore knows, read from its endpoint data (no client made)."""
    import botocore

    path = Path(botocore.__file__).parent / "data" / "endpoints.json"
    data = json.loads(path.read_text())
    return frozenset(r for p in data["partitions"] for r in p.get("regions", {}))


def _check_region(value: str) -> str:
    if value not in known_regions():
        raise ValueError(f"{value!r} is not an AWS region code (for example us-east-1)")
    return value


class Policy(_Model):
    """Recovery objectives the operations are judged against."""

    rpo_seconds: int = Field(ge=0, le=86_400, description="Most data loss accepted, seconds.")
    rto_seconds: int = Field(gt=0, le=86_400, description="Longest recovery accepted, seconds.")


class LockLocation(_Model):
    """Where operators' lease lock lives: a DynamoDB table (conditional writes)."""

    table: Name = Field(description="DynamoDB table holding the lock item.")
    region: str = Field(description="Region of the lock table.")

    _region = field_validator("region")(_check_region)


class HealthCheck(_Model):
    """A Route 53 health check watching this region's endpoint."""

    name: Name = Field(description="Label, unique in the file; the check's Name tag.")
    id: str | None = Field(
        default=None, description="Route 53 health check id; looked up by Name tag if omitted."
    )
    fqdn: str | None = Field(default=None, description="Endpoint host name checked.")
    port: int = Field(default=443, ge=1, le=65535)
    path: str = Field(default="/health")
    type: Literal["HTTPS", "HTTP", "TCP"] = "HTTPS"
    request_interval: Literal[10, 30] = 30
    failure_threshold: int = Field(default=3, ge=1, le=10)


class Record(_Model):
    """A Route 53 record that sends traffic to this region."""

    zone: Name = Field(description="Hosted zone name, for example example.com.")
    hosted_zone_id: str | None = Field(default=None, description="Looked up by zone if omitted.")
    name: Name = Field(description="Record name, for example api.example.com.")
    type: Literal["A", "AAAA", "CNAME"] = "CNAME"
    set_identifier: Name
    routing_policy: Literal["failover", "weighted", "latency"]
    failover: Literal["PRIMARY", "SECONDARY"] | None = None
    weight: int | None = Field(default=None, ge=0, le=255)
    ttl: int = Field(default=60, ge=0, le=172_800)
    value: Name = Field(description="Regional endpoint the record answers with.")
    health_check: Name | None = Field(
        default=None, description="Name of a health check of this region."
    )

    @model_validator(mode="after")
    def _policy_fields(self) -> Record:
        if self.routing_policy == "failover" and self.failover is None:
            raise ValueError("a failover record needs 'failover: PRIMARY' or 'SECONDARY'")
        if self.routing_policy == "weighted" and self.weight is None:
            raise ValueError("a weighted record needs 'weight'")
        if self.routing_policy != "failover" and self.failover is not None:
            raise ValueError("'failover' is only for routing_policy: failover")
        if self.routing_policy != "weighted" and self.weight is not None:
            raise ValueError("'weight' is only for routing_policy: weighted")
        return self


class Traffic(_Model):
    """How traffic reaches the region, and which lever drains it."""

    drain_lever: Literal["health_check_inversion", "weight"] = Field(
        default="health_check_inversion",
        description="How drain moves traffic away: invert the health checks, or weight 0.",
    )
    health_checks: list[HealthCheck] = Field(default_factory=list)
    records: list[Record] = Field(default_factory=list)


class Aurora(_Model):
    """The region's Aurora cluster: a global database member or a read replica."""

    cluster: Name = Field(description="DB cluster identifier in this region.")
    role: Literal["writer", "secondary"] = Field(
        description="Designed role: one writer in the file, the rest secondaries."
    )
    mode: Literal["global", "replica"] = Field(
        default="global",
        description="global: Aurora global database member; replica: cross-region read replica.",
    )
    global_cluster: Name | None = Field(default=None, description="Global cluster identifier.")
    engine: Literal["aurora-mysql", "aurora-postgresql"] = "aurora-mysql"
    engine_version: str | None = None

    @model_validator(mode="after")
    def _mode_fields(self) -> Aurora:
        if self.mode == "global" and self.global_cluster is None:
            raise ValueError("mode: global needs 'global_cluster'")
        if self.mode == "replica" and self.global_cluster is not None:
            raise ValueError("'global_cluster' is only for mode: global")
        return self


class ReplicationTarget(_Model):
    bucket: Name
    region: str

    _region = field_validator("region")(_check_region)


class Bucket(_Model):
    name: Name
    replicate_to: list[ReplicationTarget] = Field(default_factory=list)
    replication_role_arn: RoleArn | None = None
    rtc: bool = Field(default=False, description="Replication Time Control expected on.")


class EcsService(_Model):
    cluster: Name
    service: Name
    takeover_desired: int | None = Field(
        default=None, ge=0, description="Desired count to scale to when taking over."
    )


class AutoScalingGroup(_Model):
    name: Name
    takeover_desired: int | None = Field(default=None, ge=0)


class LambdaFunction(_Model):
    name: Name


class Compute(_Model):
    ecs_services: list[EcsService] = Field(default_factory=list)
    autoscaling_groups: list[AutoScalingGroup] = Field(default_factory=list)
    lambda_functions: list[LambdaFunction] = Field(default_factory=list)


class Region(_Model):
    """Everything that must be ready for this region to take over."""

    profile: Name | None = Field(default=None, description="AWS profile for this region.")
    role_arn: RoleArn | None = Field(default=None, description="Role to assume for this region.")
    traffic: Traffic = Field(default_factory=Traffic)
    aurora: Aurora | None = None
    dynamodb_tables: list[Name] = Field(
        default_factory=list, description="DynamoDB global tables with a replica here."
    )
    s3_buckets: list[Bucket] = Field(default_factory=list)
    compute: Compute = Field(default_factory=Compute)


class Topology(_Model):
    """A multi-region application, as mr-failover sees it."""

    application: Name
    account_id: AccountId = Field(description="12-digit AWS account id, quoted.")
    primary_region: str
    policy: Policy
    lock: LockLocation | None = None
    regions: dict[str, Region] = Field(min_length=2)

    _primary = field_validator("primary_region")(_check_region)

    @field_validator("account_id", mode="before")
    @classmethod
    def _quoted_account(cls, value: object) -> object:
        if isinstance(value, int):
            raise ValueError(
                'write the account id as a quoted 12-digit string, like "012345678901" '
                "(YAML reads unquoted digits as a number and drops leading zeros)"
            )
        return value

    @field_validator("regions")
    @classmethod
    def _region_keys(cls, value: dict[str, Region]) -> dict[str, Region]:
        bad = [k for k in value if k not in known_regions()]
        if bad:
            raise ValueError(f"not AWS region codes: {', '.join(map(repr, bad))}")
        return value

    def region(self, name: str) -> Region:
        return self.regions[name]

    def writer_region(self) -> str | None:
        for name, region in self.regions.items():
            if region.aurora and region.aurora.role == "writer":
                return name
        return None


# --- cross-field checks: each yields (key path, message) -------------------------------


def _cross_checks(t: Topology) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if t.primary_region not in t.regions:
        yield ("primary_region",), f"{t.primary_region!r} is not one of the declared regions"

    writers = [n for n, r in t.regions.items() if r.aurora and r.aurora.role == "writer"]
    for extra in writers[1:]:
        yield (
            ("regions", extra, "aurora", "role"),
            f"two regions claim to be the writer ({writers[0]} and {extra})",
        )
    with_aurora = [n for n, r in t.regions.items() if r.aurora]
    if with_aurora and not writers:
        yield ("regions",), "no region has aurora role: writer"
    modes = {r.aurora.mode for r in t.regions.values() if r.aurora}
    if len(modes) > 1:
        yield ("regions",), "aurora mode must be the same in every region (global or replica)"
    globals_ = {r.aurora.global_cluster for r in t.regions.values() if r.aurora}
    if len(globals_) > 1:
        yield ("regions",), f"regions name different global clusters: {sorted(map(str, globals_))}"

    seen_checks: dict[str, str] = {}
    seen_buckets: dict[str, str] = {}
    seen_clusters: dict[str, str] = {}
    for rname, region in t.regions.items():
        base: tuple[str | int, ...] = ("regions", rname)
        check_names = set()
        for i, hc in enumerate(region.traffic.health_checks):
            if hc.name in seen_checks:
                yield (
                    (*base, "traffic", "health_checks", i, "name"),
                    f"duplicate health check name {hc.name!r} (also in {seen_checks[hc.name]})",
                )
            seen_checks[hc.name] = rname
            check_names.add(hc.name)
        seen_sets: set[tuple[str, str]] = set()
        for i, rec in enumerate(region.traffic.records):
            if rec.health_check is not None and rec.health_check not in check_names:
                yield (
                    (*base, "traffic", "records", i, "health_check"),
                    f"{rec.health_check!r} is not a health check of {rname}",
                )
            key = (rec.name, rec.set_identifier)
            if key in seen_sets:
                yield (
                    (*base, "traffic", "records", i, "set_identifier"),
                    f"duplicate record {rec.name} / {rec.set_identifier}",
                )
            seen_sets.add(key)
        if region.traffic.drain_lever == "weight" and not any(
            r.routing_policy == "weighted" for r in region.traffic.records
        ):
            yield (
                (*base, "traffic", "drain_lever"),
                "drain_lever: weight needs at least one weighted record",
            )
        if region.traffic.drain_lever == "health_check_inversion" and (
            region.traffic.records and not region.traffic.health_checks
        ):
            yield (
                (*base, "traffic", "drain_lever"),
                "drain_lever: health_check_inversion needs a health check",
            )
        if region.aurora:
            c = region.aurora.cluster
            if c in seen_clusters:
                yield (
                    (*base, "aurora", "cluster"),
                    f"duplicate cluster {c!r} (also in {seen_clusters[c]})",
                )
            seen_clusters[c] = rname
        for i, table in enumerate(region.dynamodb_tables):
            if table in region.dynamodb_tables[:i]:
                yield (*base, "dynamodb_tables", i), f"duplicate table {table!r}"
            elif not any(
                table in other.dynamodb_tables for n, other in t.regions.items() if n != rname
            ):
                yield (
                    (*base, "dynamodb_tables", i),
                    f"global table {table!r} has no replica in another declared region",
                )
        for i, bucket in enumerate(region.s3_buckets):
            if bucket.name in seen_buckets:
                yield (
                    (*base, "s3_buckets", i, "name"),
                    f"duplicate bucket {bucket.name!r} (also in {seen_buckets[bucket.name]})",
                )
            seen_buckets[bucket.name] = rname
    for rname, region in t.regions.items():
        for i, bucket in enumerate(region.s3_buckets):
            for j, target in enumerate(bucket.replicate_to):
                path = ("regions", rname, "s3_buckets", i, "replicate_to", j)
                if target.region not in t.regions:
                    yield (*path, "region"), f"{target.region} is not a declared region"
                elif target.bucket not in {b.name for b in t.regions[target.region].s3_buckets}:
                    yield (
                        (*path, "bucket"),
                        f"bucket {target.bucket!r} is not declared in {target.region}",
                    )
                elif target.region == rname:
                    yield (*path, "region"), "cross-region replication needs another region"


# --- YAML to values, remembering where each key path came from ------------------------

Path_ = tuple[str | int, ...]
Marks = dict[Path_, tuple[int, int]]
KEY_MARK = "\x00key"


class _UniqueKeyError(Exception):
    def __init__(self, path: Path_, key: str, line: int, col: int) -> None:
        self.path, self.key, self.line, self.col = path, key, line, col


class _TooBig(Exception):
    pass


def _construct(node: yaml.Node, path: Path_, marks: Marks, budget: list[int]) -> Any:
    """Build plain values from ``node``; record where each value (and each key) starts.

    ``marks[path]`` is the value's position; ``marks[(*path, KEY_MARK)]`` its key's.
    """
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooBig
    marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            if isinstance(key, str) and key in out:
                raise _UniqueKeyError(
                    path, key, key_node.start_mark.line + 1, key_node.start_mark.column + 1
                )
            sub = (*path, key if isinstance(key, str | int) else str(key))
            marks[(*sub, KEY_MARK)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _construct(value_node, sub, marks, budget)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(v, (*path, i), marks, budget) for i, v in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        return f"<{type(node).__name__}>"  # a mapping or list used as a key: reported by the model
    return yaml.SafeLoader("").construct_object(node, deep=True)


def _load_yaml(path: Path) -> tuple[Any, Marks]:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigError(f"{path}: {size} bytes is too large for a topology file")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (pass --config FILE)") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a topology file") from None
    except PermissionError:
        raise ConfigError(f"{path}: not readable (permission denied)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text (byte {exc.start}); binary file?"
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise ConfigError(f"{path}:{line}: contains a NUL byte; binary file?")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if node is None:
        raise ConfigError(f"{path}: the file is empty; see config/regions.yaml for an example")
    marks: Marks = {}
    try:
        data = _construct(node, (), marks, [MAX_NODES])
    except _UniqueKeyError as exc:
        where = f"{path}:{exc.line}:{exc.col}"
        raise ConfigError(
            f"{where}: {_dotted((*exc.path, exc.key))}: duplicate key {exc.key!r}"
        ) from None
    except _TooBig:
        raise ConfigError(
            f"{path}: expands to more than {MAX_NODES} values (YAML alias bomb?)"
        ) from None
    except (yaml.YAMLError, ValueError) as exc:
        raise ConfigError(f"{path}: invalid YAML value: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}:1:1: the document is a {type(data).__name__}, not a mapping of keys"
        )
    return data, marks


def _dotted(path: Path_) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _locate(path: Path_, marks: Marks) -> tuple[int, int]:
    for n in range(len(path), -1, -1):
        if path[:n] in marks:
            return marks[path[:n]]
    return (1, 1)


def _pydantic_problems(file: Path, exc: ValidationError, marks: Marks) -> list[str]:
    problems = []
    for err in exc.errors():
        loc: Path_ = tuple(p for p in err["loc"] if not isinstance(p, str) or "[" not in p)
        line, col = _locate(loc, marks)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            line, col = _locate((*loc, KEY_MARK), marks)
            msg = f"unknown key {loc[-1]!r} (typo?)"
        elif err["type"] == "missing":
            line, col = _locate(loc[:-1], marks)
            msg = f"missing required key {loc[-1]!r}"
        problems.append((line, col, f"{file}:{line}:{col}: {_dotted(loc)}: {msg}"))
    return [p for _, _, p in sorted(problems)]


def load(path: str | Path) -> Topology:
    """Load and validate a topology file; raise ConfigError listing every problem."""
    file = Path(path)
    data, marks = _load_yaml(file)
    try:
        topology = Topology.model_validate(data)
    except ValidationError as exc:
        problems = _pydantic_problems(file, exc, marks)
        raise ConfigError(f"{file}: {len(problems)} problem(s)", problems) from None
    cross = []
    for loc, msg in _cross_checks(topology):
        line, col = _locate(loc, marks)
        cross.append((line, col, f"{file}:{line}:{col}: {_dotted(loc)}: {msg}"))
    if cross:
        problems = [p for _, _, p in sorted(cross)]
        raise ConfigError(f"{file}: {len(problems)} problem(s)", problems)
    return topology


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the topology file, generated from the model."""
    schema = Topology.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mr-failover topology"
    return schema


def shipped_example() -> str:
    """The example topology shipped with the package."""
    return resources.files("mr_failover").joinpath("data/regions.yaml").read_text()


def dump(topology: Topology) -> str:
    """Render a topology back to YAML (used by the sandbox seeder to record ids)."""
    data = topology.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    return yaml.safe_dump(data, sort_keys=False)
