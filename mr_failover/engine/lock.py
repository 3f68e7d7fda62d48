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

Clocks: staleness never compares one machine's clock with another's. Each heartbeat
writes a new random record version (``rvn``); an operator who meets a lease that looks
expired by its own clock does not take it at once: it watches the record version for the
lease period (``lease_seconds``, stored in the item) on its own monotonic clock, and takes
the lease over only if the version did not change, with a write conditional on that very
version. This is how the Amazon DynamoDB Lock Client expires locks ("How we handle clock
skew", https://github.com/awslabs/amazon-dynamodb-lock-client; AWS's page "Distributed
locking with the DynamoDB Lock Client",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/BestPractices_DistributedLocking.html,
names clock skew as the risk of expiry by timestamps). A lease that looks live by this
machine's clock is refused at once (a clock running behind only delays a takeover). A
holder whose process is dead on this very host (same host name and the same boot and pid
namespace, ``host_id``) needs no watch: ``lock status`` says so at once, its own run's
resume takes the lease over at once, and another run does once the lease looks expired
(before that it is refused with the dead run's id: its journal is incomplete, and a
person decides between resuming it and breaking the lock). The holder, for its part, stops starting
mutating calls once two thirds of the lease period have passed (on its own monotonic
clock) since the start of its last successful renewal: an observer cannot take over
before the whole period has passed, so the last third is the margin for a call in flight.

Regions: the lock must not depend on the one region that may be down. The topology may
name ``lock.fallback_regions`` (the table then is a DynamoDB global table with replicas
there). :func:`acquire` tries ``lock.region`` then each fallback, in that order and with
short timeouts, and takes the lease with the conditional write in the first region that
answers; the lease records that region (``lock_region``), and renewal and release go
there. A global table's conditional writes are checked in one region only, so two
operators who disagree about which region answers could each win in a different region:
every operator tries the same ordered list, and after winning in a region the acquirer
reads the later regions and backs off if a live lease of someone else is there.
:func:`read_all` reads every lock region (``lock status``) and flags different live
leases in different regions. docs/OPERATIONS.md ("When a region is down") says what
window remains.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mr_failover.aws import ClientFactory, Timeouts, error_code, translate
from mr_failover.errors import (
    AwsCallError,
    MrFailoverError,
    RefusedError,
    RegionUnreachableError,
    UsageError,
)

if TYPE_CHECKING:
    from mr_failover.engine.plan import Clock
    from mr_failover.topology import LockLocation, Topology

KEY = "application"
DEFAULT_TTL = 120.0
_CCF = "ConditionalCheckFailedException"
# Per lock region: a black-holed endpoint costs about this before the next one is tried.
REGION_DEADLINE = 6.0
# Error codes that mean "the region's DynamoDB is not answering", not a refusal.
_DOWN_CODES = ("ServiceUnavailable", "InternalServerError", "InternalFailure", "InternalError")
# The holder trusts its lease for this share of the lease period after the start of its
# last successful renewal; the rest is the margin for a mutating call in flight.
VALID_SHARE = 2 / 3


def this_host_id() -> str:
    """This kernel's boot id and this process's pid namespace ("" where unknown).

    Two machines (or containers) may share a host name; the same boot id and pid
    namespace mean the same process table, so a pid found dead there is dead.
    """
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        pidns = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return ""
    return f"{boot}/{pidns}"


