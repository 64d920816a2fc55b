#!/usr/bin/env python3
"""The request path's own cost: requests per second and latency of ``pool_list``.

    python3 bench/bench_rpc.py                         # all loads, HTTP and HTTPS, 5 s each
    python3 bench/bench_rpc.py --loads 1,8 --duration 10 --transports http
    python3 bench/bench_rpc.py --loads slow            # a valid client among slow connections

By default the script starts its own targetd with an empty configuration (no plugins,
no pools; otherwise the daemon's defaults: 2 workers, log level info, JSON log lines to
a file) on a free loopback port, over HTTP and then over HTTPS (a throw-away trustme
certificate), and stops it afterwards. With ``--url`` it measures a running daemon
instead (``--user``, ``--password``; HTTPS is not verified).

Loads (``--loads``, comma-separated):

- ``1``: one Python ``http.client`` connection with keep-alive, one call after another;
- ``8``: ``--clients`` (default 8) such connections, one thread each, in this process;
- ``wrk``: ``wrk -t2 -c8`` with keep-alive (needs the ``wrk`` program: Debian's ``wrk``
  package; the load is reported as skipped when it is missing);
- ``wrk1``: ``wrk -t1 -c1`` with keep-alive: one client, one call after another, as the
  ``1`` load but with a client written in C, whose own cost per call is a fraction of
  ``http.client``'s (so the rate shows more of the daemon's own latency);
- ``wrk-close``: ``wrk -t2 -c8`` with ``Connection: close``, a new connection (and TLS
  handshake) for every request, as clients of a daemon without keep-alive get;
- ``slow``: ``--slow`` connections that send one header byte per second and as many that
  connect and send nothing, while one valid keep-alive client calls ``pool_list``; the
  table gives that client's figures and how many slow connections the daemon closed.

``--reference URL`` (once per transport: an ``http://`` and an ``https://`` URL) compares
with a running daemon, e.g. the old targetd started with no pools (its ``--url`` form,
user ``--user``, password ``--password``): for each load, ``--rounds`` rounds alternate
a run against it and a run against the daemon this script started, in turn first, and a
summary gives the median rate of each and their ratio, so that the two are measured in
the same minutes (on a shared machine the rate of one load moves by 2x from one minute to
the next).

``--model`` starts the daemon with another gunicorn worker model (``gthread``,
``gevent``: needs gevent installed) instead of its own, to compare candidates; see
docs/serving.md. For daemons it started, the script also prints the memory of each
worker (RSS and PSS, from /proc) and the daemon's CPU time per call (master and
workers); for the Python loads, the client's own CPU time per call (this process):
one client's round trip is at least the two added up.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

BODY = b'{"jsonrpc":"2.0","id":1,"method":"pool_list"}'
PASSWORD = "bench-password"

# Starts targetd with gunicorn's worker model replaced (for --model); argv: model config
_MODEL_SHIM = """
import sys
import targetd_core.server as server
model = sys.argv[1]
orig = server.gunicorn_options
def options(config, bind=None):
    opts = orig(config, bind)
    opts["worker_class"] = model
    if model == "gevent":
        opts["worker_connections"] = 1000
    return opts
