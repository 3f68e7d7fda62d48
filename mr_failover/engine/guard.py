"""The account guard: a mutation runs only in the account the topology names.

Credentials for the wrong account (a stale ``AWS_PROFILE``, a staging role) are the
classic way to fail over the wrong thing. :func:`require_account` asks STS who the
caller is (through ``aws.check_account``, shared with status, which only warns) and
refuses (RefusedError, exit 3) before the plan is built, so no read of the wrong
account's resources and no mutating call happens.

A failover is needed most when a region is down, so the check must not depend on any
one region: STS is asked in the region the operation targets first, then in the other
declared regions, each attempt with short timeouts; any answer settles it. The guard
refuses only when the account differs, or when no region's STS answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mr_failover.aws import NoStsAnswerError, Timeouts, check_account
from mr_failover.errors import RefusedError

if TYPE_CHECKING:
    from mr_failover.aws import AccountCheck, ClientSource
    from mr_failover.topology import Topology

# Per region: a black-holed STS endpoint costs about this, then the next region is asked.
STS_DEADLINE = 6.0


def require_account(
    factory: ClientSource, topology: Topology, *, first: str | None = None
) -> AccountCheck:
    """The caller's identity, or RefusedError when its account is not the topology's.

    ``first``: the region the operation targets (its STS is asked first).
    """
    try:
        check = check_account(
            factory, topology, first=first, timeouts=Timeouts.for_deadline(STS_DEADLINE)
        )
    except NoStsAnswerError as exc:
        failed = "; ".join(
            f"{region}: {getattr(err, 'detail', err)}" for region, err in exc.failures
        )
        raise RefusedError(
            "refused: the account could not be verified: sts:GetCallerIdentity answered in "
            f"no declared region ({failed}); check the network path to AWS and the "
            "credentials, then retry"
        ) from None
    if not check.matches:
        raise RefusedError(
            f"refused: the credentials are for account {check.actual} ({check.arn}), but the "
            f"topology's account_id is {check.expected}; switch credentials (AWS_PROFILE, or "
            "the region's profile / role_arn in the topology) and retry"
        )
    return check
