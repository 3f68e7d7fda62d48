"""The operators' lease lock: one mutation at a time per application.

The lock is one item in the DynamoDB table the topology names (``lock.table`` in
``lock.region``), keyed by the application name (partition key ``application``, type S).
It is taken with a conditional write that succeeds only when no item exists or the
existing lease has expired, so two operators cannot both win. The holder renews the
lease from a background thread (heartbeat); a crashed run stops renewing, and its lease
expires and may be taken over. Renewal and release are conditional on the holder's
token, so a holder whose lease was broken or taken over finds out instead of clobbering
the new owner. Read-only commands never touch the lock.

A resumed run takes over its own lease: when the live lease belongs to the very run id
being acquired for (``--resume RUN_ID`` after a crash or SIGKILL left it behind), waiting
for it to expire would only delay the recovery. The takeover is refused while that run's
process is still alive on this host (two processes must never drive one run); a holder on
another host that is still alive finds out at its next renewal and stops before its next
step. The takeover is conditional on the exact lease that was read, and the replaced
lease is reported (``Lease.taken_over``) for the journal.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mr_failover.aws import error_code, translate
from mr_failover.errors import AwsCallError, RefusedError, UsageError

if TYPE_CHECKING:
    from mr_failover.aws import ClientFactory
    from mr_failover.topology import LockLocation, Topology

KEY = "application"
DEFAULT_TTL = 120.0
_CCF = "ConditionalCheckFailedException"


@dataclass(frozen=True)
class Owner:
    """Who holds the lock, and for which run."""

    caller_arn: str
    host: str
    pid: int
    run_id: str
    command: str

    def describe(self) -> str:
        return (
            f"{self.caller_arn} on {self.host} (pid {self.pid}, run {self.run_id}, {self.command})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "caller_arn": self.caller_arn,
            "host": self.host,
            "pid": self.pid,
            "run_id": self.run_id,
            "command": self.command,
        }


@dataclass(frozen=True)
class LockState:
    """The lock as read now."""

    application: str
    table: str
    region: str
    held: bool
    now: float
    owner: Owner | None = None
    acquired_at: float = 0.0
    expires_at: float = 0.0
    heartbeat_at: float = 0.0
    token: str = ""

    @property
    def stale(self) -> bool:
        """Held by a lease nobody renews any more (a crashed run): can be taken over."""
        return self.held and self.expires_at <= self.now

    def to_json(self) -> dict[str, Any]:
        from mr_failover.journal import iso

        out: dict[str, Any] = {
            "application": self.application,
            "table": self.table,
            "region": self.region,
            "state": "stale" if self.stale else "held" if self.held else "free",
        }
        if self.held and self.owner is not None:
            out |= {
                "owner": self.owner.to_json(),
                "acquired_at": iso(self.acquired_at),
                "heartbeat_at": iso(self.heartbeat_at),
                "expires_at": iso(self.expires_at),
                "expires_in_seconds": round(self.expires_at - self.now, 1),
            }
        return out


def location(topology: Topology) -> LockLocation:
    if topology.lock is None:
        raise UsageError(
            "the topology names no lock table: add `lock: {table: NAME, region: REGION}` "
            "to the topology file"
        )
    return topology.lock


def _missing_table_hint(loc: LockLocation) -> str:
    return (
        f"create it: aws dynamodb create-table --region {loc.region} --table-name "
        f"{loc.table} --attribute-definitions AttributeName={KEY},AttributeType=S "
        f"--key-schema AttributeName={KEY},KeyType=HASH --billing-mode PAY_PER_REQUEST"
    )


def _fail(exc: Exception, loc: LockLocation, call: str) -> Exception:
    if error_code(exc) == "ResourceNotFoundException":
        return AwsCallError(
            loc.region, call, f"lock table {loc.table} not found", _missing_table_hint(loc)
        )
    return translate(exc, loc.region, call)


def _state(
    item: dict[str, Any] | None, application: str, loc: LockLocation, now: float
) -> LockState:
    if not item:
        return LockState(application, loc.table, loc.region, held=False, now=now)
    owner = Owner(
        caller_arn=item.get("owner_arn", {}).get("S", "?"),
        host=item.get("host", {}).get("S", "?"),
        pid=int(item.get("pid", {}).get("N", "0")),
        run_id=item.get("run_id", {}).get("S", "?"),
        command=item.get("command", {}).get("S", "?"),
    )
    return LockState(
        application,
        loc.table,
        loc.region,
        held=True,
        now=now,
        owner=owner,
        acquired_at=float(item.get("acquired_at", {}).get("N", "0")),
        expires_at=float(item.get("expires_at", {}).get("N", "0")),
        heartbeat_at=float(item.get("heartbeat_at", {}).get("N", "0")),
        token=item.get("token", {}).get("S", ""),
    )


def read(
    factory: ClientFactory, topology: Topology, *, time_fn: Callable[[], float] = time.time
) -> LockState:
    """The lock now (a strongly consistent read; no write)."""
    loc = location(topology)
    client = factory.client("dynamodb", loc.region)
    try:
        out = client.get_item(
            TableName=loc.table, Key={KEY: {"S": topology.application}}, ConsistentRead=True
        )
    except Exception as exc:
        raise _fail(exc, loc, "dynamodb:GetItem") from None
    return _state(out.get("Item"), topology.application, loc, time_fn())


def _describe_holder(state: LockState) -> str:
    from mr_failover.journal import iso

    assert state.owner is not None
    return (
        f"held by {state.owner.describe()} since {iso(state.acquired_at)}, "
        f"lease expires in {max(0.0, state.expires_at - state.now):.0f}s"
    )


class Lease:
    """A held lock. Renew it (heartbeat) while working; release it at the end."""

    def __init__(
        self,
        client: Any,
        loc: LockLocation,
        application: str,
        owner: Owner,
        token: str,
        ttl: float,
        time_fn: Callable[[], float],
        taken_over: LockState | None,
    ) -> None:
        self._client = client
        self.loc = loc
        self.application = application
        self.owner = owner
        self.token = token
        self.ttl = ttl
        self._time = time_fn
        self.taken_over = taken_over  # the stale lease this one replaced, if any
        self.lost: str | None = None
        self.renewals = 0
        self._last_ok = time_fn()

    def renew(self) -> None:
        now = self._time()
        try:
            self._client.update_item(
                TableName=self.loc.table,
                Key={KEY: {"S": self.application}},
                UpdateExpression="SET expires_at = :exp, heartbeat_at = :now",
                ConditionExpression="#t = :token",
                ExpressionAttributeNames={"#t": "token"},
                ExpressionAttributeValues={
                    ":exp": {"N": f"{now + self.ttl:.3f}"},
                    ":now": {"N": f"{now:.3f}"},
                    ":token": {"S": self.token},
                },
            )
        except Exception as exc:
            if error_code(exc) == _CCF:
                self.lost = "the lock was broken or taken over by someone else"
                raise RefusedError(
                    f"lost the lock on {self.application}: {self.lost}; stopping before the "
                    "next step (see `mr-failover lock status`)"
                ) from None
            raise _fail(exc, self.loc, "dynamodb:UpdateItem") from None
        self.renewals += 1
        self._last_ok = now

    def ensure_held(self, *_: object) -> None:
        """Raise RefusedError if the heartbeat found the lease gone (called between steps)."""
        if self.lost:
            raise RefusedError(
                f"lost the lock on {self.application}: {self.lost}; stopped before the next "
                "step (see `mr-failover lock status`)"
            )

    def release(self) -> bool:
        """Delete the lock if still ours; False when it was broken or taken over meanwhile."""
        try:
            self._client.delete_item(
                TableName=self.loc.table,
                Key={KEY: {"S": self.application}},
                ConditionExpression="#t = :token",
                ExpressionAttributeNames={"#t": "token"},
                ExpressionAttributeValues={":token": {"S": self.token}},
            )
        except Exception as exc:
            if error_code(exc) == _CCF:
                return False
            raise _fail(exc, self.loc, "dynamodb:DeleteItem") from None
        return True

    @contextmanager
    def heartbeat(
        self,
        interval: float | None = None,
        wait: Callable[[threading.Event, float], bool] | None = None,
    ) -> Iterator[Lease]:
        """Renew the lease every ``interval`` (ttl/3) from a daemon thread while inside."""
        stop = threading.Event()
        period = interval if interval is not None else self.ttl / 3
        pause = wait or (lambda event, seconds: event.wait(seconds))

        def beat() -> None:
            while not pause(stop, period):
                try:
                    self.renew()
                except RefusedError:
                    return
                except Exception as exc:
                    # A blip (throttling, a slow region) is retried at the next beat; once
                    # the lease may have run out, another operator may own it: stop.
                    if self._time() >= self._last_ok + self.ttl:
                        self.lost = f"could not renew the lease in time: {exc}"
                        return

        thread = threading.Thread(target=beat, name="mr-failover-lock-heartbeat", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join(timeout=5)


def pid_alive(pid: int) -> bool:
    """Is process ``pid`` running on this host? (Signal 0 checks without signalling.)"""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def _own_run_holds(held: LockState, owner: Owner, alive: Callable[[int], bool]) -> str | None:
    """Why ``held`` may NOT be taken over by ``owner``'s run, or None when it may.

    Only a lease of the same run id qualifies (a new run has a fresh id, so only a
    resume matches), and never while that run's process is still alive here.
    """
    if held.owner is None or held.owner.run_id != owner.run_id:
        return "another run"
    same_process = held.owner.host == owner.host and held.owner.pid == owner.pid
    if held.owner.host == owner.host and not same_process and alive(held.owner.pid):
        return (
            f"run {owner.run_id} is still running as pid {held.owner.pid} on {owner.host}; "
            "let it finish, or stop it (Ctrl-C) and resume again"
        )
    return None


def acquire(
    factory: ClientFactory,
    topology: Topology,
    owner: Owner,
    *,
    ttl: float = DEFAULT_TTL,
    time_fn: Callable[[], float] = time.time,
    alive: Callable[[int], bool] = pid_alive,
) -> Lease:
    """Take the lock, or raise RefusedError naming who holds it and since when.

    A live lease left by ``owner.run_id`` itself (a crashed attempt of the run being
    resumed) is taken over, unless that attempt's process is still alive on this host.
    """
    loc = location(topology)
    client = factory.client("dynamodb", loc.region)
    now = time_fn()
    token = uuid.uuid4().hex
    item = {
        KEY: {"S": topology.application},
        "owner_arn": {"S": owner.caller_arn},
        "host": {"S": owner.host},
        "pid": {"N": str(owner.pid)},
        "run_id": {"S": owner.run_id},
        "command": {"S": owner.command},
        "acquired_at": {"N": f"{now:.3f}"},
        "heartbeat_at": {"N": f"{now:.3f}"},
        "expires_at": {"N": f"{now + ttl:.3f}"},
        "token": {"S": token},
    }
    try:
        out = client.put_item(
            TableName=loc.table,
            Item=item,
            # Free, or a lease nobody renewed in time: a crashed run's lock is taken over.
            ConditionExpression="attribute_not_exists(#k) OR expires_at < :now",
            ExpressionAttributeNames={"#k": KEY},
            ExpressionAttributeValues={":now": {"N": f"{now:.3f}"}},
            ReturnValues="ALL_OLD",
        )
    except Exception as exc:
        if error_code(exc) != _CCF:
            raise _fail(exc, loc, "dynamodb:PutItem") from None
        held = read(factory, topology, time_fn=time_fn)
        if not held.held:  # released between our write and our read: say so, do not loop
            raise RefusedError(
                f"the lock on {topology.application} changed while taking it; retry"
            ) from None
        refusal = _own_run_holds(held, owner, alive)
        if refusal is None:
            return _take_over_own(client, loc, topology, owner, item, held, ttl, time_fn)
        if refusal != "another run":
            raise RefusedError(
                f"lock on {topology.application} {_describe_holder(held)}: {refusal}"
            ) from None
        raise RefusedError(
            f"another operation is running on {topology.application}: lock "
            f"{_describe_holder(held)}; wait for it, or if that run is dead, "
            "`mr-failover lock break --reason TEXT`"
        ) from None
    old = out.get("Attributes")
    taken_over = _state(old, topology.application, loc, now) if old else None
    return Lease(client, loc, topology.application, owner, token, ttl, time_fn, taken_over)


def _take_over_own(
    client: Any,
    loc: LockLocation,
    topology: Topology,
    owner: Owner,
    item: dict[str, Any],
    held: LockState,
    ttl: float,
    time_fn: Callable[[], float],
) -> Lease:
    """Replace ``held`` (a dead attempt of this same run) with ``item``, if still unchanged."""
    try:
        client.put_item(
            TableName=loc.table,
            Item=item,
            # Exactly the lease just read: if anyone renewed or replaced it meanwhile, refuse.
            ConditionExpression="#t = :token AND run_id = :run",
            ExpressionAttributeNames={"#t": "token"},
            ExpressionAttributeValues={
                ":token": {"S": held.token},
                ":run": {"S": owner.run_id},
            },
        )
    except Exception as exc:
        if error_code(exc) != _CCF:
            raise _fail(exc, loc, "dynamodb:PutItem") from None
        raise RefusedError(
            f"the lock on {topology.application} changed while taking over run "
            f"{owner.run_id}'s own lease; run `mr-failover lock status` and decide again"
        ) from None
    return Lease(client, loc, topology.application, owner, item["token"]["S"], ttl, time_fn, held)


def break_lock(
    factory: ClientFactory, topology: Topology, *, time_fn: Callable[[], float] = time.time
) -> LockState:
    """Delete the lock whoever holds it; returns what was broken (held=False: was free)."""
    state = read(factory, topology, time_fn=time_fn)
    if not state.held:
        return state
    loc = location(topology)
    try:
        factory.client("dynamodb", loc.region).delete_item(
            TableName=loc.table,
            Key={KEY: {"S": topology.application}},
            # Only the lease we just showed: a fresh owner that raced in is not broken blind.
            ConditionExpression="#t = :token",
            ExpressionAttributeNames={"#t": "token"},
            ExpressionAttributeValues={":token": {"S": state.token}},
        )
    except Exception as exc:
        if error_code(exc) == _CCF:
            raise RefusedError(
                "the lock changed while breaking it (a new owner?); run "
                "`mr-failover lock status` and decide again"
            ) from None
        raise _fail(exc, loc, "dynamodb:DeleteItem") from None
    return state


def create_table(factory: ClientFactory, topology: Topology) -> None:
    """Create the lock table (for the sandbox seeder and tests)."""
    loc = location(topology)
    client = factory.client("dynamodb", loc.region)
    try:
        client.create_table(
            TableName=loc.table,
            AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except Exception as exc:
        if error_code(exc) == "ResourceInUseException":
            return
        raise _fail(exc, loc, "dynamodb:CreateTable") from None
