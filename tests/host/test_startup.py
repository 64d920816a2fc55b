"""Start-up: configuration errors, TLS hygiene, plugins, --bind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from .daemon import free_port, run_targetd, start_daemon, write_config


def check(tmp: Path, env: dict[str, str] | None = None, **overrides: object):
    cfg = write_config(tmp, **overrides)
    return run_targetd(["-c", str(cfg), "check"], env=env)


def test_good_config_checks(tmp_path: Path) -> None:
    r = check(tmp_path)
    assert r.returncode == 0, r.stderr


def test_missing_password_refuses_and_says_how(tmp_path: Path) -> None:
    r = check(tmp_path, password=None)
    assert r.returncode != 0
    assert "password" in r.stderr and "no default password" in r.stderr


def test_every_problem_reported_with_its_key(tmp_path: Path) -> None:
    r = check(tmp_path, password=None, workers="many", ssl="yes", log_level="loud", bind="nowhere")
    assert r.returncode == 2
    for key in ("password", "workers", "ssl", "log_level", "bind"):
        assert f"  {key}:" in r.stderr, r.stderr


def test_unknown_key_is_a_warning(tmp_path: Path) -> None:
    r = check(tmp_path, frobnicate=True)
    assert r.returncode == 0
    assert "frobnicate" in r.stderr


def test_old_daemon_keys_are_known(tmp_path: Path) -> None:
    """Keys of the old daemon that belong to the core are accepted without warnings."""
    r = check(
        tmp_path,
        user="root",
        ssl=False,
        log_level="DEBUG",
        ssl_cert="/etc/target/targetd_cert.pem",
        ssl_key="/etc/target/targetd_key.pem",
    )
    assert r.returncode == 0 and "unknown" not in r.stderr, r.stderr


def test_malformed_yaml(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("password: [unclosed\n")
    cfg.chmod(0o600)
    r = run_targetd(["-c", str(cfg), "check"])
    assert r.returncode == 2 and "not valid YAML" in r.stderr


def test_missing_file(tmp_path: Path) -> None:
    r = run_targetd(["-c", str(tmp_path / "none.yaml")])
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_key_readable_by_others_refuses(tmp_path: Path, tls_files: dict[str, str]) -> None:
    key = tmp_path / "key.pem"
    key.write_bytes(Path(tls_files["key"]).read_bytes())
    os.chmod(key, 0o644)
    r = run_targetd(
        ["-c", str(write_config(tmp_path, ssl=True, ssl_cert=tls_files["cert"], ssl_key=str(key)))]
    )
    assert r.returncode == 2
    assert "readable by group or others" in r.stderr and "chmod 600" in r.stderr


def test_missing_key_refuses(tmp_path: Path, tls_files: dict[str, str]) -> None:
    r = run_targetd(
        [
            "-c",
            str(
                write_config(
                    tmp_path,
                    ssl=True,
                    ssl_cert=tls_files["cert"],
                    ssl_key=str(tmp_path / "nokey.pem"),
                )
            ),
        ]
    )
    assert r.returncode == 2 and "ssl_key" in r.stderr and "does not exist" in r.stderr


def test_unknown_plugin_refuses(tmp_path: Path) -> None:
    r = check(tmp_path, plugins=["example", "nosuchplugin"])
    assert r.returncode == 2 and "nosuchplugin" in r.stderr and "example" in r.stderr


def test_pool_claimed_twice_refuses(tmp_path: Path) -> None:
    pool = tmp_path / "pool"
    pool.mkdir()
    r = check(
        tmp_path,
        plugins=["example", "clash"],
        example_file_pools=[str(pool)],
        clash_pools=[str(pool)],
    )
    assert r.returncode == 2
    assert "claimed by two plugins" in r.stderr and "example" in r.stderr and "clash" in r.stderr


def test_method_registered_twice_names_both_plugins(tmp_path: Path) -> None:
    r = check(tmp_path, plugins=["example", "clash"], clash_methods=True)
    assert r.returncode == 2
    assert "example_echo" in r.stderr and "'example'" in r.stderr and "'clash'" in r.stderr


def test_pool_missing_on_host_refuses(tmp_path: Path) -> None:
    r = check(tmp_path, example_file_pools=[str(tmp_path / "missing")])
    assert r.returncode == 2 and "example_file_pools" in r.stderr


def test_unclaimed_fs_pool_refuses(tmp_path: Path) -> None:
    r = check(tmp_path, fs_pools=[str(tmp_path)])
    assert r.returncode == 2 and "fs_pools" in r.stderr and str(tmp_path) in r.stderr


def test_plugins_command_lists_example(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, plugins=["example"])
    r = run_targetd(["-c", str(cfg), "plugins"])
    assert r.returncode == 0, r.stderr
    assert "example 0.1.0 (targetd-example)" in r.stdout
    assert "example_echo" in r.stdout and "example_file_pools" in r.stdout


def test_environment_variable_restricts_plugins(tmp_path: Path) -> None:
    d = start_daemon(tmp_path, env={"TARGETD_PLUGINS": "core"})
    try:
        assert d.rpc("example_echo", {"text": "x"})["error"]["code"] == -32601
        assert d.call("pool_list") == []
    finally:
        d.stop()


def test_bind_option_overrides_config(tmp_path: Path) -> None:
    port = free_port()
    cfg = write_config(tmp_path)
    configured = yaml.safe_load(cfg.read_text())["bind"]
    import subprocess
    import sys
    import time

    import requests

    proc = subprocess.Popen(
        [sys.executable, "-m", "targetd_core", "-c", str(cfg), "--bind", f"127.0.0.1:{port}"],
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                r = requests.get(f"http://127.0.0.1:{port}/targetrpc", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert r.status_code == 401
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://{configured}/targetrpc", timeout=1)
    finally:
        proc.terminate()
        proc.wait(10)


# --- Files holding secrets (issue 10, item 9)

NOBODY = 65534


def test_config_readable_by_others_refuses_and_says_how(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    for mode in (0o644, 0o640, 0o604, 0o620):
        os.chmod(cfg, mode)
        r = run_targetd(["-c", str(cfg), "check"])
        assert r.returncode == 2, (oct(mode), r.stderr)
        assert f"chmod 600 {cfg}" in r.stderr and "group or others" in r.stderr, r.stderr
        assert f"(mode {mode:04o})" in r.stderr
    os.chmod(cfg, 0o400)
    assert run_targetd(["-c", str(cfg), "check"]).returncode == 0


def test_config_owned_by_another_user_refuses(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    os.chown(cfg, NOBODY, -1)
    r = run_targetd(["-c", str(cfg), "check"])
    assert r.returncode == 2
    assert "is owned by nobody, not by root" in r.stderr and f"chown root: {cfg}" in r.stderr


def test_daemon_does_not_start_with_a_world_readable_config(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    os.chmod(cfg, 0o644)
    r = run_targetd(["-c", str(cfg)])
    assert r.returncode == 2 and "chmod 600" in r.stderr


def test_every_config_problem_is_listed_with_the_mode(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, workers="many")
    os.chmod(cfg, 0o644)
    r = run_targetd(["-c", str(cfg), "check"])
    assert r.returncode == 2 and "chmod 600" in r.stderr and "  workers:" in r.stderr


def test_key_owned_by_another_user_refuses(tmp_path: Path, tls_files: dict[str, str]) -> None:
    key = tmp_path / "key.pem"
    key.write_bytes(Path(tls_files["key"]).read_bytes())
    os.chmod(key, 0o600)
    os.chown(key, NOBODY, -1)
    cfg = write_config(tmp_path, ssl=True, ssl_cert=tls_files["cert"], ssl_key=str(key))
    r = run_targetd(["-c", str(cfg), "check"])
    assert r.returncode == 2
    assert "ssl_key:" in r.stderr and "owned by nobody" in r.stderr
    assert f"chown root: {key}" in r.stderr