server.gunicorn_options = options
from targetd_core.cli import main
sys.exit(main(["-c", sys.argv[2]]))
"""


@dataclass
class Result:
    load: str
    transport: str
    requests: int
    seconds: float
    latencies: list[float]
    note: str = ""
    cpu_us: float | None = None  # the daemon's CPU time per request
    client_us: float | None = None  # this script's CPU time per request (Python loads)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float | None:
        if not self.latencies:
            return None
        lat = sorted(self.latencies)
        return lat[min(len(lat) - 1, int(q * len(lat)))]

    def quantile(self, q: float) -> float | None:
        """From the latencies, or as ``wrk`` reported it (``p50``/``p99``, set by wrk_load)."""
        if self.latencies:
            return self.pct(q)
        return getattr(self, f"p{round(q * 100)}", None)


@dataclass
class Target:
    host: str
    port: int
    tls: bool
    path: str
    auth: str

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}{self.path}"

    def connect(self, timeout: float = 10) -> http.client.HTTPConnection:
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=ctx)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)


# -- the daemon --------------------------------------------------------------------------


class Daemon:
    """A targetd started for the benchmark, with an empty configuration."""

    def __init__(
        self, tls: bool, model: str | None, workdir: Path, extra: list[str] | None = None
    ) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="bench-rpc-", dir=workdir))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        lines = [
            f"password: {PASSWORD}",
            f"state_dir: {self.dir / 'state'}",
            f"bind: 127.0.0.1:{self.port}",
            "plugins: []",
            "log_format: json",
            *(extra or []),
        ]
        if tls:
            import trustme

            ca = trustme.CA()
            cert = ca.issue_cert("127.0.0.1", "localhost")
            cert_path, key_path = self.dir / "cert.pem", self.dir / "key.pem"
            cert.private_key_pem.write_to_path(str(key_path))
            os.chmod(key_path, 0o600)
            cert.cert_chain_pems[0].write_to_path(str(cert_path))
            for pem in cert.cert_chain_pems[1:]:
                pem.write_to_path(str(cert_path), append=True)
            lines += ["ssl: true", f"ssl_cert: {cert_path}", f"ssl_key: {key_path}"]
        config = self.dir / "targetd.yaml"
        config.write_text("\n".join(lines) + "\n")
        os.chmod(config, 0o600)  # targetd refuses a configuration others can read
        if model:
            argv = [sys.executable, "-c", _MODEL_SHIM, model, str(config)]
        else:
            argv = [sys.executable, "-m", "targetd_core", "-c", str(config)]
        self.log = open(self.dir / "targetd.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(  # not in the cwd: "-m" would import a checkout there
            argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir
        )
        self.target = Target("127.0.0.1", self.port, tls, "/targetrpc", _basic("admin", PASSWORD))
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"targetd exited: {(self.dir / 'targetd.log').read_text()}")
            try:
                conn = self.target.connect(timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200 and len(self.workers()) > 0:
                    conn.close()
                    time.sleep(1)  # let every worker finish booting
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise SystemExit("targetd did not start within 30 s")

    def workers(self) -> list[int]:
        try:
            text = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def memory(self) -> list[tuple[int, int, int]]:
        """(pid, RSS KiB, PSS KiB) of each worker."""
        out = []
        for pid in self.workers():
            fields = {}
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    name, _, rest = line.partition(":")
                    if rest.strip().endswith("kB"):
                        fields[name] = int(rest.split()[0])
            except OSError:
                continue
            out.append((pid, fields.get("Rss", 0), fields.get("Pss", 0)))
        return out

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the workers and the master used so far."""
        total = 0
        for pid in [self.proc.pid, *self.workers()]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# -- Python client loads -----------------------------------------------------------------


def _client_loop(target: Target, stop_at: float, out: list[float], errors: list[str]) -> None:
    headers = {"Content-Type": "application/json", "Authorization": target.auth}
    conn = target.connect()
    perf = time.perf_counter
    try:
        while perf() < stop_at:
            t0 = perf()
            conn.request("POST", target.path, BODY, headers)
            resp = conn.getresponse()
            data = resp.read()
            out.append(perf() - t0)
            if resp.status != 200 or b'"result"' not in data:
                errors.append(f"{resp.status} {data[:100]!r}")
                return
    except (OSError, http.client.HTTPException) as exc:
        errors.append(repr(exc))
    finally:
        conn.close()


