"""The only place that makes botocore sessions and clients (boto3 is not needed for them).

:class:`ClientFactory` hands out one client per (service, region), built from the
region's profile or assumed role (topology), with botocore's standard retry mode,
short connect/read timeouts, the ``mr-failover/<version>`` user agent and the endpoint
override (``--endpoint-url``, else the standard ``AWS_ENDPOINT_URL`` that botocore reads
itself). Core code receives the factory; nothing here runs at import time.

:func:`translate` turns botocore exceptions into the tool's errors, naming the region,
the call and the likely fix. Every client screens its answers first (:func:`_screen`): a
body that is not an AWS response (an HTML page from a proxy or a captive portal, an empty
403, garbage) becomes :class:`NotAwsAnswer`, reported as one line naming the region, the
call and the endpoint, instead of being parsed into an empty result or a parser
traceback. :func:`check_account` is the account guard: it compares
``sts:GetCallerIdentity`` with the topology's account id (status warns on a mismatch,
mutations refuse), asking each declared region's STS in turn until one answers.
"""

from __future__ import annotations

import collections
import contextlib
import getpass
import json
import logging
import marshal
import math
import os
import re
import stat
import sys
import threading
import xml.etree.ElementTree as ElementTree
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import botocore
import botocore.config
import botocore.credentials
import botocore.exceptions
import botocore.hooks
import botocore.loaders
import botocore.parsers
import botocore.session

from mr_failover import __version__, diskcache
from mr_failover.errors import (
    AwsCallError,
    CredentialsError,
    MrFailoverError,
    RegionUnreachableError,
)

if TYPE_CHECKING:
    from mr_failover.topology import Topology

_LOG = logging.getLogger(__name__)
USER_AGENT = f"mr-failover/{__version__}"
# The global services: their control planes live in one region.
CONTROL_PLANE_REGION = {"route53": "us-east-1", "globalaccelerator": "us-west-2"}


class ClientSource(Protocol):
    """What the core needs from a factory: one client per (service, region)."""

    def client(self, service: str, region: str) -> Any: ...


@dataclass(frozen=True)
class Timeouts:
    """Per-call limits. Reads during an outage must fail fast, not hang."""

    connect: float = 3.0
    read: float = 10.0
    max_attempts: int = 3
    # Attempts for errors that answer at once (throttling, 5xx): they cost a backoff,
    # not a timeout, so they get more tries than a call that hangs (``max_attempts``).
    error_attempts: int = 5

    @classmethod
    def for_deadline(cls, seconds: float) -> Timeouts:
        """Limits for reads that must answer within ``seconds`` (status, checks).

        Two attempts at most: one retry absorbs a transient error, and a black-holed
        endpoint then costs two timeouts and a backoff, which should fit in the deadline
        so that the error names the call that hung.
        """
        if not math.isfinite(seconds) or seconds <= 0:
            raise ValueError("deadline must be a positive, finite number of seconds")
        per_try = seconds / 3
        return cls(connect=min(3.0, per_try), read=per_try, max_attempts=2)


@dataclass(frozen=True)
class AccountCheck:
    """Whether the caller's credentials belong to the topology's account."""

    expected: str
    actual: str
    arn: str
    region: str

    @property
    def matches(self) -> bool:
        return self.expected == self.actual

    def message(self) -> str:
        if self.matches:
            return f"account {self.actual} ({self.arn})"
        return (
            f"credentials are for account {self.actual} ({self.arn}) but the topology is "
            f"account {self.expected} (use the right AWS_PROFILE or fix account_id)"
        )


