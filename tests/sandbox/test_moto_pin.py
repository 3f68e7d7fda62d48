"""The sandbox extends moto's internals; this guards the one version it was built on."""

from __future__ import annotations

import importlib
from importlib.metadata import version

import pytest

from mr_failover.sandbox import PINNED_MOTO, aurora, codecommit, ecs, route53, route53_recovery

RECHECK = (
    "moto is {found}, the sandbox was built on {pinned}. Recheck before moving the pin: "
    "RDSResponse dispatch to snake_case methods and attribute rendering (FailoverState, "
    "GlobalClusterMembers) for mr_failover/sandbox/aurora.py; Route53 response methods "
    "and HealthCheck.health_check_version for route53.py; the ECS backend's create_service "
    "/ update_service and Service running_count / pending_count / deployments for ecs.py; "
    "MOTO_EC2_LOAD_DEFAULT_AMIS for core.py; werkzeug_app."
    "DomainDispatcherApplication / MotoRequestHandler for server.py; "
    "moto_api_backend.reset for core.py; then run tests/sandbox."
)


def test_moto_is_the_pinned_version() -> None:
    found = version("moto")
    assert found == PINNED_MOTO, RECHECK.format(found=found, pinned=PINNED_MOTO)


def test_pyproject_pins_the_same_version() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert f'"moto[server]=={PINNED_MOTO}"' in text


@pytest.mark.parametrize(
    "hook",
    [*aurora.HOOKS, *route53.HOOKS, *route53_recovery.HOOKS, *ecs.HOOKS, *codecommit.HOOKS],
)
def test_every_patched_attribute_still_exists_in_moto(hook: str) -> None:
    module_name, cls_name, attr = hook.rsplit(".", 2)
    cls = getattr(importlib.import_module(module_name), cls_name)
    if attr in ("switchover_global_cluster", "failover_global_cluster"):
        # moto lacks these (why the sandbox adds them); when it grows them, recheck.
        assert (attr in vars(cls) and vars(cls)[attr].__module__ == aurora.__name__) or not hasattr(
            cls, attr
        ), RECHECK.format(found=version("moto"), pinned=PINNED_MOTO)
        return
    if attr == "health_check_version":
        assert "health_check_version" in cls.__init__.__code__.co_names
        return
    assert hasattr(cls, attr), f"moto no longer has {hook}: " + RECHECK.format(
        found=version("moto"), pinned=PINNED_MOTO
    )


def test_moto_server_entry_points_exist() -> None:
    from moto.moto_api._internal import moto_api_backend
    from moto.moto_server import werkzeug_app

    assert callable(werkzeug_app.DomainDispatcherApplication)
    assert callable(werkzeug_app.create_backend_app)
    assert hasattr(werkzeug_app.MotoRequestHandler, "make_environ")
    assert callable(moto_api_backend.reset)
