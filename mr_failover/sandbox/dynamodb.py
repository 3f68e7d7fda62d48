"""DynamoDB global tables (version 2019.11.21) for the sandbox, on top of moto.

moto stores ``UpdateTable(ReplicaUpdates=...)`` and then ignores it. This module owns
what is missing: the replica group of each global table, the replica tables themselves
(created in the named region with the same key schema and streams, ``CREATING`` then
``ACTIVE``; ``DELETING`` then gone), ``Table.Replicas[]`` and ``GlobalTableVersion`` in
every ``DescribeTable`` answer, asynchronous last-writer-wins replication of every item
write (PutItem, UpdateItem, DeleteItem, and BatchWriteItem / TransactWriteItems, which
moto routes through the same backend methods) after ``settings.dynamodb_replication_lag``,
no replication into or out of a region that is down (the changes wait and catch up after
heal), and the ``AWS/DynamoDB ReplicationLatency`` metric, published in the sending region
per receiving region. docs/SANDBOX-data.md says where this differs from AWS.

moto's classes are patched once per process; the patches look up the current sandbox
(the last one installed) and do nothing for requests when no sandbox is installed.
"""

from __future__ import annotations

import copy
import functools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from moto.dynamodb.exceptions import MockValidationException, ResourceNotFoundException
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

from mr_failover.sandbox.state import Hooks
from mr_failover.sandbox.wire import SandboxResponse

if TYPE_CHECKING:
    from collections.abc import Callable

    from mr_failover.sandbox.state import SandboxState
    from mr_failover.sandbox.wire import SandboxRequest

GLOBAL_TABLE_VERSION = "2019.11.21"
LEGACY_VERSION = "2017.11.29"
STATE_KEY = "dynamodb"
NAMESPACE = "AWS/DynamoDB"
# AWS needs streams with both images to replicate; a table without streams gets them.
STREAM_VIEW = "NEW_AND_OLD_IMAGES"
# Float slack when comparing sandbox times: a lag of 0.2 s is due after advance(0.1) twice.
EPSILON = 1e-6

# What this module patches in moto (tests/sandbox/test_dynamodb_global_tables.py checks
# each still exists; recheck them when the moto pin moves).
HOOKS = (
    "moto.dynamodb.responses.DynamoHandler.update_table",
    "moto.dynamodb.models.table.Table.describe",
    "moto.dynamodb.models.DynamoDBBackend.put_item",
    "moto.dynamodb.models.DynamoDBBackend.update_item",
    "moto.dynamodb.models.DynamoDBBackend.delete_item",
    "moto.dynamodb.models.DynamoDBBackend.delete_table",
)

_install_lock = threading.Lock()
# Every sandbox installed in this process, newest last; requests go to the newest running one.
_installed: list[SandboxState] = []
_hooks = Hooks("DynamoDB")

Stamp = tuple[float, str]  # (write time on the sandbox clock, region written): LWW order


@dataclass
class Replica:
    region: str
    status: str  # CREATING | ACTIVE | DELETING
    since: float


@dataclass
class GlobalTable:
    name: str
    replicas: dict[str, Replica] = field(default_factory=dict)
    # 2017.11.29 (Legacy): made by CreateGlobalTable, read by DescribeGlobalTable.
    version: str = GLOBAL_TABLE_VERSION
    created: float = 0.0


@dataclass
class Change:
    """One item write waiting to reach the other replicas."""

    table: str
    source: str
    key: str  # canonical JSON of the key attributes
    key_attrs: dict[str, Any]
    item: dict[str, Any] | None  # the whole new item; None for a delete
    stamp: Stamp
    pending: set[str]


@dataclass
class State:
    tables: dict[str, GlobalTable] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    # (table, region, key) -> stamp of the write that item's current value came from
    stamps: dict[tuple[str, str, str], Stamp] = field(default_factory=dict)
    delivered: int = 0  # replicated writes applied (for the state page and tests)


def install(sandbox: SandboxState) -> None:
    """Patch moto (once per process), serve the legacy global table actions moto lacks,
    and register the replication ticker."""
    register(sandbox)
    _hooks.install(sandbox, _patch_moto)
    for action, handler in _LEGACY_ACTIONS.items():
        sandbox.intercept("dynamodb", action, _legacy_interceptor(sandbox, handler))
    sandbox.every(sandbox.settings.tick, lambda: tick(sandbox))