class FifoLock:
    """A lock granted in the order it was asked for (``threading.Lock`` makes no promise).

    Status starts its reads longest chain first; with clients made one at a time (some
    5 ms each, 32 for the example), an unordered lock let a three-call chain get its
    client last and end the whole observation 0.2 s late at 100 ms a call
    (bench/bench_status_cold.py). Not reentrant.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._held = False
        self._waiting: collections.deque[threading.Lock] = collections.deque()

    def __enter__(self) -> None:
        with self._guard:
            if not self._held:
                self._held = True
                return
            turn = threading.Lock()
            turn.acquire()
            self._waiting.append(turn)
        turn.acquire()  # released by __exit__, which hands the lock over still held

    def __exit__(self, *_: object) -> None:
        with self._guard:
            if self._waiting:
                self._waiting.popleft().release()
            else:
                self._held = False


class ClientFactory:
    """Thread-safe cache of botocore clients per (service, region)."""

    def __init__(
        self,
        topology: Topology | None = None,
        *,
        endpoint_url: str | None = None,
        timeouts: Timeouts | None = None,
    ) -> None:
        self._topology = topology
        self.endpoint_url = endpoint_url
        self.timeouts = timeouts or Timeouts()
        self._lock = threading.Lock()
        self._sessions: dict[tuple[str | None, str | None], botocore.session.Session] = {}
        self._making: dict[tuple[str | None, str | None], threading.Lock] = {}
        self._clients: dict[tuple[str, str, str | None], Any] = {}
        self._making_clients = FifoLock()

    def _config(self) -> botocore.config.Config:
        return botocore.config.Config(
            user_agent_extra=USER_AGENT,
            connect_timeout=self.timeouts.connect,
            read_timeout=self.timeouts.read,
            # total_max_attempts counts the first try; botocore's max_attempts would not.
            retries={"mode": "standard", "total_max_attempts": self._attempts()},
        )

    def _attempts(self) -> int:
        return max(self.timeouts.max_attempts, self.timeouts.error_attempts)

    def _session_for(self, region: str) -> botocore.session.Session:
        profile = role = None
        if self._topology is not None and region in self._topology.regions:
            spec = self._topology.regions[region]
            profile, role = spec.profile, spec.role_arn
        key = (profile, role)
        with self._lock:
            if key in self._sessions:
                return self._sessions[key]
            making = self._making.setdefault(key, threading.Lock())
        # AssumeRole is a network call: hold only this session's lock while it runs,
        # so a region whose STS does not answer never blocks the other regions' clients.
        with making:
            with self._lock:
                if key in self._sessions:
                    return self._sessions[key]
            session = _session(profile)
            if role is not None:
                session = _assume(session, role, region, self)
            with self._lock:
                return self._sessions.setdefault(key, session)

    def check_profiles(self) -> None:
        """Raise CredentialsError (exit 5) if a profile the clients would use is missing.

        Reads only the local AWS config files (no AWS call): the environment's
        ``AWS_PROFILE`` and each region's ``profile`` in the topology.
        """
        profiles: set[str | None] = {None}
        if self._topology is not None:
            profiles |= {spec.profile for spec in self._topology.regions.values()}
        for profile in profiles:
            session = _session(profile)
            try:
                session.get_scoped_config()
            except botocore.exceptions.ProfileNotFound as exc:
                raise CredentialsError(
                    f"{exc} (check ~/.aws/config, AWS_PROFILE or the topology's profile)"
                ) from None
            # The clients of a region without a role use this very session: made once.
            with self._lock:
                self._sessions.setdefault((profile, None), session)

    def with_timeouts(self, timeouts: Timeouts) -> ClientFactory:
        """A factory with other limits, sharing this one's sessions (no new AssumeRole)."""
        other = ClientFactory(self._topology, endpoint_url=self.endpoint_url, timeouts=timeouts)
        other._lock = self._lock
        other._making_clients = self._making_clients
        other._sessions = self._sessions
        other._making = self._making
        return other

    def client(self, service: str, region: str, *, endpoint_url: str | None = None) -> Any:
        """A client for ``service`` in ``region`` (global services: their home region).

        ``endpoint_url`` sends it to one explicit endpoint, signed for ``region`` (an ARC
        cluster's regional endpoints); otherwise the factory's endpoint override applies.
        """
        key = (service, region, endpoint_url)
        with self._lock:
            if key in self._clients:
                return self._clients[key]
        try:
            session = self._session_for(region)
            # botocore sessions are not thread-safe: clients are made one at a time, in
            # the order they were asked for (status asks for its longest reads' first).
            with self._making_clients:
                with self._lock:
                    if key in self._clients:
                        return self._clients[key]
                client = session.create_client(
                    service,
                    region_name=region,
                    endpoint_url=endpoint_url or self.endpoint_url,
                    config=self._config(),
                )
                if self._attempts() > self.timeouts.max_attempts:
                    _limit_hung_attempts(client, self.timeouts.max_attempts)
                _screen_answers(client)
                with self._lock:
                    self._clients[key] = client
                return client
        except botocore.exceptions.BotoCoreError as exc:
            raise translate(exc, region, f"{service} client") from None


