"""The TLS context is made once (not per connection); SIGHUP takes a renewed
certificate, and keeps the old one if the new files do not load."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import time
from pathlib import Path

import trustme

from .daemon import start_daemon


def _served_cert(port: int) -> bytes:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s) as t:
            der = t.getpeercert(binary_form=True)
    assert der
    return der


def _issue(cert_path: Path, key_path: Path) -> None:
    cert = trustme.CA().issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(str(key_path))
    os.chmod(key_path, 0o600)
    cert.cert_chain_pems[0].write_to_path(str(cert_path))


def _after_hup(port: int, old: bytes, timeout: float = 20) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            served = _served_cert(port)
        except OSError:
            continue
        if served != old:
            return served
    return old


def test_sighup_takes_a_renewed_certificate(tmp_path: Path) -> None:
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    _issue(cert_path, key_path)
    d = start_daemon(tmp_path, ssl_files=(str(cert_path), str(key_path)))
    port = int(d.url.split("/")[2].rsplit(":", 1)[1])
    try:
        first = _served_cert(port)
        assert _served_cert(port) == first
        _issue(cert_path, key_path)  # renewed
        d.proc.send_signal(signal.SIGHUP)
        second = _after_hup(port, first)
        assert second != first, "SIGHUP did not take the renewed certificate"
        key_path.write_text("not a key\n")
        d.proc.send_signal(signal.SIGHUP)
        time.sleep(3)
        assert d.proc.poll() is None, d.log()
        assert _served_cert(port) == second  # the old context stays
        assert "does not load" in d.log()
    finally:
        d.stop()