@dataclass(frozen=True)
class Owner:
    """Who holds the lock, and for which run."""

    caller_arn: str
    host: str
    pid: int
    run_id: str
    command: str
    host_id: str = ""  # this_host_id() of the holder: its pid is judged only on that host

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
            "host_id": self.host_id,
        }

    def same_host(self, host: str, host_id: str) -> bool:
        """Is this owner's process on the host ``host`` / ``host_id``? (False when unknown.)"""
        return bool(self.host_id) and (self.host, self.host_id) == (host, host_id)


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
    lease_region: str = ""  # where the lease was taken (it may be read from a replica)
    rvn: str = ""  # the record version: a new random value at each heartbeat
    lease_seconds: float = DEFAULT_TTL
    holder_dead: bool = False  # the holder's pid is dead on this very host

    @property
    def live(self) -> bool:
        return self.held and not self.stale

    @property
    def stale(self) -> bool:
        """Expired by this machine's clock: a hint, which a takeover confirms by watching
        the record version for the lease period (clocks may disagree). A holder found
        dead on this host is ``holder_dead``, stale at once whatever the clocks say."""
        return self.held and self.expires_at <= self.now

    @property
    def version(self) -> tuple[str, str, float]:
        """What changes at every renewal or takeover (heartbeat_at for items without rvn)."""
        return (self.token, self.rvn, self.heartbeat_at)

    def to_json(self) -> dict[str, Any]:
        from mr_failover.engine.journal import iso

        out: dict[str, Any] = {
            "application": self.application,
            "table": self.table,
            "region": self.region,
            "state": "stale" if self.stale else "held" if self.held else "free",
            "holder_dead": self.holder_dead,
        }
        if self.held and self.owner is not None:
            out |= {
                "owner": self.owner.to_json(),
                "acquired_at": iso(self.acquired_at),
                "heartbeat_at": iso(self.heartbeat_at),
                "expires_at": iso(self.expires_at),
                "expires_in_seconds": round(self.expires_at - self.now, 1),
                "lease_region": self.lease_region or self.region,
            }
        return out


@dataclass(frozen=True)
class LockView:
    """The lock as read in every lock region (``lock status``)."""

    states: tuple[LockState, ...]  # the regions that answered, in lock order
    unreachable: tuple[tuple[str, str], ...]  # (region, why) for those that did not

    @property
    def effective(self) -> LockState | None:
        """What an acquirer would meet: the first lock region that answered."""
        return self.states[0] if self.states else None

    @property
    def conflict(self) -> bool:
        """Different live leases in different regions: two operators both hold the lock."""
        return len({s.token for s in self.states if s.live}) > 1

    def conflict_text(self) -> str:
        held = [s for s in self.states if s.live]
        parts = [
            f"{s.region}: run {s.owner.run_id if s.owner else '?'} (taken in "
            f"{s.lease_region or s.region})"
            for s in held
        ]
        return (
            "CONFLICT: different live leases in more than one lock region ("
            + "; ".join(parts)
            + "): two operators may both be mutating; stop one of them, then "
            "`mr-failover lock break --reason TEXT` its lease"
        )

    def to_json(self) -> dict[str, Any]:
        first = self.effective
        out: dict[str, Any] = first.to_json() if first is not None else {}
        out["regions"] = [s.to_json() for s in self.states]
        out["unreachable"] = dict(self.unreachable)
        out["conflict"] = self.conflict
        return out


def location(topology: Topology) -> LockLocation:
    if topology.lock is None:
        raise UsageError(
            "the topology names no lock table: add `lock: {table: NAME, region: REGION}` "
            "to the topology file"
        )
    return topology.lock


def _missing_table_hint(loc: LockLocation, region: str) -> str:
    if region != loc.region:
        return (
            f"add a replica of the global table: aws dynamodb update-table --region "
            f"{loc.region} --table-name {loc.table} --replica-updates "
            f"'Create={{RegionName={region}}}'"
        )
    return (
        f"create it: aws dynamodb create-table --region {loc.region} --table-name "
        f"{loc.table} --attribute-definitions AttributeName={KEY},AttributeType=S "
        f"--key-schema AttributeName={KEY},KeyType=HASH --billing-mode PAY_PER_REQUEST"
    )


def _fail(
    exc: Exception, loc: LockLocation, call: str, region: str | None = None
) -> MrFailoverError:
    where = region or loc.region
    if error_code(exc) == "ResourceNotFoundException":
        return AwsCallError(
            where, call, f"lock table {loc.table} not found", _missing_table_hint(loc, where)
        )
    return translate(exc, where, call)


def _down(error: MrFailoverError) -> bool:
    """Does ``error`` say the region is not answering (so the next lock region is tried)?

    A refusal (access denied, throttling, a missing table) is an answer: moving on to the
    next region then would only widen the window in which two operators both win.
    """
    if isinstance(error, RegionUnreachableError):
        return True
    return isinstance(error, AwsCallError) and error.detail.startswith(_DOWN_CODES)