_HUNG = (
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
)


def _limit_hung_attempts(client: Any, max_attempts: int) -> None:
    """Stop retrying a call that timed out or lost its connection after ``max_attempts``.

    botocore has one attempt limit for every kind of failure; the client's is
    ``error_attempts``, so that 20 % throttling does not fail an operation. A black-holed
    region, though, must not cost that many timeouts: this handler runs before the retry
    handler and re-raises the connection error, as botocore does when attempts run out.
    """

    def stop_hung(attempts: int, caught_exception: Exception | None = None, **_: Any) -> None:
        if isinstance(caught_exception, _HUNG) and attempts >= max_attempts:
            raise caught_exception

    client.meta.events.register_first("needs-retry", stop_hung)


class NotAwsAnswer(botocore.exceptions.BotoCoreError):
    """An HTTP answer whose body is not an AWS response (a proxy's or portal's page)."""

    fmt = "the answer from {endpoint} is not an AWS response ({what})"

    def __init__(self, *, endpoint: str, what: str) -> None:
        super().__init__(endpoint=endpoint, what=what)
        self.endpoint = endpoint


# Marks a junk 5xx so that translate() can name the endpoint once retries are spent.
_JUNK_HEADER = "x-mr-failover-not-aws"


def _junk(protocol: str, headers: Any, body: bytes) -> str | None:
    """What is wrong with an answer that is not an AWS response, or None if it is one.

    AWS answers with JSON for the json / rest-json protocols and with XML for query /
    ec2 / rest-xml, never with an HTML page. The body decides, not the Content-Type
    (moto labels some XML answers text/html). Assumption (no AWS page says it for every
    service): a query or ec2 answer always has a body (its RequestId at least).
    """
    text = body.strip().removeprefix(b"\xef\xbb\xbf").lstrip()
    ctype = str(headers.get("content-type") or headers.get("Content-Type") or "")
    if text[:15].lower().startswith((b"<!doctype html", b"<html")):
        return f"an HTML page ({ctype or 'no content type'})"
    if protocol not in ("json", "rest-json", "query", "ec2", "rest-xml"):
        return None  # binary protocols (CBOR): botocore's own parser judges them
    if not text:
        return "an empty body" if protocol in ("query", "ec2") else None
    if protocol in ("json", "rest-json"):
        try:
            json.loads(text)
        except ValueError:
            return f"not JSON: {_snippet(text)}"
        return None
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        return f"not XML: {_snippet(text)}"
    if root.tag.rsplit("}", 1)[-1].lower() == "html":
        return "an HTML page"
    return None


def _snippet(body: bytes) -> str:
    text = body[:40].decode("utf-8", "replace")
    return repr(text) + ("..." if len(body) > 40 else "")


def _screen_answers(client: Any) -> None:
    """Check every answer of ``client`` before botocore parses it (``before-parse``).

    A junk 2xx or 4xx raises :class:`NotAwsAnswer` at once: parsed, an HTML 200 would
    read as an empty result (a lock table without an item reads as a free lock). A junk
    5xx gets an empty body, which botocore parses as a plain HTTP error and retries like
    any 5xx; its marker header lets :func:`translate` name the endpoint if it persists.
    """
    endpoint = str(client.meta.endpoint_url)

    def screen(response_dict: dict[str, Any], operation_model: Any, **_: Any) -> None:
        if operation_model.has_streaming_output or operation_model.has_event_stream_output:
            return
        shape = operation_model.output_shape
        payload = shape.serialization.get("payload") if shape is not None else None
        if payload and shape.members[payload].type_name != "structure":
            return  # the body is the member itself (S3's bucket policy is JSON text)
        body = response_dict.get("body")
        if not isinstance(body, bytes):
            return
        protocol = operation_model.service_model.resolved_protocol
        status = int(response_dict.get("status_code") or 0)
        # Errors of HEAD requests (S3's HeadBucket) come without a body: botocore knows.
        if operation_model.http.get("method") == "HEAD":
            return
        what = _junk(protocol, response_dict.get("headers") or {}, body)
        if what is None and status >= 300 and not body.strip():
            what = "an empty body"
        if what is None:
            return
        what = f"HTTP {status}, {what}"
        _LOG.debug(
            "not an AWS answer from %s: %s; headers %r; body %r",
            endpoint,
            what,
            response_dict.get("headers"),
            body[:2000],
        )
        if status >= 500:
            response_dict["body"] = b""
            response_dict["headers"][_JUNK_HEADER] = f"{endpoint} {what}"
            return
        raise NotAwsAnswer(endpoint=endpoint, what=what)

    client.meta.events.register("before-parse", screen)


