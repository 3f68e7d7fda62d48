"""ACM certificates that get issued, with an expiry a test or demo can choose.

moto 5.2.5 leaves a requested (``AMAZON_ISSUED``) certificate in
``PENDING_VALIDATION`` for a minute of wall time and gives it a fixed one-year
``NotAfter``. On AWS a DNS-validated certificate is issued once its validation CNAME
resolves (minutes) and lasts 13 months, renewed automatically while the record stays.
Here:

- a requested certificate is ``ISSUED`` the first time it is described (the sandbox
  assumes the validation record is in place: there is no DNS to wait for);
- :func:`set_expiry` gives a certificate a chosen ``NotAfter`` (an expiring or expired
  certificate for a test); one in the past makes it ``EXPIRED``, as AWS reports it.

Everything installed here is tied to moto 5.2.5 (tests/sandbox/test_moto_pin.py).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from mr_failover.sandbox.state import Hooks, active

if TYPE_CHECKING:
    from mr_failover.sandbox.state import SandboxState

HOOKS = (
    "moto.acm.models.CertBundle.check",
    "moto.acm.models.CertBundle._not_valid_after",
)

_hooks = Hooks("ACM")


def install(sandbox: SandboxState) -> None:
    _hooks.install(sandbox, _patch_moto)


def _expiries() -> dict[str, dt.datetime]:
    sandbox = active() or _hooks.last
    if sandbox is None:
        return {}
    expiries: dict[str, dt.datetime] = sandbox.state("acm-expiry", dict)
    return expiries


def set_expiry(sandbox: SandboxState, arn: str, not_after: dt.datetime) -> None:
    """Make certificate ``arn`` (any region) expire at ``not_after`` (aware or UTC)."""
    if not_after.tzinfo is not None:
        not_after = not_after.astimezone(dt.UTC).replace(tzinfo=None)
    with sandbox.lock:
        expiries: dict[str, dt.datetime] = sandbox.state("acm-expiry", dict)
        expiries[arn] = not_after
        region = arn.split(":")[3]
        cert = sandbox.backend("acm", region)._certificates.get(arn)
        if (
            cert is not None
            and cert.status == "EXPIRED"
            and not_after > dt.datetime.now(dt.UTC).replace(tzinfo=None)
        ):
            cert.status = "ISSUED"


def _patch_moto() -> None:
    from moto.acm.models import CertBundle

    original_check = CertBundle.check
    original_not_after = CertBundle._not_valid_after

    def check(self: Any) -> None:
        if self.type == "AMAZON_ISSUED" and self.status == "PENDING_VALIDATION":
            self.status = "ISSUED"
        original_check(self)

    def _not_valid_after(self: Any, cert: Any) -> dt.datetime:
        chosen = _expiries().get(getattr(self, "arn", ""))
        if chosen is not None:
            return chosen
        result: dt.datetime = original_not_after(self, cert)
        return result

    CertBundle.check = check  # type: ignore[method-assign]
    CertBundle._not_valid_after = _not_valid_after  # type: ignore[method-assign,assignment]