def python_load(target: Target, clients: int, duration: float, name: str) -> Result:
    lists: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    start = time.perf_counter()
    stop_at = start + duration
    threads = [
        threading.Thread(target=_client_loop, args=(target, stop_at, lists[i], errors))
        for i in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    lat = [x for lst in lists for x in lst]
    note = f"{len(errors)} client(s) failed: {errors[0]}" if errors else ""
    return Result(name, "https" if target.tls else "http", len(lat), elapsed, lat, note)


# -- wrk ----------------------------------------------------------------------------------

_WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '%s'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "%s"
%s
done = function(summary, latency, requests)
  io.write(string.format("BENCH %%d %%d %%d %%d %%d %%d\\n", summary.requests,
    summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout, summary.errors.status))
end
"""


def wrk_load(
    target: Target, duration: float, close: bool, name: str, threads: int = 2, conns: int = 8
) -> Result:
    transport = "https" if target.tls else "http"
    if shutil.which("wrk") is None:
        return Result(name, transport, 0, 0, [], "skipped: wrk is not installed")
    extra = 'wrk.headers["Connection"] = "close"' if close else ""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_WRK_SCRIPT % (BODY.decode(), target.auth, extra))
    try:
        out = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{conns}",
                f"-d{max(1, round(duration))}s",
                "-s",
                f.name,
                target.url,
            ],
            capture_output=True,
            text=True,
            timeout=duration + 60,
        ).stdout
    finally:
        os.unlink(f.name)
    m = None
    for line in out.splitlines():
        m = m or re.fullmatch(r"BENCH (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)", line)
    if not m:
        return Result(name, transport, 0, 0, [], f"wrk output not understood: {out[-200:]!r}")
    reqs, micros, p50, p99, errs, status = (int(x) for x in m.groups())
    res = Result(name, transport, reqs, micros / 1e6, [])
    res.latencies = []
    res.p50, res.p99 = p50 / 1e6, p99 / 1e6  # type: ignore[attr-defined]
    if errs:
        res.note = f"{errs} socket/status errors ({status} non-2xx)"
    return res


# -- slow clients ---------------------------------------------------------------------------


def slow_load(target: Target, duration: float, slow: int) -> Result:
    """A valid client's figures while ``slow`` connections trickle a header byte per
    second and ``slow`` more send nothing; counts how many the daemon closed."""
    socks: list[socket.socket] = []
    header = f"POST {target.path} HTTP/1.1\r\nHost: x\r\nX-Slow: ".encode()
    closed = 0
    for _ in range(2 * slow):
        s = socket.create_connection((target.host, target.port), timeout=5)
        s.setblocking(False)
        socks.append(s)
    trickle, idle = socks[:slow], socks[slow:]
    if target.tls:
        note_tls = " (TCP only: no TLS handshake)"
    else:
        note_tls = ""
    lat: list[float] = []
    errors: list[str] = []
    start = time.perf_counter()
    stop_at = start + duration
    client = threading.Thread(target=_client_loop, args=(target, stop_at, lat, errors))
    client.start()
    pos = 0
    alive = {id(s) for s in socks}
    while time.perf_counter() < stop_at:
        byte = header[pos % len(header) : pos % len(header) + 1]
        pos += 1
        for s in trickle:
            if id(s) in alive:
                try:
                    s.send(byte)
                except OSError:
                    alive.discard(id(s))
        for s in socks:
            if id(s) in alive:
                try:
                    if s.recv(1, socket.MSG_PEEK) == b"":
                        alive.discard(id(s))
                except BlockingIOError:
                    pass
                except OSError:
                    alive.discard(id(s))
        time.sleep(1)
    client.join()
    elapsed = time.perf_counter() - start
    closed = len(socks) - len(alive)
    for s in socks:
        s.close()
    note = f"{closed} of {len(socks)} slow connections closed by the daemon{note_tls}"
    if errors:
        note += f"; client failed: {errors[0]}"
    del trickle, idle
    return Result(
        f"slow ({slow}+{slow})", "https" if target.tls else "http", len(lat), elapsed, lat, note
    )


# -- main ----------------------------------------------------------------------------------


def _ms(x: float | None) -> str:
    return "—" if x is None else f"{x * 1000:.2f}"


def run_loads(
    target: Target, args: argparse.Namespace, daemon: Daemon | None = None, label: str = ""
) -> list[Result]:
    results = []
    for load in args.loads:
        cpu0 = daemon.cpu_seconds() if daemon else 0.0
        mine0 = time.process_time()
        if load == "1":
            r = python_load(target, 1, args.duration, "1 client")
        elif load == "8":
            r = python_load(target, args.clients, args.duration, f"{args.clients} clients")
        elif load == "wrk":
            r = wrk_load(target, args.duration, False, "wrk -t2 -c8")
        elif load == "wrk1":
            r = wrk_load(target, args.duration, False, "wrk -t1 -c1", threads=1, conns=1)
        elif load == "wrk-close":
            r = wrk_load(target, args.duration, True, "wrk -t2 -c8, Connection: close")
        elif load == "slow":
            r = slow_load(target, args.duration, args.slow)
        else:
            raise SystemExit(f"unknown load {load!r}")
        if daemon and r.requests:
            r.cpu_us = (daemon.cpu_seconds() - cpu0) / r.requests * 1e6
        if load in ("1", "8") and r.requests:
            r.client_us = (time.process_time() - mine0) / r.requests * 1e6
        if label:
            r.load = f"{r.load} ({label})"
        results.append(r)
        print_row(r)
    return results


def parse_url(url: str, args: argparse.Namespace) -> Target:
    m = re.fullmatch(r"(https?)://([^/:]+):(\d+)(/.*)", url)
    if not m:
        raise SystemExit(f"{url}: must be http(s)://HOST:PORT/PATH")
    return Target(m[2], int(m[3]), m[1] == "https", m[4], _basic(args.user, args.password))


def compare(reference: Target, daemon: Daemon, args: argparse.Namespace) -> None:
    """Each load ``args.rounds`` times against the reference and against ``daemon``,
    alternating (which goes first alternates too); then the medians and their ratio."""
    runs: dict[tuple[str, str], list[Result]] = {}
    for rnd in range(args.rounds):
        for load in args.loads:
            one = argparse.Namespace(**{**vars(args), "loads": [load]})
            pair = [("reference", reference, None), ("targetd", daemon.target, daemon)]
            for who, target, d in pair if rnd % 2 == 0 else pair[::-1]:
                (r,) = run_loads(target, one, d, label=f"{who}, round {rnd + 1}")
                runs.setdefault((load, who), []).append(r)
    transport = "https" if daemon.target.tls else "http"

    def med(results: list[Result], f) -> float | None:
        vals = [v for v in map(f, results) if v is not None]
        return statistics.median(vals) if vals else None

    print(f"\n| load | transport | reference: req/s, p50 ms, p99 ms (median of {args.rounds}) "
          "| targetd: req/s, p50 ms, p99 ms | ratio of medians | ratio, worst round |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- |")
    for load in args.loads:
        cells = []
        for who in ("reference", "targetd"):
            rs = runs[(load, who)]
            rate = med(rs, lambda r: r.rate) or 0.0
            p50 = med(rs, lambda r: r.quantile(0.5))
            p99 = med(rs, lambda r: r.quantile(0.99))
            cells.append((rate, f"{rate:,.0f}, {_ms(p50)}, {_ms(p99)}"))
        pairs = zip(runs[(load, "targetd")], runs[(load, "reference")], strict=True)
        worst = min((o.rate / r.rate for o, r in pairs if r.rate), default=float("inf"))
        ratio = cells[1][0] / cells[0][0] if cells[0][0] else float("inf")
        print(f"| {load} | {transport} | {cells[0][1]} | {cells[1][1]} | {ratio:.2f} | "
              f"{worst:.2f} |", flush=True)  # fmt: skip
    print()


def print_row(r: Result) -> None:
    p50, p99 = r.quantile(0.5), r.quantile(0.99)
    print(
        f"| {r.load} | {r.transport} | {r.rate:,.0f} | {_ms(p50)} | {_ms(p99)} | "
        f"{'—' if r.cpu_us is None else f'{r.cpu_us:.0f}'} | "
        f"{'—' if r.client_us is None else f'{r.client_us:.0f}'} | {r.note} |",
        flush=True,
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--loads", default="1,8,wrk,wrk-close", help="comma-separated (see above)")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per load (default 5)")
    ap.add_argument("--clients", type=int, default=8, help="threads of the '8' load")
    ap.add_argument("--slow", type=int, default=64, help="slow connections of each kind")
    ap.add_argument("--transports", default="http,https", help="http, https or both")
    ap.add_argument("--model", default=None, help="gunicorn worker model to compare")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a configuration key for the daemon started (e.g. threads=32); repeatable",
    )
    ap.add_argument("--url", default=None, help="measure this running daemon instead")
    ap.add_argument("--user", default="admin")
    ap.add_argument("--password", default=os.environ.get("TARGETD_PASSWORD", ""))
    ap.add_argument(
        "--reference",
        action="append",
        default=[],
        metavar="URL",
        help="another running daemon to compare with, alternating (one URL per transport)",
    )
    ap.add_argument("--rounds", type=int, default=5, help="alternations with --reference")
    ap.add_argument("--workdir", type=Path, default=None, help="for the daemon's files")
    args = ap.parse_args()
    args.loads = [x.strip() for x in args.loads.split(",") if x.strip()]
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M:%S')}, load average {os.getloadavg()[0]:.2f}, "
        f"{os.cpu_count()} CPUs, {args.duration:g} s per load, "
        f"wrk {'found' if shutil.which('wrk') else 'NOT installed: wrk loads skipped'}"
    )
    print(
        "| load | transport | req/s | p50 ms | p99 ms | daemon CPU µs/req "
        "| client CPU µs/req | note |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    if args.url:
        run_loads(parse_url(args.url, args), args)
        return 0
    references = {(t := parse_url(u, args)).tls: t for u in args.reference}
    for transport in args.transports.split(","):
        extra = [f"{k}: {v}" for k, _, v in (kv.partition("=") for kv in args.set)]
        daemon = Daemon(
            transport.strip() == "https", args.model, args.workdir or Path("/tmp"), extra
        )
        try:
            reference = references.get(daemon.target.tls)
            if args.reference and reference is None:
                raise SystemExit(f"--reference: no {transport} URL given")
            if reference:
                compare(reference, daemon, args)
            else:
                run_loads(daemon.target, args, daemon)
            mem = daemon.memory()
        finally:
            daemon.stop()
        for pid, rss, pss in mem:
            print(
                f"#   {transport} worker {pid}: RSS {rss / 1024:.1f} MiB, PSS {pss / 1024:.1f} MiB"
            )
    print(f"# load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