def _client(factory: ClientFactory, region: str) -> Any:
    """A DynamoDB client whose calls give up fast, so an outage moves on to the next region."""
    bounded = Timeouts.for_deadline(REGION_DEADLINE)
    own = factory.timeouts
    timeouts = Timeouts(
        connect=min(own.connect, bounded.connect),
        read=min(own.read, bounded.read),
        max_attempts=min(own.max_attempts, bounded.max_attempts),
    )
    return factory.with_timeouts(timeouts).client("dynamodb", region)


def _state(
    item: dict[str, Any] | None,
    application: str,
    loc: LockLocation,
    now: float,
    region: str | None = None,
    alive: Callable[[int], bool] | None = None,
) -> LockState:
    where = region or loc.region
    if not item:
        return LockState(application, loc.table, where, held=False, now=now)
    owner = Owner(
        caller_arn=item.get("owner_arn", {}).get("S", "?"),
        host=item.get("host", {}).get("S", "?"),
        pid=int(item.get("pid", {}).get("N", "0")),
        run_id=item.get("run_id", {}).get("S", "?"),
        command=item.get("command", {}).get("S", "?"),
        host_id=item.get("host_id", {}).get("S", ""),
    )
    dead = (
        alive is not None
        and owner.same_host(socket.gethostname(), this_host_id())
        and not alive(owner.pid)
    )
    return LockState(
        application,
        loc.table,
        where,
        held=True,
        now=now,
        owner=owner,
        acquired_at=float(item.get("acquired_at", {}).get("N", "0")),
        expires_at=float(item.get("expires_at", {}).get("N", "0")),
        heartbeat_at=float(item.get("heartbeat_at", {}).get("N", "0")),
        token=item.get("token", {}).get("S", ""),
        lease_region=item.get("lock_region", {}).get("S", where),
        rvn=item.get("rvn", {}).get("S", ""),
        lease_seconds=float(item.get("lease_seconds", {}).get("N", str(DEFAULT_TTL))),
        holder_dead=dead,
    )


def _read_in(
    factory: ClientFactory,
    topology: Topology,
    region: str,
    time_fn: Callable[[], float],
    alive: Callable[[int], bool] | None = None,
) -> LockState:
    """The lock as ``region``'s table holds it (strongly consistent there; no write)."""
    loc = location(topology)
    client = _client(factory, region)
    try:
        out = client.get_item(
            TableName=loc.table, Key={KEY: {"S": topology.application}}, ConsistentRead=True
        )
    except Exception as exc:
        raise _fail(exc, loc, "dynamodb:GetItem", region) from None
    return _state(out.get("Item"), topology.application, loc, time_fn(), region, alive or pid_alive)


def _none_answered(
    loc: LockLocation, call: str, failures: list[tuple[str, MrFailoverError]]
) -> MrFailoverError:
    detail = "no lock region answered: " + "; ".join(
        f"{r}: {e.detail if isinstance(e, AwsCallError) else e}" for r, e in failures
    )
    return RegionUnreachableError(
        ", ".join(r for r, _ in failures),
        call,
        detail,
        "retry; if these regions are down, add a replica region to lock.fallback_regions"
        if not loc.fallback_regions
        else "retry when one of them answers",
    )


def read(
    factory: ClientFactory,
    topology: Topology,
    *,
    time_fn: Callable[[], float] = time.time,
    alive: Callable[[int], bool] | None = None,
) -> LockState:
    """The lock now, in the first lock region that answers (no write)."""
    loc = location(topology)
    failures: list[tuple[str, MrFailoverError]] = []
    for region in loc.regions():
        try:
            return _read_in(factory, topology, region, time_fn, alive)
        except MrFailoverError as exc:
            if not _down(exc):
                raise
            failures.append((region, exc))
    raise _none_answered(loc, "dynamodb:GetItem", failures)


