"""Fixtures of the storagehost tier: the project's .debs (this version and a rebuilt, higher
one), the apt repository disk made from them, and the storage-host guests.

This tier never skips: what it cannot build or boot is an error. Run it with
`contrib/run-tests storagehost` (root, a Debian 12 host; QEMU and the build tools are
installed by contrib/appliance).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from packaging.version import Version

from tests.realkernel.appliance import appliance
from tests.storagehost.host import ROOT, Guest, Phases

BUILD_DEB = ROOT / "contrib" / "packaging" / "build-deb"
SET_VERSION = ROOT / "contrib" / "packaging" / "set-version"
# not for production: built by `build-deb all`, never installed on a storage host
NOT_INSTALLED = ("targetd-example",)
SKIP_TREE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    "*.img",
    "*.cpio",
)


def current_version() -> str:
    out = subprocess.run(
        [sys.executable, str(SET_VERSION), "--check"], check=True, capture_output=True, text=True
    ).stdout
    return out.split()[0]


def bumped(version: str) -> str:
    """A version that sorts after version: the next micro release."""
    v = Version(version)
    return f"{v.major}.{v.minor}.{v.micro + 1}"


def build_debs(tree: Path, out: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            str(tree / "contrib" / "packaging" / "build-deb"),
            "--out",
            str(out),
            "all",
        ],
        check=True,
        cwd=tree,
    )
    for name in NOT_INSTALLED:
        for deb in out.glob(f"{name}_*.deb"):
            deb.unlink()


def deb_field(deb: Path, field: str) -> str:
    return subprocess.run(
        ["dpkg-deb", "-f", str(deb), field], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("storagehost")


@pytest.fixture(scope="session")
def versions() -> tuple[str, str]:
    v1 = current_version()
    return v1, bumped(v1)


@pytest.fixture(scope="session")
def quickstart_files(workdir: Path) -> Iterator[Future[Path]]:
    """wheels/ and src.tar for contrib/quickstart, which pip-installs the checkout (the guest
    has no index), made on the host in the background: they are only needed when the
    quickstart guest boots, so they are built while the packages guest runs."""
    out = workdir / "quickstart"
    # a copy, made before build-deb runs in the tree: setuptools leaves build/ and
    # *.egg-info in the tree it builds
    shutil.copytree(ROOT, out / "src", ignore=SKIP_TREE, symlinks=True)
    with ThreadPoolExecutor(1) as pool:
        yield pool.submit(_make_quickstart_files, out)


def _make_quickstart_files(out: Path) -> Path:
    with Phases.timed("wheelhouse for quickstart (host, in the background)"):
        src = out / "src"
        with tarfile.open(out / "src.tar", "w") as tf:
            tf.add(src, arcname=".")
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
        dists = [str(src)] + [str(p.parent) for p in sorted(src.glob("plugins/*/pyproject.toml"))]
        subprocess.run(pip + ["wheel", "-q", "-w", str(out / "wheels")] + dists, check=True)
        subprocess.run(
            pip + ["download", "-q", "-d", str(out / "wheels"), "setuptools>=77"],
            check=True,
        )
    return out


@pytest.fixture(scope="session")
def repo(workdir: Path, versions: tuple[str, str], quickstart_files: Future[Path]) -> Path:
    """The guest's apt repository: v1/ (this tree's .debs), v2/ (the same tree with a higher
    version, for the upgrade), deps/ with Packages and Release (what they need from Debian).
    quickstart_repo adds wheels/ and src.tar for contrib/quickstart (quickstart_files is
    requested here so that their build starts first and runs beside all of this)."""
    v1, v2 = versions
    sets = workdir / "sets"
    with Phases.timed(f"build-deb all ({v1})"):
        build_debs(ROOT, sets / "v1")
    with Phases.timed(f"build-deb all ({v2}, for the upgrade)"):
        tree = workdir / "tree-v2"
        shutil.copytree(ROOT, tree, ignore=SKIP_TREE, symlinks=True)
        subprocess.run(
            [sys.executable, str(tree / "contrib" / "packaging" / "set-version"), v2],
            check=True,
            cwd=tree,
        )
        build_debs(tree, sets / "v2")
    out = workdir / "repo"
    # the image with the .debs' Debian dependencies preinstalled: built once per dependency
    # list (minutes, cold), then cached like the appliance image
    with Phases.timed("storage-host image (cached or built) and the apt repository"):
        appliance("repo", str(out), str(sets / "v1"), str(sets / "v2"))
    return out


@pytest.fixture(scope="session")
def quickstart_repo(repo: Path, quickstart_files: Future[Path]) -> Path:
    """The repository with wheels/ and src.tar added (each guest's repository disk is made
    from the directory when it boots)."""
    with Phases.timed("waiting for the wheelhouse"):
        made = quickstart_files.result()
    if not (repo / "src.tar").exists():
        shutil.move(made / "wheels", repo / "wheels")
        shutil.move(made / "src.tar", repo / "src.tar")
    return repo


@pytest.fixture(scope="session")
def packages(repo: Path) -> list[str]:
    """Names of the project's packages, read from the built .debs."""
    return sorted(deb_field(d, "Package") for d in (repo / "v1").glob("*.deb"))


@pytest.fixture(scope="module")
def guest_factory(repo: Path) -> Iterator[list[Guest]]:
    booted: list[Guest] = []
    yield booted
    for g in booted:
        g.down()


def boot(guest_factory: list[Guest], repo: Path, name: str) -> Guest:
    g = Guest.boot(f"storagehost-{name}-{os.getpid()}", repo)
    guest_factory.append(g)
    return g


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    """Remember a failed step of a module whose tests build on each other (STEPWISE = True):
    the later steps then fail at once, naming it, instead of failing confusingly on a host
    left half-way (e.g. dpkg interrupted)."""
    rep = yield
    mod = item.module
    if getattr(mod, "STEPWISE", False) and rep.failed and not getattr(mod, "FAILED_STEP", None):
        mod.FAILED_STEP = item.name
    return rep


@pytest.fixture(autouse=True)
def _step(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test is a timed phase; in a STEPWISE module it fails at once after a failed step."""
    failed = getattr(request.module, "FAILED_STEP", None)
    if getattr(request.module, "STEPWISE", False) and failed:
        pytest.fail(f"not run: the earlier step {failed} failed (this one builds on it)")
    with Phases.timed(request.node.name):
        yield


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001 - pytest's own type
    if Phases.done:
        terminalreporter.section("storagehost phases (wall clock)")
        for name, dt in Phases.done:  # a test's line includes the phases inside it
            terminalreporter.write_line(f"{dt / 60:6.1f} min {dt:5.0f} s  {name}")