def account_regions(topology: Topology, first: str | None = None) -> list[str]:
    """The regions whose STS is asked, in order: ``first``, the primary, the others."""
    order = [first, topology.primary_region, *topology.regions]
    return list(dict.fromkeys(r for r in order if r is not None and r in topology.regions))


def check_account(
    factory: ClientSource,
    topology: Topology,
    *,
    first: str | None = None,
    timeouts: Timeouts | None = None,
) -> AccountCheck:
    """Compare the caller's account with the topology's; any region's STS answer will do.

    STS is regional (each region has its own endpoint), so a region that is down does not
    keep the account from being checked: ``first`` (the region an operation targets, else
    the primary) is asked, then the primary, then the other declared regions, and the
    first answer wins. ``timeouts`` (with a :class:`ClientFactory`) bound each attempt, so
    that a black-holed region costs seconds, not the default retries.

    Missing or expired credentials are the same in every region and raise at once. When
    no region answers, the error names each region's failed call.
    """
    if timeouts is not None and isinstance(factory, ClientFactory):
        factory = factory.with_timeouts(timeouts)
    failures: list[tuple[str, MrFailoverError]] = []
    for region in account_regions(topology, first):
        try:
            client = factory.client("sts", region)
        except CredentialsError:
            raise  # a missing profile or expired SSO token: no region would differ
        except MrFailoverError as exc:  # e.g. AssumeRole in that region did not answer
            failures.append((region, exc))
            continue
        try:
            out = client.get_caller_identity()
        except Exception as exc:
            error = call_error(client, "get_caller_identity", exc)
            if _same_everywhere(exc):
                raise error from None
            failures.append((region, error))
            continue
        return AccountCheck(
            expected=topology.account_id, actual=out["Account"], arn=out["Arn"], region=region
        )
    raise NoStsAnswerError(tuple(failures))


def _same_everywhere(exc: BaseException) -> bool:
    """A credentials problem no other region's STS would answer differently."""
    return isinstance(
        exc,
        botocore.exceptions.NoCredentialsError
        | botocore.exceptions.ProfileNotFound
        | botocore.exceptions.TokenRetrievalError
        | botocore.exceptions.SSOError,
    ) or (error_code(exc) in _EXPIRED)


def _short(region: str, exc: MrFailoverError) -> str:
    if isinstance(exc, AwsCallError):
        return f"{region}: {exc.detail}"
    return f"{region}: {exc}"


class NoStsAnswerError(AwsCallError):
    """No declared region's STS answered: the account cannot be checked at all."""

    def __init__(self, failures: tuple[tuple[str, MrFailoverError], ...]) -> None:
        self.failures = failures
        super().__init__(
            ", ".join(r for r, _ in failures),
            "sts:GetCallerIdentity",
            "no region answered: " + "; ".join(_short(r, e) for r, e in failures),
            "check the network path to AWS and the credentials, then retry",
        )


def _assume(
    base: botocore.session.Session, role_arn: str, region: str, factory: ClientFactory
) -> botocore.session.Session:
    """A session on ``role_arn``'s credentials, refreshed before they expire (--watch)."""
    name = re.sub(r"[^\w+=,.@-]", "-", f"mr-failover-{getpass.getuser()}")[:64]
    sts: Any = base.create_client(
        "sts", region_name=region, endpoint_url=factory.endpoint_url, config=factory._config()
    )

    def fetch() -> dict[str, str]:
        try:
            creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=name)["Credentials"]
        except Exception as exc:
            raise translate(exc, region, "sts:AssumeRole") from None
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }

    credentials = botocore.credentials.RefreshableCredentials.create_from_metadata(
        metadata=fetch(), refresh_using=fetch, method="sts-assume-role"
    )
    core = _session(None)
    # botocore has no public setter for refreshable credentials; this attribute is the
    # hook botocore's own credential resolver fills.
    core._credentials = credentials  # type: ignore[attr-defined]
    return core


