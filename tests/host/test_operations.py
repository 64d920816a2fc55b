"""rpc.discover, /healthz, /metrics and readiness notification, on a real daemon."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import requests

import targetd_core

from .daemon import Daemon, run_targetd, start_daemon, write_config

SCHEMA = Path(__file__).parent.parent / "data" / "openrpc-meta-schema.json"


@pytest.fixture(scope="module")
def metered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    tmp = tmp_path_factory.mktemp("metered")
    (tmp / "pool").mkdir()
    d = start_daemon(tmp, example_file_pools=[str(tmp / "pool")])
    yield d
    d.stop()


def _openrpc_validator() -> jsonschema.Draft7Validator:
    """The OpenRPC meta-schema, whose $ref to the JSON Schema draft 7 meta-schema is
    resolved locally: with ``referencing`` (jsonschema 4.18+), or with RefResolver
    on older jsonschema (Debian 12 ships 4.10), which has no ``registry``."""
    schema = json.loads(SCHEMA.read_text())
    meta = jsonschema.Draft7Validator.META_SCHEMA
    try:
        from referencing import Registry
        from referencing.jsonschema import DRAFT7
    except ImportError:
        resolver = jsonschema.RefResolver.from_schema(
            schema, store={"https://meta.json-schema.tools": meta}
        )
        return jsonschema.Draft7Validator(schema, resolver=resolver)
    registry = Registry().with_resource(
        "https://meta.json-schema.tools", DRAFT7.create_resource(meta)
    )
    return jsonschema.Draft7Validator(schema, registry=registry)


def test_discover_is_valid_openrpc_and_matches_the_registry(metered: Daemon) -> None:
    doc = metered.call("rpc.discover")
    _openrpc_validator().validate(doc)
    listed = json.loads(run_targetd(["-c", str(metered.config_path), "plugins", "--json"]).stdout)
    registered = {(m, p["name"]) for p in listed for m in p["methods"]}
    described = {(m["name"], m["x-targetd-plugin"]) for m in doc["methods"]}
    assert described == registered
    assert ("example_echo", "example") in described and ("vol_create", "core") in described
    vol_create = next(m for m in doc["methods"] if m["name"] == "vol_create")
    assert [p["name"] for p in vol_create["params"]] == ["pool", "name", "size"]
    assert {e["code"] for e in vol_create["errors"]} >= {-110, -50, -32602}


def test_every_described_method_is_callable(metered: Daemon) -> None:
    for m in metered.call("rpc.discover")["methods"]:
        reply = metered.rpc(m["name"], {"__probe__": 1})
        assert reply["error"]["code"] == -32602, (m["name"], reply)


def test_healthz_needs_no_auth_and_reveals_nothing(metered: Daemon) -> None:
    r = requests.get(metered.url.replace("/targetrpc", "/healthz"), timeout=10)
    assert r.status_code == 200 and r.text.strip() == "ok"


def test_metrics_need_auth(metered: Daemon) -> None:
    url = metered.url.replace("/targetrpc", "/metrics")
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, auth=("admin", metered.password), timeout=10).status_code == 200


def _samples(text: str, name: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line.startswith(name):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def test_metrics_add_up_across_two_workers(metered: Daemon) -> None:
    url = metered.url.replace("/targetrpc", "/metrics")
    n_threads, per_thread = 8, 10

    def load() -> None:
        s = requests.Session()
        for i in range(per_thread):
            r = s.post(
                metered.url,
                json={"jsonrpc": "2.0", "id": i, "method": "example_echo", "params": {"text": "m"}},
                auth=("admin", metered.password),
                timeout=10,
            )
            assert r.status_code == 200

    threads = [threading.Thread(target=load) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    metered.post("{}", auth=("admin", "wrong"))
    r = requests.post(
        metered.url,
        json={"jsonrpc": "2.0", "id": 1, "method": "vol_list", "params": {"pool": "nope"}},
        auth=("admin", metered.password),
        timeout=10,
    )
    assert r.json()["error"]["code"] == -110
    # (the multiprocess collector sorts the labels by name)
    ok_labels = 'code="",error="",method="example_echo",outcome="ok"}'
    for _ in range(6):  # several scrapes, answered by either worker, agree
        text = requests.get(url, auth=("admin", metered.password), timeout=10).text
        ok = _samples(text, "targetd_requests_total{" + ok_labels)
        assert list(ok.values()) == [n_threads * per_thread], text
        hist = _samples(text, "targetd_request_duration_seconds_count{" + ok_labels)
        assert list(hist.values()) == [n_threads * per_thread]
        failed = 'code="-110",error="INVALID_POOL",method="vol_list",outcome="error"}'
        assert list(_samples(text, "targetd_requests_total{" + failed).values()) == [1.0], text
        (build,) = _samples(text, "targetd_build_info{")
        assert f'version="{targetd_core.__version__}"' in build and 'python="3.' in build
        assert 'plugin="example"' in "".join(_samples(text, "targetd_plugin_info{"))
        assert list(_samples(text, "targetd_failed_logins_total").values()) == [1.0]
        assert any(k.startswith("targetd_pool_size_bytes{") for k in _samples(text, "targetd_pool"))
        assert list(_samples(text, "targetd_volumes{").values()) == [0.0]
    # the load went to both workers (gthread, 2 processes): each wrote its own files
    files = list((Path(metered.config_path).parent / "state" / "metrics").glob("counter_*.db"))
    assert len(files) >= 2


def _address(cfg: Path) -> tuple[str, int]:
    bind = [line for line in cfg.read_text().splitlines() if line.startswith("bind:")][0]
    host, port = bind.split(": ", 1)[1].strip("'\"").rsplit(":", 1)
    return host, int(port)


def _start(cfg: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "targetd_core", "-c", str(cfg)],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_for_a_worker(host: str, port: int, pause: float) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(f"http://{host}:{port}/healthz", timeout=5).ok:
                return
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "no worker answered /healthz"
        time.sleep(pause)


def test_ready_notification_once_listening(tmp_path: Path) -> None:
    """Type=notify: READY=1 arrives on $NOTIFY_SOCKET, and by then the port answers."""
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(30)
    cfg = write_config(tmp_path)
    host, port = _address(cfg)
    proc = _start(cfg, {"NOTIFY_SOCKET": str(sock_path)})
    try:
        msg = sock.recv(4096).decode()
        assert "READY=1" in msg
        with socket.create_connection((host, port), timeout=5):
            pass
        _wait_for_a_worker(host, port, 0.2)
    finally:
        proc.terminate()
        proc.wait(30)
        sock.close()


def test_a_stop_right_after_start_is_prompt(tmp_path: Path) -> None:
    """SIGTERM as soon as the first worker answers, while others may still be booting
    (gunicorn forks workers up to 0.1 s apart; four of them here): every stop ends in
    seconds. A worker forked just before the stop used to take the master's SIGTERM
    with the master's inherited handler (which only queues it) and serve on until
    killed after graceful_timeout: a minute, one start in a few on gunicorn 20.1."""
    for attempt in range(10):
        (tmp_path / str(attempt)).mkdir()
        cfg = write_config(tmp_path / str(attempt), workers=4)  # more workers still booting
        proc = _start(cfg)
        try:
            _wait_for_a_worker(*_address(cfg), 0.01)
            proc.terminate()
            proc.wait(20)  # TimeoutExpired: the stop hung
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