def read_all(
    factory: ClientFactory,
    topology: Topology,
    *,
    time_fn: Callable[[], float] = time.time,
    alive: Callable[[int], bool] | None = None,
) -> LockView:
    """The lock in every lock region; regions that do not answer are listed, not raised."""
    loc = location(topology)
    states: list[LockState] = []
    unreachable: list[tuple[str, str]] = []
    for region in loc.regions():
        try:
            states.append(_read_in(factory, topology, region, time_fn, alive))
        except MrFailoverError as exc:
            if not _down(exc):
                raise
            unreachable.append((region, exc.detail if isinstance(exc, AwsCallError) else str(exc)))
    if not states:
        raise _none_answered(
            loc,
            "dynamodb:GetItem",
            [(r, RegionUnreachableError(r, "dynamodb:GetItem", why)) for r, why in unreachable],
        )
    return LockView(tuple(states), tuple(unreachable))


def _describe_holder(state: LockState) -> str:
    from mr_failover.engine.journal import iso

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
        region: str | None = None,
        *,
        rvn: str = "",
        written_at: float | None = None,
    ) -> None:
        self._client = client
        self.loc = loc
        # The lock region whose table holds this lease: renewals and release go there.
        self.region = region or loc.region
        # Lock regions tried first that did not answer: (region, why), for the journal.
        self.skipped: tuple[tuple[str, str], ...] = ()
        self.application = application
        self.owner = owner
        self.token = token
        self.rvn = rvn
        self.ttl = ttl
        self._time = time_fn
        self.taken_over = taken_over  # the stale lease this one replaced, if any
        self.lost: str | None = None
        self.renewals = 0
        # Real monotonic time, like the heartbeat thread's: an injected test clock that
        # jumps must not make a lease look lost (or valid) that the table says otherwise.
        start = time.monotonic() if written_at is None else written_at
        self._valid_until = start + ttl * VALID_SHARE

    def renew(self) -> None:
        now = self._time()
        started = time.monotonic()
        rvn = uuid.uuid4().hex
        try:
            self._client.update_item(
                TableName=self.loc.table,
                Key={KEY: {"S": self.application}},
                UpdateExpression="SET expires_at = :exp, heartbeat_at = :now, rvn = :rvn",
                ConditionExpression="#t = :token",
                ExpressionAttributeNames={"#t": "token"},
                ExpressionAttributeValues={
                    ":exp": {"N": f"{now + self.ttl:.3f}"},
                    ":now": {"N": f"{now:.3f}"},
                    ":rvn": {"S": rvn},
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
            raise _fail(exc, self.loc, "dynamodb:UpdateItem", self.region) from None
        self.rvn = rvn
        self.renewals += 1
        self._valid_until = started + self.ttl * VALID_SHARE

    def ensure_held(self, *_: object) -> None:
        """Raise RefusedError if the lease is lost or may have run out (before a change)."""
        if not self.lost and time.monotonic() > self._valid_until:
            self.lost = (
                "its renewals did not succeed in time (another operator may take it over now)"
            )
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
            raise _fail(exc, self.loc, "dynamodb:DeleteItem", self.region) from None
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
                    if time.monotonic() >= self._valid_until:
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


def _lease_item(
    topology: Topology, owner: Owner, now: float, ttl: float, token: str, region: str
) -> dict[str, Any]:
    item = {
        KEY: {"S": topology.application},
        "owner_arn": {"S": owner.caller_arn},
        "host": {"S": owner.host},
        "pid": {"N": str(owner.pid)},
        "run_id": {"S": owner.run_id},
        "command": {"S": owner.command},
        # Wall times are for people (`lock status`); staleness is judged by rvn.
        "acquired_at": {"N": f"{now:.3f}"},
        "heartbeat_at": {"N": f"{now:.3f}"},
        "expires_at": {"N": f"{now + ttl:.3f}"},
        "token": {"S": token},
        "rvn": {"S": uuid.uuid4().hex},
        "lease_seconds": {"N": f"{ttl:g}"},
        "lock_region": {"S": region},
    }
    if owner.host_id:
        item["host_id"] = {"S": owner.host_id}
    return item


def acquire(
    factory: ClientFactory,
    topology: Topology,
    owner: Owner,
    *,
    ttl: float = DEFAULT_TTL,
    time_fn: Callable[[], float] = time.time,
    alive: Callable[[int], bool] = pid_alive,
    clock: Clock | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Lease:
    """Take the lock, or raise RefusedError naming who holds it and since when.

    The conditional write goes to the first lock region that answers (``lock.region``,
    then ``lock.fallback_regions``); a region that refuses (the lock is held) is an
    answer, and no later region is tried. A live lease left by ``owner.run_id`` itself
    (a crashed attempt of the run being resumed) is taken over, unless that attempt's
    process is still alive on this host. Another run's lease is taken over when its
    holder is dead on this host, or when it looks expired by ``time_fn`` and its record
    version then stays the same for its lease period on ``clock``'s monotonic time
    (``on_wait`` is told before that watch; ``clock`` defaults to the real one).
    """
    loc = location(topology)
    regions = loc.regions()
    watch = clock or _RealClock(time_fn)
    skipped: list[tuple[str, MrFailoverError]] = []
    for index, region in enumerate(regions):
        try:
            lease = _acquire_in(
                factory, topology, owner, region, ttl, time_fn, alive, watch, on_wait
            )
        except MrFailoverError as exc:
            if not _down(exc):
                raise
            skipped.append((region, exc))
            continue
        lease.skipped = tuple(
            (r, e.detail if isinstance(e, AwsCallError) else str(e)) for r, e in skipped
        )
        _back_off_if_held_later(factory, topology, lease, regions[index + 1 :], time_fn, alive)
        return lease
    raise _none_answered(loc, "dynamodb:PutItem", skipped)


class _RealClock:
    """The real monotonic clock and sleep, with ``time_fn`` for wall time."""

    def __init__(self, time_fn: Callable[[], float]) -> None:
        self.time = time_fn

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _back_off_if_held_later(
    factory: ClientFactory,
    topology: Topology,
    lease: Lease,
    later: list[str],
    time_fn: Callable[[], float],
    alive: Callable[[int], bool],
) -> None:
    """Release ``lease`` and refuse if a later lock region holds someone else's lease.

    That lease was taken by an operator for whom this lease's region did not answer
    (and its write has not replicated here yet): both would otherwise go ahead. The
    regions before ``lease.region`` did not answer this caller, so they are not read.
    A later region that does not answer is skipped: nobody's lease there can be seen
    now (docs/OPERATIONS.md, "When a region is down", says what window that leaves).
    Whether that lease is live is not judged by this machine's clock (clocks may
    disagree); only a holder dead on this host, or the very lease this one replaced
    (its copy not yet replaced there), is passed over.
    """
    replaced = lease.taken_over.token if lease.taken_over is not None else None
    for region in later:
        try:
            state = _read_in(factory, topology, region, time_fn, alive)
        except MrFailoverError as exc:
            if _down(exc):
                continue
            raise
        # A lease taken in this lease's own region and seen here is only replication
        # catching up (a release or takeover not arrived yet): this write superseded it.
        theirs = state.lease_region != lease.region
        other = state.token not in (lease.token, replaced)
        if state.held and not state.holder_dead and other and theirs:
            try:
                released = lease.release()
            except MrFailoverError:
                released = False  # it expires by itself; the refusal matters more
            raise RefusedError(
                f"another operation is running on {topology.application}: its lease is in "
                f"{region} (taken in {state.lease_region}), {_describe_holder(state)}; "
                f"{'released' if released else 'could not release'} the lease just taken in "
                f"{lease.region}; the lock regions disagree (an outage seen differently?): "
                "check `mr-failover lock status`, then wait for that run or break its lease"
            )


def _acquire_in(
    factory: ClientFactory,
    topology: Topology,
    owner: Owner,
    region: str,
    ttl: float,
    time_fn: Callable[[], float],
    alive: Callable[[int], bool],
    clock: Clock,
    on_wait: Callable[[str], None] | None,
) -> Lease:
    """The conditional write in ``region``; raises when it does not answer or refuses."""
    loc = location(topology)
    client = _client(factory, region)
    now = time_fn()
    written = time.monotonic()
    item = _lease_item(topology, owner, now, ttl, uuid.uuid4().hex, region)
    try:
        client.put_item(
            TableName=loc.table,
            Item=item,
            # Free only: whether a held lease is stale is decided below, not by a clock.
            ConditionExpression="attribute_not_exists(#k)",
            ExpressionAttributeNames={"#k": KEY},
        )
    except Exception as exc:
        if error_code(exc) != _CCF:
            raise _fail(exc, loc, "dynamodb:PutItem", region) from None
    else:
        return _lease(client, loc, topology, owner, item, None, ttl, time_fn, region, written)
    held = _read_in(factory, topology, region, time_fn, alive)
    if not held.held:  # released between our write and our read: say so, do not loop
        raise RefusedError(f"the lock on {topology.application} changed while taking it; retry")
    refusal = _own_run_holds(held, owner, alive)
    if refusal is None:
        return _take_over(client, loc, topology, owner, item, held, ttl, time_fn, region)
    if refusal != "another run":
        raise RefusedError(f"lock on {topology.application} {_describe_holder(held)}: {refusal}")
    assert held.owner is not None
    dead_here = held.owner.same_host(owner.host, owner.host_id) and not alive(held.owner.pid)
    if held.expires_at > now:
        # A live-looking lease of a dead run stays until a person decides: that run's
        # journal is incomplete, and resuming it may be what is needed, not a new run.
        if dead_here:
            raise RefusedError(
                f"another operation holds the lock on {topology.application}: lock "
                f"{_describe_holder(held)}; its process (pid {held.owner.pid}) is dead on "
                f"this host: resume that run (--resume {held.owner.run_id}) or "
                "`mr-failover lock break --reason TEXT`"
            )
        raise RefusedError(
            f"another operation is running on {topology.application}: lock "
            f"{_describe_holder(held)}; wait for it, or if that run is dead, "
            "`mr-failover lock break --reason TEXT`"
        )
    if not dead_here:  # expired by our clock: confirm with the heartbeat, unless it is dead
        seen = _watch(factory, topology, region, held, time_fn, alive, clock, on_wait)
        if seen.version != held.version:
            raise RefusedError(
                f"another operation is running on {topology.application}: its lease looked "
                "expired by this machine's clock, but its holder renewed it while we watched "
                f"(the clocks disagree): lock {_describe_holder(seen) if seen.held else 'released'}"
                "; wait for it and retry"
            )
    # Refresh the wall times: the new lease starts now, after the watch.
    now = time_fn()
    item |= {
        "acquired_at": {"N": f"{now:.3f}"},
        "heartbeat_at": {"N": f"{now:.3f}"},
        "expires_at": {"N": f"{now + ttl:.3f}"},
    }
    return _take_over(client, loc, topology, owner, item, held, ttl, time_fn, region)


def _watch(
    factory: ClientFactory,
    topology: Topology,
    region: str,
    held: LockState,
    time_fn: Callable[[], float],
    alive: Callable[[int], bool],
    clock: Clock,
    on_wait: Callable[[str], None] | None,
) -> LockState:
    """Watch ``held``'s record version for its lease period on ``clock``'s monotonic time.

    Returns the last state read: ``held`` itself when nobody renewed or replaced it.
    A read that fails is no evidence either way; the takeover that follows is
    conditional on the version anyway.
    """
    period = held.lease_seconds
    if on_wait is not None and held.owner is not None:
        on_wait(
            f"the lease of run {held.owner.run_id} ({held.owner.host}, pid {held.owner.pid}) "
            f"looks expired by this machine's clock; watching its heartbeat for {period:g}s "
            "before taking it over"
        )
    start = clock.monotonic()
    while (left := period - (clock.monotonic() - start)) > 0:
        clock.sleep(min(left, max(period / 6, 0.05)))
        try:
            state = _read_in(factory, topology, region, time_fn, alive)
        except MrFailoverError:
            continue
        if state.version != held.version:
            return state
    return held


def _lease(
    client: Any,
    loc: LockLocation,
    topology: Topology,
    owner: Owner,
    item: dict[str, Any],
    taken_over: LockState | None,
    ttl: float,
    time_fn: Callable[[], float],
    region: str,
    written: float,
) -> Lease:
    return Lease(
        client,
        loc,
        topology.application,
        owner,
        item["token"]["S"],
        ttl,
        time_fn,
        taken_over,
        region,
        rvn=item["rvn"]["S"],
        written_at=written,
    )


def _take_over(
    client: Any,
    loc: LockLocation,
    topology: Topology,
    owner: Owner,
    item: dict[str, Any],
    held: LockState,
    ttl: float,
    time_fn: Callable[[], float],
    region: str,
) -> Lease:
    """Replace ``held`` with ``item``, if it is still exactly the version read."""
    if held.rvn:
        condition = "#t = :token AND rvn = :rvn"
        values = {":token": {"S": held.token}, ":rvn": {"S": held.rvn}}
    else:  # an item written before record versions existed
        condition = "#t = :token AND heartbeat_at = :hb"
        values = {":token": {"S": held.token}, ":hb": {"N": f"{held.heartbeat_at:.3f}"}}
    written = time.monotonic()
    try:
        # Exactly the lease just judged: if anyone renewed or replaced it meanwhile, refuse.
        client.put_item(
            TableName=loc.table,
            Item=item,
            ConditionExpression=condition,
            ExpressionAttributeNames={"#t": "token"},
            ExpressionAttributeValues=values,
        )
    except Exception as exc:
        if error_code(exc) != _CCF:
            raise _fail(exc, loc, "dynamodb:PutItem", region) from None
        whose = (
            f"run {owner.run_id}'s own lease"
            if held.owner is not None and held.owner.run_id == owner.run_id
            else "a stale lease"
        )
        raise RefusedError(
            f"the lock on {topology.application} changed while taking over {whose}; run "
            "`mr-failover lock status` and decide again"
        ) from None
    return _lease(client, loc, topology, owner, item, held, ttl, time_fn, region, written)


def break_lock(
    factory: ClientFactory, topology: Topology, *, time_fn: Callable[[], float] = time.time
) -> LockState:
    """Delete the lease whoever holds it, in every lock region that answers and holds one.

    Returns what was broken in the first such region (held=False: the lock was free).
    With fallback regions a stale copy of the lease may sit in a region that does not
    answer now; the deletion replicates to it when it is back.
    """
    view = read_all(factory, topology, time_fn=time_fn)
    broken = [s for s in view.states if s.held]
    if not broken:
        first = view.effective
        assert first is not None  # read_all raises when no region answered
        return first
    loc = location(topology)
    for state in broken:
        try:
            _client(factory, state.region).delete_item(
                TableName=loc.table,
                Key={KEY: {"S": topology.application}},
                # Only the lease we just showed: a fresh owner that raced in is not broken blind.
                ConditionExpression="#t = :token",
                ExpressionAttributeNames={"#t": "token"},
                ExpressionAttributeValues={":token": {"S": state.token}},
            )
        except Exception as exc:
            if error_code(exc) == _CCF:
                # Already gone (the deletion in an earlier region replicated) is fine.
                if not _read_in(factory, topology, state.region, time_fn).held:
                    continue
                raise RefusedError(
                    f"the lock changed in {state.region} while breaking it (a new owner?); run "
                    "`mr-failover lock status` and decide again"
                ) from None
            raise _fail(exc, loc, "dynamodb:DeleteItem", state.region) from None
    return broken[0]


def create_table(factory: ClientFactory, topology: Topology) -> None:
    """Create the lock table in ``lock.region`` (for the sandbox seeder and tests).

    Streams are on so that replicas can be added (a global table needs them).
    """
    loc = location(topology)
    client = factory.client("dynamodb", loc.region)
    try:
        client.create_table(
            TableName=loc.table,
            AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
    except Exception as exc:
        if error_code(exc) == "ResourceInUseException":
            return
        raise _fail(exc, loc, "dynamodb:CreateTable") from None
