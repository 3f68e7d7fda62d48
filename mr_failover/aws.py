"""The only place that makes boto3 sessions and clients.

:class:`ClientFactory` hands out one client per (service, region), built from the
region's profile or assumed role (topology), with botocore's standard retry mode,
short connect/read timeouts, the ``mr-failover/<version>`` user agent and the endpoint
override (``--endpoint-url``, else the standard ``AWS_ENDPOINT_URL`` that botocore reads
itself). Core code receives the factory; nothing here runs at import time.

:func:`translate` turns botocore exceptions into the tool's errors, naming the region,
the call and the likely fix.
"""

from __future__ import annotations

import getpass
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import botocore.config
import botocore.exceptions

from mr_failover import __version__
from mr_failover.errors import AwsCallError, CredentialsError, MrFailoverError

if TYPE_CHECKING:
    from mr_failover.topology import Topology

USER_AGENT = f"mr-failover/{__version__}"
# The global services: their control planes live in one region.
CONTROL_PLANE_REGION = {"route53": "us-east-1", "globalaccelerator": "us-west-2"}


@dataclass(frozen=True)
class Timeouts:
    """Per-call limits. Reads during an outage must fail fast, not hang."""

    connect: float = 3.0
    read: float = 10.0
    max_attempts: int = 3


@dataclass(frozen=True)
class CallerIdentity:
    account: str
    arn: str


class ClientFactory:
    """Thread-safe cache of boto3 clients per (service, region)."""

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
        self._sessions: dict[tuple[str | None, str | None], boto3.session.Session] = {}
        self._clients: dict[tuple[str, str], Any] = {}

    def _config(self) -> botocore.config.Config:
        return botocore.config.Config(
            user_agent_extra=USER_AGENT,
            connect_timeout=self.timeouts.connect,
            read_timeout=self.timeouts.read,
            retries={"mode": "standard", "max_attempts": self.timeouts.max_attempts},
        )

    def _session_for(self, region: str) -> boto3.session.Session:
        profile = role = None
        if self._topology is not None and region in self._topology.regions:
            spec = self._topology.regions[region]
            profile, role = spec.profile, spec.role_arn
        key = (profile, role)
        # Called with self._lock held.
        if key not in self._sessions:
            base = boto3.session.Session(profile_name=profile)
            if role is not None:
                base = _assume(base, role, region, self)
            self._sessions[key] = base
        return self._sessions[key]

    def client(self, service: str, region: str) -> Any:
        """A client for ``service`` in ``region`` (global services: their home region)."""
        key = (service, region)
        with self._lock:
            if key not in self._clients:
                session = self._session_for(region)
                try:
                    self._clients[key] = session.client(
                        service,  # type: ignore[call-overload]
                        region_name=region,
                        endpoint_url=self.endpoint_url,
                        config=self._config(),
                    )
                except botocore.exceptions.BotoCoreError as exc:
                    raise translate(exc, region, f"{service} client") from None
            return self._clients[key]

    def caller_identity(self, region: str) -> CallerIdentity:
        try:
            out = self.client("sts", region).get_caller_identity()
        except Exception as exc:
            raise translate(exc, region, "sts:GetCallerIdentity") from None
        return CallerIdentity(account=out["Account"], arn=out["Arn"])


def _assume(
    base: boto3.session.Session, role_arn: str, region: str, factory: ClientFactory
) -> boto3.session.Session:
    name = re.sub(r"[^\w+=,.@-]", "-", f"mr-failover-{getpass.getuser()}")[:64]
    sts = base.client(
        "sts", region_name=region, endpoint_url=factory.endpoint_url, config=factory._config()
    )
    try:
        creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=name)["Credentials"]
    except Exception as exc:
        raise translate(exc, region, "sts:AssumeRole") from None
    return boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


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


def error_code(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def translate(exc: BaseException, region: str, call: str) -> MrFailoverError:
    """One line naming the region, the call and the likely fix."""
    if isinstance(exc, MrFailoverError):
        return exc
    where = f"{call} in {region}"
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
        botocore.exceptions.EndpointConnectionError
        | botocore.exceptions.ConnectTimeoutError
        | botocore.exceptions.ReadTimeoutError
        | botocore.exceptions.ConnectionClosedError,
    ):
        return AwsCallError(
            region, call, f"region unreachable: {exc}", "the region may be impaired"
        )
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return AwsCallError(region, call, str(exc))
    raise exc
