"""The wheel installed with the sandbox extra runs the whole demo from an empty folder.

The wheel and the fresh venv are built as in ``tests/unit/test_installed_wheel.py``
(offline, the dependencies linked from this environment); the demo starts its own
sandbox in the child process, on the example topology shipped inside the package.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_installed_wheel import make_venv, run_installed, wheel

__all__ = ["wheel"]  # the module fixture that builds it


@pytest.fixture
def empty_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


@pytest.mark.slow
def test_installed_with_the_sandbox_extra_the_demo_runs_from_any_folder(
    wheel: Path, tmp_path: Path, empty_folder: Path
) -> None:
    entry = make_venv(tmp_path / "venv", wheel, with_extra=True)
    done = run_installed(entry, "--no-color", "demo", "--hold", "5", cwd=empty_folder, timeout=280)
    assert done.returncode == 0, done.stderr[-3000:]
    out = " ".join(done.stdout.split())
    assert "the example topology shipped with mr-failover" in out
    assert "seeded arc309 in us-east-1, us-west-2" in out
    assert "Traceback" not in done.stderr
    assert not (empty_folder / "config").exists()