class _PlainJsonFileLoader(botocore.loaders.JSONFileLoader):
    """botocore's model file loader, parsing into plain dicts instead of OrderedDicts.

    botocore parses its service models with ``object_pairs_hook=OrderedDict``, which
    takes 2 to 3 times as long as plain ``json.loads`` (0.36 s against 0.15 s for the 16
    services status reads, on the 2-core development machine); dicts keep their order
    since Python 3.7, and botocore's model classes build their own OrderedDicts from them.
    The same files are tried in the same order (``.json``, then ``.json.gz``). A ``.gz``
    file is read whole and inflated in one ``zlib`` call (``gzip.open`` reads it in
    chunks). botocore's own endpoint data (``endpoints.json``, 1.2 MB) is the copy the
    topology parsed to check region codes, when it is still there
    (:func:`mr_failover.topology.take_endpoint_data`): parsed once per run, not twice.
    """

    def __init__(self, cache: _ModelCache | None = None) -> None:
        self.cache = cache

    def load_file(self, file_path: str) -> Any:
        if file_path == _BUILTIN_ENDPOINTS:
            from mr_failover.topology import take_endpoint_data

            if (data := take_endpoint_data()) is not None:
                return data
        for full in (file_path + ".json", file_path + ".json.gz"):
            try:
                info = os.stat(full)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                if self.cache is None:
                    return _parse_model_file(full)
                return self.cache.load(full, info)
        return None


def _parse_model_file(path: str) -> Any:
    with open(path, "rb") as fp:
        raw = fp.read()
    if path.endswith(".gz"):
        # wbits 16 + MAX_WBITS: a gzip header and trailer, as gzip.open expects.
        raw = zlib.decompress(raw, 16 + zlib.MAX_WBITS)
    return json.loads(raw.decode("utf-8"))


class _ModelCache:
    """botocore's model files, parsed once per installation, not once per run.

    Each parsed file is kept in the :mod:`mr_failover.diskcache` folder, read back with
    :mod:`marshal`, under a key of the Python version, marshal's format version, the
    file's path, size and modification time: an upgraded botocore or a model put in
    ``~/.aws/models`` is parsed afresh. Loading the service and endpoint-rule models of
    the 18 services a status run reads takes 99 ms parsed from their JSON files and 74 ms
    read back whole (docs/PERFORMANCE.md, "Third round"). A service model is kept
    without its documentation strings (:func:`_without_docs`): three quarters of its
    bytes, which botocore reads only to write help text, and a third of the time
    ``marshal`` takes to read it back.
    """

    def __init__(self, cache: diskcache.DiskCache) -> None:
        self.cache = cache

    def load(self, source: str, info: os.stat_result) -> Any:
        # models-2: entries without documentation (models-1 kept it).
        version = f"models-2|{sys.version_info[:2]}|{marshal.version}"
        key = f"{version}|{source}|{info.st_size}|{info.st_mtime_ns}"
        raw = self.cache.read(key, ".marshal")
        if raw is not None:
            try:
                return marshal.loads(raw)
            except (EOFError, ValueError, TypeError):
                pass  # a torn entry: parsed and written again
        data = _parse_model_file(source)
        if os.path.basename(source) in ("service-2.json", "service-2.json.gz"):
            data = _without_docs(data)
        with contextlib.suppress(ValueError):
            self.cache.write(key, ".marshal", marshal.dumps(data))
        return data


_DOCS = ("documentation", "documentationUrl")


def _bare(node: Any) -> Any:
    return {k: v for k, v in node.items() if k not in _DOCS} if isinstance(node, dict) else node


def _bare_shape(shape: Any) -> Any:
    if isinstance(shape, dict):
        for ref in ("member", "key", "value"):
            if ref in shape:
                shape[ref] = _bare(shape[ref])
        if isinstance(shape.get("members"), dict):
            shape["members"] = {m: _bare(r) for m, r in shape["members"].items()}
    return shape


