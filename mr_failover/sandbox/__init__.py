"""The sandbox: an embedded multi-region AWS (moto plus simulations) on loopback.

Optional extra ``mr-failover[sandbox]``. Only the ``sandbox`` command, the demo and the
tests import this package; the operational core never does (it reaches the sandbox
through ``AWS_ENDPOINT_URL`` like any AWS endpoint). :func:`moto_available` lets the
command say how to install the extra instead of failing with a traceback.
"""

from __future__ import annotations

import importlib.util

PINNED_MOTO = "5.2.5"
INSTALL_HINT = (
    "the sandbox needs moto: install mr-failover[sandbox] (pip install 'mr-failover[sandbox]')"
)


def moto_available() -> bool:
    return importlib.util.find_spec("moto") is not None and (
        importlib.util.find_spec("werkzeug") is not None
    )
