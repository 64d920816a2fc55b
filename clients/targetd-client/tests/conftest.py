"""Fixtures of the client's tests. The end-to-end ones start the real daemon the way the
host tier does (``tests/host/daemon.py`` of the repository), with the example plugin's
file-backed block pool."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real targetd over HTTP with an ``example_file_pools`` pool; needs targetd-core and
    targetd-example installed (``pip install -e . -e contrib/example-plugin``)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    pytest.importorskip("targetd_core", reason="end-to-end tests need targetd-core installed")
    pytest.importorskip("targetd_example", reason="end-to-end tests need the example plugin")
    from tests.host.daemon import start_daemon

    tmp = tmp_path_factory.mktemp("daemon")
    pool = tmp / "pool"
    pool.mkdir()
    d = start_daemon(tmp, example_file_pools=[str(pool)])
    d.pool = str(pool)
    yield d
    d.stop()


def cli_argv() -> list[str]:
    """The targetd-cli of the Python running the tests (its venv), not another on PATH."""
    beside = Path(sys.executable).parent / "targetd-cli"
    exe = str(beside) if beside.exists() else shutil.which("targetd-cli")
    return [exe] if exe else [sys.executable, "-m", "targetd_client"]


@pytest.fixture()
def run_cli(daemon: Any, tmp_path: Path):
    """run_cli(*args, env=None) -> CompletedProcess (text): targetd-cli as a subprocess with
    the daemon's credentials in the environment and no config file."""

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("TARGETD_") and k != "TARGETD_CLI_CONFIG"
        }
        base.update(
            TARGETD_URL=daemon.url,
            TARGETD_USER=daemon.user,
            TARGETD_PASSWORD=daemon.password,
            XDG_CONFIG_HOME=str(tmp_path / "xdg"),
        )
        base.update(env or {})
        return subprocess.run(
            [*cli_argv(), *args], capture_output=True, text=True, env=base, timeout=60
        )

    return run