def state(sandbox: SandboxState) -> State:
    """This simulation's state in ``sandbox`` (wiped by ``Sandbox.reset``)."""
    st: State = sandbox.state(STATE_KEY, State)
    return st


def register(sandbox: SandboxState) -> None:
    """Make ``sandbox`` the one the patched moto methods serve (s3.py shares this)."""
    with _install_lock:
        if sandbox in _installed:
            _installed.remove(sandbox)
        _installed.append(sandbox)


def current(account_id: str) -> SandboxState | None:
    """The sandbox that owns requests for ``account_id``: the newest one still running.

    Tests may start and stop several sandboxes in one process (moto's state is
    process-wide); a stopped one must not keep receiving the live one's writes.
    """
    for sb in reversed(_installed):
        # Sandbox.stop() drops its server; there is no public "running" flag yet.
        if sb.account_id == account_id and getattr(sb, "_server", None) is not None:
            return sb
    return None


def _creation_seconds(sb: SandboxState) -> float:
    # How long a new replica stays CREATING (and a removed one DELETING); AWS takes
    # minutes, the sandbox a moment.
    return sb.settings.dynamodb_replica_creation_seconds


def _down(sb: SandboxState, region: str) -> bool:
    return sb.region_down(region, "dynamodb")


def _key_of(table: Table, attrs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    key_attrs = {name: attrs[name] for name in table.table_key_attrs if name in attrs}
    return json.dumps(key_attrs, sort_keys=True), key_attrs


# --- replica management ------------------------------------------------------------


def _replica_updates(
    sb: SandboxState, backend: DynamoDBBackend, name: str, updates: list[dict[str, Any]]
) -> None:
    """Apply ``UpdateTable(ReplicaUpdates=...)`` sent to ``backend``'s region."""
    table = backend.get_table(name)
    here = backend.region_name
    st = state(sb)
    group = st.tables.get(table.name)
    if group is None:
        group = GlobalTable(table.name, {here: Replica(here, "ACTIVE", sb.now())})
    for update in updates:
        if "Create" in update:
            region = update["Create"]["RegionName"]
            exists = table.name in dynamodb_backends[sb.account_id][region].tables
            if region in group.replicas or exists:
                # AWS's own wording, typo included.
                raise MockValidationException(
                    f"Failed to create a the new replica of table with name: '{table.name}' "
                    f"because one or more replicas already existed as tables: [{region}]"
                )
            _check_streams(backend, table)
            group.replicas[region] = Replica(region, "CREATING", sb.now())
            _create_replica_table(sb, st, table, here, region)
        elif "Delete" in update:
            region = update["Delete"]["RegionName"]
            replica = group.replicas.get(region)
            if replica is None:
                raise ResourceNotFoundException(f"Replica {region} of table {table.name} not found")
            replica.status, replica.since = "DELETING", sb.now()
        elif "Update" in update:
            region = update["Update"]["RegionName"]
            if region not in group.replicas:
                raise ResourceNotFoundException(f"Replica {region} of table {table.name} not found")
    st.tables[table.name] = group


def _check_streams(backend: DynamoDBBackend, table: Table) -> None:
    spec = table.stream_specification or {}
    if not spec.get("StreamEnabled"):
        backend.update_table_streams(table, {"StreamEnabled": True, "StreamViewType": STREAM_VIEW})
    elif spec.get("StreamViewType") != STREAM_VIEW:
        raise MockValidationException(
            f"Table {table.name} has streams with StreamViewType "
            f"{spec.get('StreamViewType')}; a global table needs {STREAM_VIEW}"
        )


def _create_replica_table(
    sb: SandboxState, st: State, source: Table, source_region: str, region: str
) -> None:
    """The replica table in ``region``: same schema and streams, backfilled with items."""
    target_backend = dynamodb_backends[sb.account_id][region]
    replica = target_backend.create_table(
        source.name,
        schema=copy.deepcopy(source.schema),
        throughput=copy.deepcopy(source.throughput)
        if source.billing_mode != "PAY_PER_REQUEST"
        else None,
        attr=copy.deepcopy(source.attr),
        global_indexes=[copy.deepcopy(_gsi_spec(i)) for i in source.global_indexes] or None,
        indexes=[copy.deepcopy(_lsi_spec(i)) for i in source.indexes] or None,
        streams=copy.deepcopy(source.stream_specification),
        billing_mode=source.billing_mode or "PAY_PER_REQUEST",
        sse_specification=copy.deepcopy(source.sse_specification),
        tags=[],
        deletion_protection_enabled=False,
        warm_throughput=None,
    )
    # The backfill: AWS copies the existing items into a new replica before ACTIVE.
    for item in source.all_items():
        attrs = copy.deepcopy(item.to_json()["Attributes"])
        replica.put_item(attrs)
        key, _ = _key_of(source, attrs)
        stamp = st.stamps.get((source.name, source_region, key))
        if stamp is not None:
            st.stamps[(source.name, region, key)] = stamp
    # Writes still in flight from the other replicas must reach the new one too.
    for change in st.changes:
        if change.table == source.name and change.source != region:
            change.pending.add(region)


def _gsi_spec(index: Any) -> dict[str, Any]:
    spec = {"IndexName": index.name, "KeySchema": index.schema, "Projection": index.projection}
    if getattr(index, "throughput", None):
        spec["ProvisionedThroughput"] = index.throughput
    return spec


def _lsi_spec(index: Any) -> dict[str, Any]:
    return {"IndexName": index.name, "KeySchema": index.schema, "Projection": index.projection}


def _describe_replicas(sb: SandboxState, table: Table, out: dict[str, Any]) -> None:
    group = state(sb).tables.get(table.name)
    if group is None or table.region_name not in group.replicas or len(group.replicas) < 2:
        return
    if group.version == LEGACY_VERSION:
        # DescribeTable reports Replicas and GlobalTableVersion for version 2019.11.21;
        # a legacy replica is found with DescribeGlobalTable (rule dynamodb-legacy-global-
        # tables; what DescribeTable says of one is an assumption: docs/SANDBOX.md).
        return
    out["GlobalTableVersion"] = GLOBAL_TABLE_VERSION
    out["Replicas"] = [
        {"RegionName": r.region, "ReplicaStatus": r.status}
        for r in sorted(group.replicas.values(), key=lambda r: r.region)
    ]
    if any(r.status != "ACTIVE" for r in group.replicas.values()):
        out["TableStatus"] = "UPDATING"


# --- version 2017.11.29 (Legacy): CreateGlobalTable, DescribeGlobalTable ----------------
#
# rule: dynamodb-legacy-global-tables
# moto 5.2.5 serves neither. CreateGlobalTable "creates a replication relationship between
# two or more DynamoDB tables with the same table name in the provided Regions"; each
# table must exist, have the same primary key, DynamoDB Streams with new and old images,
# and no data (CreateGlobalTable, Amazon DynamoDB API Reference,
# https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateGlobalTable.html).
# DescribeGlobalTable "only applies to Version 2017.11.29 (Legacy)": a current-version
# table is GlobalTableNotFoundException, and a successful answer is how a legacy replica is
# recognised ("DynamoDB global tables versions", Amazon DynamoDB Developer Guide,
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/globaltables.DetermineVersion.html;
# DescribeGlobalTable, https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DescribeGlobalTable.html).
# Items replicate as for the current version (the same last-writer-wins engine).


class _LegacyError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _arn(sb: SandboxState, name: str) -> str:
    return f"arn:aws:dynamodb::{sb.account_id}:global-table/{name}"


def _legacy_description(sb: SandboxState, group: GlobalTable) -> dict[str, Any]:
    statuses = {r.status for r in group.replicas.values()}
    return {
        "GlobalTableName": group.name,
        "GlobalTableArn": _arn(sb, group.name),
        "CreationDateTime": group.created,
        "GlobalTableStatus": "ACTIVE" if statuses == {"ACTIVE"} else "CREATING",
        "ReplicationGroup": [
            {"RegionName": r.region, "ReplicaStatus": r.status}
            for r in sorted(group.replicas.values(), key=lambda r: r.region)
        ],
    }


def _create_global_table(sb: SandboxState, region: str, params: dict[str, Any]) -> dict[str, Any]:
    name = str(params.get("GlobalTableName", ""))
    regions = [str(g.get("RegionName", "")) for g in params.get("ReplicationGroup", [])]
    st = state(sb)
    if name in st.tables:
        raise _LegacyError(
            "GlobalTableAlreadyExistsException", f"Global table {name} already exists"
        )
    tables = []
    for r in dict.fromkeys(regions):
        table = dynamodb_backends[sb.account_id][r].tables.get(name)
        if table is None:
            raise _LegacyError("TableNotFoundException", f"Table {name} not found in {r}")
        spec = table.stream_specification or {}
        if not spec.get("StreamEnabled") or spec.get("StreamViewType") != STREAM_VIEW:
            raise _LegacyError(
                "ValidationException",
                f"Table {name} in {r} needs DynamoDB Streams with {STREAM_VIEW}",
            )
        if next(iter(table.all_items()), None) is not None:
            raise _LegacyError("ValidationException", f"Table {name} in {r} is not empty")
        tables.append(table)
    if len({json.dumps(t.schema, sort_keys=True) for t in tables}) > 1:
        raise _LegacyError("ValidationException", f"Tables {name} have different primary keys")
    now = sb.now()
    group = GlobalTable(
        name,
        {r: Replica(r, "CREATING", now) for r in dict.fromkeys(regions)},
        version=LEGACY_VERSION,
        created=time.time(),
    )
    st.tables[name] = group
    return {"GlobalTableDescription": _legacy_description(sb, group)}


def _describe_global_table(sb: SandboxState, region: str, params: dict[str, Any]) -> dict[str, Any]:
    name = str(params.get("GlobalTableName", ""))
    group = state(sb).tables.get(name)
    if group is None or group.version != LEGACY_VERSION or region not in group.replicas:
        raise _LegacyError("GlobalTableNotFoundException", f"Global table not found: {name}")
    return {"GlobalTableDescription": _legacy_description(sb, group)}


_LEGACY_ACTIONS = {
    "CreateGlobalTable": _create_global_table,
    "DescribeGlobalTable": _describe_global_table,
}


def _legacy_interceptor(
    sb: SandboxState, handler: Callable[[SandboxState, str, dict[str, Any]], dict[str, Any]]
) -> Callable[[SandboxRequest], SandboxResponse]:
    def answer(request: SandboxRequest) -> SandboxResponse:
        try:
            params = json.loads(request.body() or b"{}")
            with sb.lock:
                out = handler(sb, request.region, params if isinstance(params, dict) else {})
        except _LegacyError as exc:
            return request.error(exc.status, exc.code, exc.message)
        except json.JSONDecodeError as exc:
            return request.error(400, "SerializationException", str(exc))
        return SandboxResponse(
            200, json.dumps(out).encode(), (("Content-Type", "application/x-amz-json-1.0"),)
        )

    return answer


# --- replication ---------------------------------------------------------------------


def _record(
    sb: SandboxState, table: Table, attrs: dict[str, Any] | None, key_src: dict[str, Any]
) -> None:
    """Queue a local write for the table's other replicas (if it is a global table)."""
    st = state(sb)
    region = table.region_name
    group = st.tables.get(table.name)
    key, key_attrs = _key_of(table, key_src)
    stamp: Stamp = (sb.now(), region)
    st.stamps[(table.name, region, key)] = stamp
    if group is None or region not in group.replicas:
        return
    targets = {r for r in group.replicas if r != region and group.replicas[r].status != "DELETING"}
    if targets:
        st.changes.append(
            Change(
                table.name,
                region,
                key,
                copy.deepcopy(key_attrs),
                copy.deepcopy(attrs),
                stamp,
                targets,
            )
        )


def tick(sb: SandboxState) -> None:
    """Advance replica lifecycles and deliver the writes whose lag has passed."""
    now = sb.now()
    st = state(sb)
    wait = _creation_seconds(sb)
    for group in list(st.tables.values()):
        for replica in list(group.replicas.values()):
            if now - replica.since + EPSILON < wait or _down(sb, replica.region):
                continue
            if replica.status == "CREATING":
                replica.status, replica.since = "ACTIVE", now
            elif replica.status == "DELETING":
                del group.replicas[replica.region]
                tables = dynamodb_backends[sb.account_id][replica.region].tables
                tables.pop(group.name, None)
                for change in st.changes:
                    if change.table == group.name:
                        change.pending.discard(replica.region)
        if len(group.replicas) < 2:
            # A single replica left is a plain table again.
            del st.tables[group.name]
    lag = sb.settings.dynamodb_replication_lag
    kept: list[Change] = []
    for change in st.changes:
        if now + EPSILON >= change.stamp[0] + lag and not _down(sb, change.source):
            for region in sorted(change.pending):
                if not _down(sb, region):
                    _deliver(sb, st, change, region, now)
                    change.pending.discard(region)
        if change.pending:
            kept.append(change)
    st.changes = kept


def _deliver(sb: SandboxState, st: State, change: Change, region: str, now: float) -> None:
    table = dynamodb_backends[sb.account_id][region].tables.get(change.table)
    if table is None:
        return
    slot = (change.table, region, change.key)
    current = st.stamps.get(slot)
    # Last writer wins: an older write arriving late never overwrites a newer one.
    if current is None or change.stamp > current:
        if change.item is None:
            hash_value = DynamoType(change.key_attrs[table.hash_key_attr])
            range_value = (
                DynamoType(change.key_attrs[table.range_key_attr]) if table.range_key_attr else None
            )
            table.delete_item(hash_value, range_value)
        else:
            table.put_item(copy.deepcopy(change.item), overwrite=True)
        st.stamps[slot] = change.stamp
        st.delivered += 1
    _put_metric(
        sb,
        change.source,
        "ReplicationLatency",
        max(0.0, now - change.stamp[0]) * 1000.0,
        "Milliseconds",
        [
            {"Name": "TableName", "Value": change.table},
            {"Name": "ReceivingRegion", "Value": region},
        ],
    )


def _put_metric(
    sb: SandboxState, region: str, name: str, value: float, unit: str, dims: list[dict[str, str]]
) -> None:
    cloudwatch = sb.backend("cloudwatch", region)
    cloudwatch.put_metric_data(
        NAMESPACE, [{"MetricName": name, "Value": value, "Unit": unit, "Dimensions": dims}]
    )


# --- moto patches --------------------------------------------------------------------


def _patch_moto() -> None:
    DynamoHandler.update_table = _wrap_update_table(DynamoHandler.update_table)  # type: ignore[method-assign]
    Table.describe = _wrap_describe(Table.describe)  # type: ignore[method-assign]
    DynamoDBBackend.put_item = _wrap_write(DynamoDBBackend.put_item, "put")  # type: ignore[method-assign]
    DynamoDBBackend.update_item = _wrap_write(DynamoDBBackend.update_item, "update")  # type: ignore[method-assign]
    DynamoDBBackend.delete_item = _wrap_write(DynamoDBBackend.delete_item, "delete")  # type: ignore[method-assign]
    DynamoDBBackend.delete_table = _wrap_delete_table(DynamoDBBackend.delete_table)  # type: ignore[method-assign]


def _wrap_update_table(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def update_table(self: DynamoHandler) -> Any:
        backend = self.dynamodb_backend
        sb = current(backend.account_id)
        updates = self.body.get("ReplicaUpdates") if isinstance(self.body, dict) else None
        if sb is not None and updates:
            with sb.lock:
                _replica_updates(sb, backend, self.body["TableName"], updates)
        return original(self)

    return update_table


def _wrap_describe(original: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    @functools.wraps(original)
    def describe(self: Table, base_key: str = "TableDescription") -> dict[str, Any]:
        out = original(self, base_key)
        sb = current(self.account_id)
        if sb is not None:
            with sb.lock:
                _describe_replicas(sb, self, out[base_key])
        return out

    return describe


def _wrap_write(original: Callable[..., Any], kind: str) -> Callable[..., Any]:
    @functools.wraps(original)
    def write(self: DynamoDBBackend, table_name: str, *args: Any, **kwargs: Any) -> Any:
        sb = current(self.account_id)
        if sb is None:
            return original(self, table_name, *args, **kwargs)
        with sb.lock:
            result = original(self, table_name, *args, **kwargs)
            table = self.get_table(table_name)
            key_src: dict[str, Any] = args[0] if args else kwargs.get("key") or kwargs["item_attrs"]
            if kind == "delete":
                _record(sb, table, None, key_src)
            else:
                attrs = result.to_json()["Attributes"]
                _record(sb, table, attrs, attrs)
            return result

    return write


def _wrap_delete_table(original: Callable[..., Table]) -> Callable[..., Table]:
    @functools.wraps(original)
    def delete_table(self: DynamoDBBackend, name: str) -> Table:
        sb = current(self.account_id)
        if sb is None:
            return original(self, name)
        with sb.lock:
            table = original(self, name)
            st = state(sb)
            group = st.tables.get(table.name)
            # Deleting a replica's table leaves the global table (as on AWS).
            if group is not None and self.region_name in group.replicas:
                del group.replicas[self.region_name]
                for change in st.changes:
                    if change.table == table.name:
                        change.pending.discard(self.region_name)
                if len(group.replicas) < 2:
                    del st.tables[table.name]
            return table

    return delete_table
