"""targetd-cli against a real targetd on the host (HTTP, example plugin's file pool)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from targetd_client import (
    AuthenticationError,
    Client,
    ErrorCode,
    LoginThrottledError,
    TargetdError,
    TransportError,
)
from targetd_client.cli import EXIT_AUTH, EXIT_SERVER, EXIT_TRANSPORT, EXIT_USAGE


def test_pool_list_table_and_json(run_cli: Any, daemon: Any) -> None:
    cp = run_cli("pool", "list")
    assert cp.returncode == 0, cp.stderr
    lines = cp.stdout.splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "SIZE", "FREE", "USED", "UUID"]
    row = next(line for line in lines[1:] if line.startswith(daemon.pool))
    assert row.split()[1] == "block"
    cp = run_cli("pool", "list", "--json")
    assert cp.returncode == 0, cp.stderr
    pools = json.loads(cp.stdout)
    (pool,) = [p for p in pools if p["name"] == daemon.pool]
    assert pool["type"] == "block" and isinstance(pool["size"], int)
    assert isinstance(pool["uuid"], str)


def test_volume_lifecycle(run_cli: Any, daemon: Any) -> None:
    pool = daemon.pool
    assert run_cli("vol", "create", pool, "cli-a", "10M").returncode == 0
    cp = run_cli("vol", "list", pool)
    assert cp.returncode == 0, cp.stderr
    header, *rows = cp.stdout.splitlines()
    assert header.split() == ["NAME", "SIZE", "UUID"]
    assert [r.split()[:2] for r in rows] == [["cli-a", "10M"]]
    # the sizes line up: the size column is right-aligned
    assert header.index("SIZE") + len("SIZE") == rows[0].index("10M") + len("10M")

    cp = run_cli("--json", "vol", "list", pool)
    (vol,) = json.loads(cp.stdout)
    assert vol["name"] == "cli-a" and vol["size"] == 10 * 2**20

    cp = run_cli("vol", "copy", pool, "cli-a", "cli-b", "--size", "1.5G")
    assert cp.returncode == 0, cp.stderr
    cp = run_cli("vol", "resize", pool, "cli-a", "20971520")
    assert cp.returncode == 0, cp.stderr
    vols = {v["name"]: v for v in json.loads(run_cli("vol", "list", pool, "--json").stdout)}
    assert vols["cli-a"]["size"] == 20 * 2**20
    assert vols["cli-b"]["size"] == 3 * 2**29
    assert vols["cli-a"]["uuid"] != vols["cli-b"]["uuid"]
    cp = run_cli("vol", "list", pool, "--bytes")
    assert "1610612736" in cp.stdout and "20971520" in cp.stdout

    # resize to a smaller size: -32602
    cp = run_cli("vol", "resize", pool, "cli-a", "1M")
    assert cp.returncode == EXIT_SERVER
    assert "error -32602" in cp.stderr

    for name in ("cli-a", "cli-b"):
        cp = run_cli("vol", "destroy", pool, name)
        assert cp.returncode == 0, cp.stderr
    assert json.loads(run_cli("vol", "list", pool, "--json").stdout) == []


def test_server_errors_exit_1_with_code_and_message(run_cli: Any, daemon: Any) -> None:
    cp = run_cli("vol", "list", "no-such-pool")
    assert cp.returncode == EXIT_SERVER
    assert cp.stderr.startswith("targetd-cli: error -110 (INVALID_POOL): ")
    assert cp.stdout == ""

    assert run_cli("vol", "create", daemon.pool, "dup", "1M").returncode == 0
    try:
        cp = run_cli("vol", "create", daemon.pool, "dup", "1M")
        assert cp.returncode == EXIT_SERVER
        assert "error -50 (NAME_CONFLICT)" in cp.stderr and "dup" in cp.stderr
    finally:
        run_cli("vol", "destroy", daemon.pool, "dup")
    cp = run_cli("vol", "destroy", daemon.pool, "dup")
    assert cp.returncode == EXIT_SERVER and "error -103" in cp.stderr


def test_usage_errors_exit_2(run_cli: Any, daemon: Any) -> None:
    cp = run_cli("vol", "create", daemon.pool, "x", "ten")
    assert cp.returncode == EXIT_USAGE and "not a size" in cp.stderr
    cp = run_cli("vol", "frobnicate")
    assert cp.returncode == EXIT_USAGE
    cp = run_cli("pool", "list", env={"TARGETD_URL": ""})
    assert cp.returncode == EXIT_USAGE and "no targetd URL" in cp.stderr
    cp = run_cli("pool", "list", env={"TARGETD_PASSWORD": ""})
    assert cp.returncode == EXIT_USAGE and "no password" in cp.stderr
    cp = run_cli("call", "pool_list", "[1,")
    assert cp.returncode == EXIT_USAGE and "not JSON" in cp.stderr


def test_raw_call(run_cli: Any, daemon: Any) -> None:
    cp = run_cli("call", "vol_list", json.dumps({"pool": daemon.pool}))
    assert cp.returncode == 0, cp.stderr
    assert json.loads(cp.stdout) == []
    cp = run_cli("call", "no_such_method")
    assert cp.returncode == EXIT_SERVER and "-32601" in cp.stderr


def test_discover(run_cli: Any) -> None:
    cp = run_cli("discover", "--json")
    if cp.returncode == EXIT_SERVER and "-32601" in cp.stderr:
        pytest.xfail("this targetd has no rpc.discover")
    assert cp.returncode == 0, cp.stderr
    doc = json.loads(cp.stdout)
    assert {"pool_list", "vol_create", "example_echo"} <= {m["name"] for m in doc["methods"]}
    cp = run_cli("discover")
    assert cp.returncode == 0, cp.stderr
    lines = cp.stdout.splitlines()
    assert lines[0].split() == ["METHOD", "PARAMS", "PLUGIN", "SUMMARY"]
    (echo,) = [line for line in lines if line.startswith("example_echo ")]
    assert echo.split()[1:4] == ["text", "[name]", "example"]


def test_request_too_large(daemon: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from targetd_client import RequestTooLargeError, transport

    with Client(daemon.url, daemon.user, daemon.password) as c:
        for size in (200_000, 20_000_000):  # refused before sending
            with pytest.raises(RequestTooLargeError, match="at most 128 KiB"):
                c.call("example_echo", text="x" * size)
        # the daemon's own 413, when the client does not check first
        monkeypatch.setattr(transport, "MAX_BODY", 1 << 30)
        with pytest.raises(RequestTooLargeError) as e:
            c.call("example_echo", text="x" * 200_000)
        assert e.value.status == 413 and e.value.reason != "not sent"
        assert c.call("example_echo", text="still fine") == {"text": "still fine", "name": None}


def test_transport_error_exit_3(run_cli: Any, daemon: Any) -> None:
    from tests.host.daemon import free_port

    cp = run_cli("pool", "list", env={"TARGETD_URL": f"http://127.0.0.1:{free_port()}"})
    assert cp.returncode == EXIT_TRANSPORT
    assert "cannot connect to 127.0.0.1:" in cp.stderr
    wrong_path = daemon.url.replace("/targetrpc", "/wrong")
    cp = run_cli("pool", "list", env={"TARGETD_URL": wrong_path})
    assert cp.returncode == EXIT_TRANSPORT and "HTTP 404" in cp.stderr


def test_wrong_password_exit_4_and_no_password_in_output(run_cli: Any) -> None:
    secret = "not-the-password-123"
    cp = run_cli("pool", "list", env={"TARGETD_PASSWORD": secret})
    assert cp.returncode == EXIT_AUTH
    assert "401" in cp.stderr and secret not in cp.stderr + cp.stdout
    time.sleep(2.5)  # let the daemon's tarpit for this address expire


def test_library_errors_and_keepalive(daemon: Any) -> None:
    with Client(daemon.url, daemon.user, daemon.password) as c:
        with pytest.raises(TargetdError) as e:
            c.vol_list("no-such-pool")
        assert e.value.code == ErrorCode.INVALID_POOL and e.value.name == "INVALID_POOL"
        c.vol_create(daemon.pool, "lib-a", 2**20)
        try:
            conn = c._transport._conn
            assert [v["name"] for v in c.vol_list(daemon.pool)] == ["lib-a"]
            assert c._transport._conn is conn and conn is not None  # the connection was reused
            with pytest.raises(TargetdError) as e:
                c.vol_copy(daemon.pool, "lib-a", "lib-b", size=2**20)
            assert e.value.code == -32602
            # survives the server closing the idle connection (gunicorn keepalive: 5 s)
            time.sleep(5.5)
            assert c.pool_list()
            assert c._next_id >= 5
        finally:
            c.vol_destroy(daemon.pool, "lib-a")
    bad = Client(daemon.url, daemon.user, "wrong-password")
    with pytest.raises(AuthenticationError) as e:
        bad.pool_list()
    assert e.value.status == 401
    # while that failure is delayed, another attempt gets 503 at once, or 401 after it
    with pytest.raises(AuthenticationError):
        bad.pool_list()
    time.sleep(2.5)
    with pytest.raises(TransportError):
        Client(daemon.url.replace("http:", "https:"), "admin", "x", timeout=5).pool_list()
    assert issubclass(LoginThrottledError, AuthenticationError)


@pytest.fixture(scope="module")
def tls_daemon(tmp_path_factory: pytest.TempPathFactory, daemon: Any) -> Any:
    """targetd over HTTPS with a certificate from a throw-away CA (trustme)."""
    trustme = pytest.importorskip("trustme")
    import os

    from tests.host.daemon import start_daemon

    tmp = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp / "server.pem"))
    os.chmod(tmp / "server.pem", 0o600)
    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    pool = tmp / "pool"
    pool.mkdir()
    d = start_daemon(
        tmp,
        ssl_files=(str(tmp / "server.pem"), str(tmp / "server.pem")),
        ca=str(tmp / "ca.pem"),
        example_file_pools=[str(pool)],
    )
    d.ca_path = str(tmp / "ca.pem")
    yield d
    d.stop()


def test_tls_with_the_ca_and_without(run_cli: Any, tls_daemon: Any) -> None:
    env = {"TARGETD_URL": tls_daemon.url, "TARGETD_CA": tls_daemon.ca_path}
    cp = run_cli("pool", "list", "--json", env=env)
    assert cp.returncode == 0, cp.stderr
    assert json.loads(cp.stdout)[0]["type"] == "block"
    cp = run_cli("pool", "list", env={"TARGETD_URL": tls_daemon.url})
    assert cp.returncode == EXIT_TRANSPORT
    assert "not trusted" in cp.stderr and "TARGETD_CA" in cp.stderr
    cp = run_cli("--insecure", "pool", "list", env={"TARGETD_URL": tls_daemon.url})
    assert cp.returncode == 0, cp.stderr


def test_credentials_from_the_config_file(run_cli: Any, daemon: Any, tmp_path: Any) -> None:
    import os

    xdg = tmp_path / "xdg"  # run_cli's XDG_CONFIG_HOME
    xdg.mkdir(exist_ok=True)
    (xdg / "pw").write_text(daemon.password + "\n")
    os.chmod(xdg / "pw", 0o600)
    cfg = xdg / "targetd-cli.toml"
    cfg.write_text(f'url = "{daemon.url}"\nuser = "{daemon.user}"\npassword_file = "pw"\n')
    no_env = {"TARGETD_URL": "", "TARGETD_USER": "", "TARGETD_PASSWORD": ""}
    cp = run_cli("pool", "list", "--json", env=no_env)
    assert cp.returncode == 0, cp.stderr
    assert cp.stderr == ""
    # a password in a file others can read: works, with a warning
    cfg.write_text(f'url = "{daemon.url}"\npassword = "{daemon.password}"\n')
    os.chmod(cfg, 0o644)
    cp = run_cli("pool", "list", env=no_env)
    assert cp.returncode == 0, cp.stderr
    assert "warning" in cp.stderr and "chmod 600" in cp.stderr
    assert daemon.password not in cp.stderr
