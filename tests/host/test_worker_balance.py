"""Keep-alive connections are shared out between the workers (a real daemon, 2 workers):
8 clients that connect one after another must not all land on one worker, whose single
core (one Python interpreter) would then serve them all while the other idles."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from .daemon import start_daemon


def _workers(master: int) -> list[int]:
    text = Path(f"/proc/{master}/task/{master}/children").read_text()
    return [int(p) for p in text.split()]


def _established_inodes(port: int) -> set[str]:
    """Socket inodes of the established TCP connections whose local port is ``port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "01" and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(inode)
    return inodes


def _connections_of(pid: int, inodes: set[str]) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            count += 1
    return count


def test_keepalive_clients_are_spread_over_the_workers(tmp_path: Path) -> None:
    d = start_daemon(tmp_path)
    host, port = d.url.split("/")[2].rsplit(":", 1)
    socks: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 20
        while len(_workers(d.proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)  # every worker's threads waiting for connections
        for _ in range(8):
            s = socket.create_connection((host, int(port)), timeout=10)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            reply = b""
            while b"\r\n\r\nok\n" not in reply:
                chunk = s.recv(4096)
                assert chunk, reply
                reply += chunk
            socks.append(s)  # kept open: a keep-alive client
        inodes = _established_inodes(int(port))
        per_worker = [_connections_of(pid, inodes) for pid in _workers(d.proc.pid)]
        assert sum(per_worker) == 8, per_worker
        assert min(per_worker) >= 2, per_worker
    finally:
        for s in socks:
            s.close()
        d.stop()
