"""Start the real targetd (a gunicorn process with 2 workers) for host-tier tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

PASSWORD = "s3cret-test-pass"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Daemon:
    """A running targetd; ``call`` and ``post`` talk to it as an ordinary client would."""

    proc: subprocess.Popen[bytes]
    url: str
    config_path: Path
    log_path: Path
    verify: Any = False
    user: str = "admin"
    password: str = PASSWORD
    session: requests.Session = field(default_factory=requests.Session)

    def post(self, body: bytes | str, auth: Any = "default", **kw: Any) -> requests.Response:
        if auth == "default":
            auth = (self.user, self.password)
        return requests.post(self.url, data=body, auth=auth, verify=self.verify, timeout=30, **kw)

    def rpc(self, method: str, params: Any = None, id: Any = 1) -> dict[str, Any]:
        """The whole JSON-RPC reply object."""
        req: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            req["params"] = params
        r = self.session.post(
            self.url, json=req, auth=(self.user, self.password), verify=self.verify, timeout=60
        )
        assert r.status_code == 200, r.text
        return r.json()

    def call(self, method: str, **params: Any) -> Any:
        """The result, or an AssertionError showing the error."""
        reply = self.rpc(method, params)
        assert "error" not in reply, reply
        return reply["result"]

    def error_code(self, method: str, **params: Any) -> int:
        reply = self.rpc(method, params)
        assert "error" in reply, reply
        return reply["error"]["code"]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def write_config(tmp: Path, **overrides: Any) -> Path:
    config: dict[str, Any] = {
        "password": PASSWORD,
        "state_dir": str(tmp / "state"),
        "bind": f"127.0.0.1:{free_port()}",
        "workers": 2,
        "log_format": "json",
        "plugins": ["example"],
    }
    config.update(overrides)
    config = {k: v for k, v in config.items() if v is not None}
    path = tmp / "targetd.yaml"
    # The daemon refuses a configuration file others can read (it holds the password).
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(yaml.safe_dump(config))
    return path


def run_targetd(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run the targetd command to completion (for start-up errors)."""
    return subprocess.run(
        [sys.executable, "-m", "targetd_core", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def start_daemon(
    tmp: Path,
    ssl_files: tuple[str, str] | None = None,
    ca: Any = False,
    env: dict[str, str] | None = None,
    **overrides: Any,
) -> Daemon:
    if ssl_files:
        overrides.update(ssl=True, ssl_cert=ssl_files[0], ssl_key=ssl_files[1])
    cfg = write_config(tmp, **overrides)
    bind = yaml.safe_load(cfg.read_text())["bind"]
    scheme = "https" if ssl_files else "http"
    url = f"{scheme}://{bind}/targetrpc"
    log_path = tmp / "targetd.log"
    logf = open(log_path, "wb")  # noqa: SIM115 - owned by the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "targetd_core", "-c", str(cfg)],
        stdout=logf,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    daemon = Daemon(proc, url, cfg, log_path, verify=ca)
    host, port = bind.rsplit(":", 1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"targetd exited {proc.returncode}:\n{daemon.log()}")
        try:
            with socket.create_connection((host, int(port)), timeout=0.5):
                pass
            # Workers up: an unauthenticated request is answered.
            r = requests.get(url, verify=ca, timeout=5)
            if r.status_code == 401:
                return daemon
        except (OSError, requests.RequestException):
            pass
        time.sleep(0.1)
    daemon.stop()
    raise RuntimeError(f"targetd did not start:\n{daemon.log()}")
