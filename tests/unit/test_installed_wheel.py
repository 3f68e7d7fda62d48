"""The built wheel, installed in a fresh virtual environment, works outside a clone.

The wheel is built from a copy of the package's sources (``pip wheel --no-deps
--no-build-isolation``: the build backend is in the test environment, nothing is
downloaded) and installed with ``--no-deps --no-index`` into a new venv. Its dependencies
come from this environment's site-packages through a ``.pth`` file naming a folder of
links, one per installed distribution: the sandbox extra (moto) is left out of it, or put
in, to try both installs. Commands run from an empty folder, as after
``pipx install mr-failover``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mr_failover.sandbox import INSTALL_HINT

REPO = Path(__file__).resolve().parents[2]
SITE = Path(sysconfig.get_paths()["purelib"])
# The extra's distributions (and this checkout's own editable install) stay out of the
# moto-less environment.
EXTRA = ("moto",)
OURS = ("mr_failover", "__editable__", "_mr_failover")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "setup.cfg", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(
        REPO / "mr_failover",
        src / "mr_failover",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".sandbox"),
    )
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"),
            *("--no-index", "--quiet", "-w", str(out), str(src)),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (built,) = out.glob("mr_failover-*.whl")
    return built


def make_venv(root: Path, wheel: Path, *, with_extra: bool) -> Path:
    """A fresh venv with the wheel installed; its dependencies linked from this one."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=60
    )
    python = root / "bin" / "python"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"),
            *("--no-deps", "--no-index", str(wheel)),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    deps = root / "deps"
    deps.mkdir()
    for entry in SITE.iterdir():
        name = entry.name
        if name.startswith(OURS) or name.endswith(".pth"):
            continue
        if not with_extra and name.lower().startswith(EXTRA):
            continue
        (deps / name).symlink_to(entry)
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (site / "zz_test_deps.pth").write_text(f"{deps}\n")
    return root / "bin" / "mr-failover"


@pytest.fixture(scope="module")
def bare(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip install mr-failover``: no sandbox extra."""
    return make_venv(tmp_path_factory.mktemp("bare") / "venv", wheel, with_extra=False)


@pytest.fixture
def empty_folder(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    yield folder


def run_installed(
    entry: Path, *args: str, cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MR_FAILOVER_", "AWS_", "PYTHON")) and k != "VIRTUAL_ENV"
    }
    env["MR_FAILOVER_STATE_DIR"] = str(cwd / ".state")
    return subprocess.run(
        [str(entry), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_the_wheel_ships_the_example_and_keeps_moto_in_the_sandbox_extra(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        (meta,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = whl.read(meta).decode()
    assert {"mr_failover/data/regions.yaml", "mr_failover/data/regions.schema.json"} <= names
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    moto = [line for line in requires if "moto" in line]
    assert moto and all('extra == "sandbox"' in line for line in moto)
    assert any(line.startswith("Requires-Dist: boto3") and "extra" not in line for line in requires)


def test_installed_without_the_extra_it_runs_and_says_what_to_install(
    bare: Path, empty_folder: Path
) -> None:
    where = run_installed(
        bare.parent / "python",
        "-c",
        "import mr_failover; print(mr_failover.__file__)",
        cwd=empty_folder,
    )
    assert where.stdout.startswith(str(bare.parent.parent)), where  # not this checkout
    helped = run_installed(bare, "demo", "--help", cwd=empty_folder)
    assert helped.returncode == 0, helped.stderr
    assert "example topology shipped with the package" in " ".join(helped.stdout.split())
    assert "mr-failover demo" in helped.stdout
    for args in (["demo"], ["sandbox", "up"], ["-o", "json", "demo"]):
        done = run_installed(bare, *args, cwd=empty_folder)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr == f"Error: {INSTALL_HINT}\n", args
        assert "Traceback" not in done.stdout + done.stderr
    assert not (empty_folder / ".sandbox").exists()  # nothing was started


def test_installed_it_validates_the_packaged_example_from_any_folder(
    bare: Path, empty_folder: Path
) -> None:
    example = run_installed(
        bare.parent / "python",
        "-c",
        "from importlib import resources; "
        "print(resources.files('mr_failover').joinpath('data', 'regions.yaml'))",
        cwd=empty_folder,
    ).stdout.strip()
    done = run_installed(bare, "validate", "-o", "json", "-c", example, cwd=empty_folder)
    assert done.returncode == 0, done.stderr
    assert '"valid": true' in done.stdout


def test_demo_and_sandbox_fall_back_to_the_packaged_example_only_without_a_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mr_failover.cli import DEFAULT_CONFIG, AppContext

    monkeypatch.chdir(tmp_path)
    app = AppContext(config=DEFAULT_CONFIG, output="table", endpoint_url=None, color=False)
    packaged = app.config_or_example()
    assert (packaged.parent.name, packaged.name) == ("data", "regions.yaml")
    assert packaged.read_text() == (REPO / "config" / "regions.yaml").read_text()
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "regions.yaml").write_text("application: mine\n")
    assert app.config_or_example() == Path(DEFAULT_CONFIG)  # ./config/regions.yaml wins
    named = AppContext(
        config="missing.yaml", output="table", endpoint_url=None, color=False, config_given=True
    )
    assert named.config_or_example() == Path("missing.yaml")  # a given --config is kept


def test_a_config_given_after_demo_is_used_not_the_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from mr_failover.cli import cli

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["demo", "-c", "mine.yaml", "--workdir", "w"])
    assert result.exit_code == 2, result.output
    assert "mine.yaml" in result.stderr and "example topology" not in result.output
    assert not (tmp_path / "w").exists()  # refused before a sandbox started
