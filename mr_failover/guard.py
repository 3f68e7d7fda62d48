"""The account guard: a mutation runs only in the account the topology names.

Credentials for the wrong account (a stale ``AWS_PROFILE``, a staging role) are the
classic way to fail over the wrong thing. :func:`require_account` asks STS who the
caller is (through ``aws.check_account``, shared with status, which only warns) and
refuses (RefusedError, exit 3) before the plan is built, so no read of the wrong
account's resources and no mutating call happens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mr_failover.aws import check_account
from mr_failover.errors import RefusedError

if TYPE_CHECKING:
    from mr_failover.aws import AccountCheck, ClientSource
    from mr_failover.topology import Topology


def require_account(factory: ClientSource, topology: Topology) -> AccountCheck:
    """The caller's identity, or RefusedError when its account is not the topology's."""
    check = check_account(factory, topology)
    if not check.matches:
        raise RefusedError(
            f"refused: the credentials are for account {check.actual} ({check.arn}), but the "
            f"topology's account_id is {check.expected}; switch credentials (AWS_PROFILE, or "
            "the region's profile / role_arn in the topology) and retry"
        )
    return check