def _without_docs(model: Any) -> Any:
    """A service model (service-2) minus its documentation strings, walked by its known
    structure (a member or parameter may itself be named ``documentation``)."""
    if not isinstance(model, dict):
        return model
    out = _bare(model)
    if isinstance(model.get("operations"), dict):
        out["operations"] = {
            name: {
                **_bare(op),
                **{ref: _bare(op[ref]) for ref in ("input", "output") if ref in op},
                **({"errors": [_bare(e) for e in op["errors"]]} if "errors" in op else {}),
            }
            for name, op in model["operations"].items()
        }
    if isinstance(model.get("shapes"), dict):
        out["shapes"] = {name: _bare_shape(_bare(shape)) for name, shape in model["shapes"].items()}
    return out


_BUILTIN_ENDPOINTS = os.path.join(os.path.dirname(botocore.__file__), "data", "endpoints")


class _Loader(botocore.loaders.Loader):
    """botocore's loader, minus listing every service to load one.

    botocore's ``load_service_model`` first lists every service it knows (some 450
    directories, a few ``stat`` calls each, once per model type: about 15 ms of a status
    run) only to check that the one asked for is among them. A service is among them
    exactly when it has an API version holding that model type, which
    ``determine_latest_version`` finds from that service's own directory; an unknown
    service is left to botocore's method, which raises its ``UnknownServiceError``.
    """

    @botocore.loaders.instance_cache
    def load_service_model(
        self, service_name: str, type_name: str, api_version: str | None = None
    ) -> Any:
        try:
            if os.sep in service_name or service_name.startswith("."):
                raise botocore.exceptions.DataNotFoundError(data_path=service_name)
            latest = self.determine_latest_version(service_name, type_name)
        except botocore.exceptions.DataNotFoundError:
            return super().load_service_model(service_name, type_name, api_version)
        version = api_version or latest
        model = self.load_data(os.path.join(service_name, version, type_name))
        extras = self._find_extras(service_name, type_name, version)  # type: ignore[attr-defined]
        self._extras_processor.process(model, extras)  # type: ignore[attr-defined]
        return model


class _SharedAliases(botocore.hooks.EventAliaser):
    """botocore's event-name aliaser, whose copies share its cache of aliased names.

    Every client gets a copy of its session's event emitter, and botocore's copy starts
    with an empty cache: each client then worked out the alias of every event name it
    emits anew, trying some 40 aliases with string splits (about 20 ms of CPU over the
    example's 32 clients and 59 calls). The names map the same way for every copy (the
    same alias table), so they share the cache.
    """

    def __copy__(self) -> _SharedAliases:
        twin = super().__copy__()
        twin._alias_name_cache = self._alias_name_cache  # type: ignore[attr-defined]
        return twin


_LOADER: list[botocore.loaders.Loader] = []
_LOADER_LOCK = threading.Lock()


def _new_loader(search_path: str | None) -> botocore.loaders.Loader:
    """``botocore.loaders.create_loader(search_path)``, as a :class:`_Loader`."""
    paths = [
        os.path.expanduser(os.path.expandvars(p)) for p in (search_path or "").split(os.pathsep)
    ]
    cache = diskcache.default()
    return _Loader(
        extra_search_paths=paths if search_path is not None else None,
        file_loader=_PlainJsonFileLoader(None if cache is None else _ModelCache(cache)),
    )


def _session(profile: str | None) -> botocore.session.Session:
    """A botocore session for ``profile``, sharing the process's one model loader.

    The loader caches each service model it has read, so every session and client of a
    run (one session per profile or role, one client per service and region) parses a
    model once (bench/bench_status_cold.py). boto3 is not needed for clients and is not
    imported: its import alone (s3transfer and the resource layer) cost 0.1 to 0.2 s.
    """
    handlers = botocore.hooks.HierarchicalEmitter()
    session = botocore.session.Session(profile=profile, event_hooks=handlers)
    # The same handlers (botocore's own, registered by the session), behind an aliaser
    # whose copies share one cache of event names: see _SharedAliases.
    session.register_component("event_emitter", _SharedAliases(handlers))
    with _LOADER_LOCK:
        if not _LOADER:
            _LOADER.append(_new_loader(session.get_config_variable("data_path")))
        session.register_component("data_loader", _LOADER[0])
    return session


