"""Exception hierarchy of mr-failover: one exit code per class.

The core raises these; the CLI (``cli.py``) turns them into one-line messages and
the exit codes documented in the README. Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # an operation or an AWS call failed
EXIT_USAGE = 2  # bad command line or configuration (topology / scenario file)
EXIT_REFUSED = 3  # a safety precondition refused the operation
EXIT_NOT_READY = 4  # status / checks: some region degraded, unreachable or no-go
EXIT_CREDENTIALS = 5  # no credentials, expired credentials, access denied
EXIT_DRIFT = 6  # status: every region ready, but AWS differs from the topology file
EXIT_NOT_PUBLISHED = 7  # status --publish: every region ready, but the metrics were not published
EXIT_INTERRUPTED = 130


class MrFailoverError(Exception):
    """Base class: a failure the user can act on, with its exit code."""

    exit_code = EXIT_FAILED


class ConfigError(MrFailoverError):
    """The topology or scenario file is unreadable or invalid."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = problems or []
        super().__init__(message)

    def __str__(self) -> str:
        head = super().__str__()
        if not self.problems:
            return head
        return head + "\n" + "\n".join(f"  {p}" for p in self.problems)


class UsageError(MrFailoverError):
    """The command line asks for something that cannot be (unknown region, ...)."""

    exit_code = EXIT_USAGE


class RefusedError(MrFailoverError):
    """A safety precondition refused the operation; the message says how to proceed."""

    exit_code = EXIT_REFUSED


class CredentialsError(MrFailoverError):
    """No usable credentials, expired ones, or access denied."""

    exit_code = EXIT_CREDENTIALS


class AwsCallError(MrFailoverError):
    """An AWS call failed; names the region, the call and what to do."""

    exit_code = EXIT_FAILED

    def __init__(self, region: str, call: str, detail: str, hint: str = "") -> None:
        self.region = region
        self.call = call
        self.detail = detail
        self.hint = hint
        text = f"{call} in {region} failed: {detail}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)


class NotReadyError(MrFailoverError):
    """A read-only check found a region that is not ready."""

    exit_code = EXIT_NOT_READY


class RegionUnreachableError(AwsCallError):
    """An AWS call got no answer (connect/read timeout, connection refused or reset).

    Its own class because status reports such a region as UNREACHABLE rather than
    degraded: in a regional outage, the region's APIs are what stops answering.
    """
