#!/usr/bin/env python3
"""Benchmark of NVMe/TCP exports (targetd-nvmet) against the appliance.

    contrib/appliance run -- python3 bench/bench_nvmet.py [--sizes 1,100,250] [--layout one-host]

100 MiB thin volumes in vg-targetd/thin_pool, exported either all to one host NQN
(``one-host``: one subsystem whose namespaces grow to N, the case a hypervisor makes) or
each to its own host NQN (``per-host``: N subsystems). For each size N it times
``nvme_export_list`` (median of 3), ``nvme_export_create`` + ``nvme_export_destroy`` of one
more, already made, volume (median of 5), and the cycle vol_create + nvme_export_create +
nvme_export_destroy + vol_destroy (median of 3); it also reports nvme_export_create for
the first 10 and the last 10 exports made. Each figure is one call's wall time as the
client sees it (the host, over HTTPS through QEMU's port forward). Everything it creates
is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.realkernel.client import RPCClient  # noqa: E402

POOL = "vg-targetd/thin_pool"
SIZE = 100 << 20


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1,100,250")
    ap.add_argument("--layout", choices=("one-host", "per-host"), default="one-host")
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    env = os.environ
    c = RPCClient(env["TARGETD_URL"], env["TARGETD_USER"], env["TARGETD_PASSWORD"],
                  env["TARGETD_CA"])  # fmt: skip
    rpc = c.call
    run = uuid.uuid4().hex[:6]
    made: list[tuple[str, str]] = []  # (volume, host NQN)
    create_times: list[float] = []
    rows = []

    def host_of(i: int | str) -> str:
        tag = "all" if args.layout == "one-host" else i
        return f"nqn.2014-08.org.example.bench:{run}-{tag}"

    def timed(method: str, **params) -> float:
        t = time.monotonic()
        rpc(method, **params)
        return time.monotonic() - t

    def add_one() -> None:
        i = len(made)
        name, host = f"bench-{run}-{i}", host_of(i)
        rpc("vol_create", pool=POOL, name=name, size=SIZE)
        made.append((name, host))
        create_times.append(timed("nvme_export_create", pool=POOL, vol=name, host_nqn=host))

    spare = f"bench-{run}-spare"
    rpc("vol_create", pool=POOL, name=spare, size=SIZE)

    def create_destroy() -> tuple[float, float]:
        host = host_of("spare") if args.layout == "per-host" else host_of(0)
        tc = timed("nvme_export_create", pool=POOL, vol=spare, host_nqn=host)
        td = timed("nvme_export_destroy", pool=POOL, vol=spare, host_nqn=host)
        return tc, td

    def cycle() -> float:
        name, host = f"bench-{run}-cycle", host_of("cycle")
        t = time.monotonic()
        rpc("vol_create", pool=POOL, name=name, size=SIZE)
        rpc("nvme_export_create", pool=POOL, vol=name, host_nqn=host)
        rpc("nvme_export_destroy", pool=POOL, vol=name, host_nqn=host)
        rpc("vol_destroy", pool=POOL, name=name)
        return time.monotonic() - t

    try:
        for n in sizes:
            t0 = time.monotonic()
            while len(made) < n:
                add_one()
            print(f"[{n} exports set up in {time.monotonic() - t0:.0f} s]", file=sys.stderr)
            lt, listing = [], []
            for _ in range(3):
                t = time.monotonic()
                listing = rpc("nvme_export_list")
                lt.append(time.monotonic() - t)
            assert (
                len([e for e in listing if (e["vol_name"] or "").startswith(f"bench-{run}-")]) == n
            )
            cd = [create_destroy() for _ in range(5)]
            ct = [cycle() for _ in range(3)]
            rows.append((n, statistics.median(lt), statistics.median(x for x, _ in cd),
                         statistics.median(y for _, y in cd), statistics.median(ct)))  # fmt: skip
            print(f"[{n}: list {lt} create/destroy {cd} cycle {ct}]", file=sys.stderr, flush=True)
            if n >= 20:
                print(f"[nvme_export_create mean: first 10 {statistics.mean(create_times[:10]):.3f} s,"
                      f" last 10 of {n} {statistics.mean(create_times[n - 10 : n]):.3f} s]",
                      file=sys.stderr, flush=True)  # fmt: skip
        print(f"layout {args.layout}")
        print(f"{'exports':>8} {'list s':>8} {'create s':>9} {'destroy s':>10} {'cycle s':>8}")
        for n, lt_, cr, de, cy in rows:
            print(f"{n:>8} {lt_:>8.3f} {cr:>9.3f} {de:>10.3f} {cy:>8.3f}")
        if len(create_times) >= 20:
            first = statistics.mean(create_times[:10])
            for n in sizes:
                if n >= 20 and len(create_times) >= n:
                    last = statistics.mean(create_times[n - 10 : n])
                    print(f"nvme_export_create mean: first 10 {first:.3f} s, last 10 of {n} "
                          f"{last:.3f} s (ratio {last / first:.2f})")  # fmt: skip
        sys.stdout.flush()
    finally:
        c.close()  # an interrupted request leaves the connection unusable
        t0 = time.monotonic()
        for name, host in made:
            for method, params in (
                ("nvme_export_destroy", {"pool": POOL, "vol": name, "host_nqn": host}),
                ("vol_destroy", {"pool": POOL, "name": name}),
            ):
                try:
                    rpc(method, **params)
                except Exception as exc:  # noqa: BLE001
                    print(f"cleanup: {exc}", file=sys.stderr)
        try:
            rpc("vol_destroy", pool=POOL, name=spare)
        except Exception as exc:  # noqa: BLE001
            print(f"cleanup: {exc}", file=sys.stderr)
        print(f"[cleanup {time.monotonic() - t0:.0f} s]", file=sys.stderr)
        c.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