_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}
_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
}
_THROTTLED = {"Throttling", "ThrottlingException", "TooManyRequestsException", "SlowDown"}


def call_name(client: Any, operation: str) -> str:
    """``dynamodb:DescribeTable`` for ``describe_table`` on a DynamoDB client."""
    model = client.meta.service_model
    return f"{model.endpoint_prefix}:{model.operation_model(_op_name(client, operation)).name}"


def _op_name(client: Any, operation: str) -> str:
    return str(client.meta.method_to_api_mapping.get(operation, operation))


def call(client: Any, operation: str, **params: Any) -> Any:
    """Run one API call; any failure becomes a tool error naming region and call."""
    try:
        return getattr(client, operation)(**params)
    except Exception as exc:
        raise call_error(client, operation, exc) from None


def call_error(client: Any, operation: str, exc: BaseException) -> MrFailoverError:
    """The tool error for ``exc`` raised by ``operation`` on ``client``."""
    return translate(
        exc,
        client.meta.region_name,
        call_name(client, operation),
        endpoint=str(client.meta.endpoint_url),
    )


def not_aws_answer(exc: BaseException) -> bool:
    """Whether ``exc`` says the endpoint's answer was not an AWS response (a page)."""
    if isinstance(exc, NotAwsAnswer):
        return True
    if isinstance(exc, botocore.exceptions.ClientError):
        headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        return _JUNK_HEADER in headers
    return False


def error_code(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


_NOT_AWS_HINT = "a proxy, a captive portal or a wrong --endpoint-url in the way?"


def translate(
    exc: BaseException, region: str, call: str, *, endpoint: str | None = None
) -> MrFailoverError:
    """One line naming the region, the call and the likely fix."""
    if isinstance(exc, MrFailoverError):
        return exc
    where = f"{call} in {region}"
    if isinstance(exc, NotAwsAnswer):
        return AwsCallError(region, call, str(exc), _NOT_AWS_HINT)
    if isinstance(exc, botocore.parsers.ResponseParserError):
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return AwsCallError(
            region,
            call,
            f"the answer from {endpoint or 'the endpoint'} could not be read as an AWS "
            f"response ({first[:120]})",
            _NOT_AWS_HINT,
        )
    if isinstance(exc, botocore.exceptions.ClientError):
        headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        if junk := headers.get(_JUNK_HEADER):
            where_from, _, what = str(junk).partition(" ")
            return AwsCallError(
                region,
                call,
                f"the answer from {where_from} is not an AWS response ({what})",
                _NOT_AWS_HINT,
            )
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return CredentialsError(
            f"{where}: no AWS credentials found (set AWS_PROFILE, run `aws sso login`, "
            "or give the region a profile / role_arn in the topology)"
        )
    if isinstance(exc, botocore.exceptions.ProfileNotFound):
        return CredentialsError(f"{where}: {exc} (check ~/.aws/config or the topology)")
    if isinstance(exc, botocore.exceptions.TokenRetrievalError | botocore.exceptions.SSOError):
        return CredentialsError(f"{where}: SSO token expired or missing (run `aws sso login`)")
    code = error_code(exc)
    if code in _EXPIRED:
        return CredentialsError(f"{where}: credentials expired (refresh them and retry)")
    if code in _DENIED:
        msg = exc.response["Error"].get("Message", code)  # type: ignore[attr-defined]
        return CredentialsError(
            f"{where}: access denied: {msg} (check the IAM policy of the caller or role)"
        )
    if code in _THROTTLED:
        return AwsCallError(region, call, f"throttled ({code})", "retry in a minute")
    if isinstance(exc, botocore.exceptions.ClientError):
        msg = exc.response.get("Error", {}).get("Message", "")
        return AwsCallError(region, call, f"{code}: {msg}".rstrip(": "))
    if isinstance(
        exc,
        botocore.exceptions.ConnectionError
        | botocore.exceptions.ReadTimeoutError
        | botocore.exceptions.ConnectionClosedError,
    ):
        return RegionUnreachableError(
            region, call, f"no answer: {exc}", "the region may be impaired; retry or fail over"
        )
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return AwsCallError(region, call, str(exc))
    raise exc
