"""Fixtures of the real-kernel tier: tests talk to targetd running in the storage appliance VM
(contrib/appliance) over HTTPS, and run commands in the guest to check what really happened.

This tier never skips: without the TARGETD_* environment every test fails.
"""

import os

import pytest

from tests.realkernel.appliance import guest_exec as _guest_exec
from tests.realkernel.client import RPCClient, RPCError  # noqa: F401 - RPCError for tests

REQUIRED = (
    "TARGETD_URL",
    "TARGETD_USER",
    "TARGETD_PASSWORD",
    "TARGETD_CA",
    "TARGETD_APPLIANCE_DIR",
)


@pytest.fixture(scope="session")
def appliance_env():
    missing = [k for k in REQUIRED if not os.environ.get(k)]
    if missing:
        pytest.fail(
            f"the real-kernel tier needs {', '.join(missing)}: run it with "
            "`contrib/appliance run -- python3 -m pytest tests/realkernel` "
            "(or `contrib/appliance up` and source <state dir>/env)",
            pytrace=False,
        )
    return {k: os.environ[k] for k in REQUIRED}


@pytest.fixture(autouse=True)
def _require_appliance(appliance_env):
    """Every test of this tier fails (never skips) without a running appliance."""


@pytest.fixture(scope="session")
def rpc_client(appliance_env):
    c = RPCClient(
        appliance_env["TARGETD_URL"],
        appliance_env["TARGETD_USER"],
        appliance_env["TARGETD_PASSWORD"],
        appliance_env["TARGETD_CA"],
    )
    yield c
    c.close()


@pytest.fixture(scope="session")
def rpc(rpc_client):
    """rpc(method, **params) -> result; raises RPCError (with .code) on a JSON-RPC error."""
    return rpc_client.call


@pytest.fixture(scope="session")
def guest_exec(appliance_env):
    """guest_exec(cmd, input=None, check=True, timeout=300) -> CompletedProcess (bytes)."""
    return _guest_exec
