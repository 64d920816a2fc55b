#!/usr/bin/env python3
"""Benchmark of iSCSI exports against the appliance (the reference figures' measurements).

    contrib/appliance run -- python3 bench/bench_exports.py [--sizes 1,100,250]

Like the reference daemon's measurements (bench/README.md): 100 MiB thin volumes in
vg-targetd/thin_pool, each exported to its own initiator at LUN 0. For each size N it
times ``export_list`` (median of 3), and the cycle vol_create + export_create +
export_destroy + vol_destroy of one more volume (median of 3); it also reports
export_create for the first 10 and the last 10 volumes. Each figure is one call's wall
time as the client sees it (here: the host, over HTTPS through QEMU's port forward; the
reference client ran inside the guest over plain HTTP). Everything it creates is removed
at the end.
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
REFERENCE = {  # reference daemon, same VM kind
    "export_list": {1: 0.23, 10: 2.17, 50: 11.8, 100: 23.3, 250: 77.0},
    "cycle": {100: 8.5},
}


def timed(fn, *args, **kwargs) -> float:
    t = time.monotonic()
    fn(*args, **kwargs)
    return time.monotonic() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1,100,250")
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    env = os.environ
    c = RPCClient(env["TARGETD_URL"], env["TARGETD_USER"], env["TARGETD_PASSWORD"],
                  env["TARGETD_CA"])  # fmt: skip
    rpc = c.call
    run = uuid.uuid4().hex[:6]
    made: list[tuple[str, str]] = []  # (volume, initiator)
    create_times: list[float] = []
    rows = []

    def add_one() -> None:
        i = len(made)
        name, wwn = f"bench-{run}-{i}", f"iqn.1994-05.org.example.bench:{run}-{i}"
        rpc("vol_create", pool=POOL, name=name, size=SIZE)
        made.append((name, wwn))
        create_times.append(
            timed(rpc, "export_create", pool=POOL, vol=name, initiator_wwn=wwn, lun=0)
        )

    def cycle() -> float:
        name, wwn = f"bench-{run}-cycle", f"iqn.1994-05.org.example.bench:{run}-cycle"
        t = time.monotonic()
        rpc("vol_create", pool=POOL, name=name, size=SIZE)
        rpc("export_create", pool=POOL, vol=name, initiator_wwn=wwn, lun=0)
        rpc("export_destroy", pool=POOL, vol=name, initiator_wwn=wwn)
        rpc("vol_destroy", pool=POOL, name=name)
        return time.monotonic() - t

    def report() -> None:
        print(
            f"{'exports':>8} {'export_list s':>14} {'(reference)':>12} {'cycle s':>8} {'(reference)':>12}"
        )
        for n, lt, ct in rows:
            ref_l = REFERENCE["export_list"].get(n)
            ref_c = REFERENCE["cycle"].get(n)
            print(
                f"{n:>8} {lt:>14.3f} {ref_l if ref_l else '':>12} {ct:>8.3f} {ref_c if ref_c else '':>12}"
            )
        if len(create_times) >= 20:
            first = statistics.mean(create_times[:10])
            for n in sizes:
                if n >= 20 and len(create_times) >= n:
                    last = statistics.mean(create_times[n - 10 : n])
                    print(f"export_create mean: first 10 {first:.3f} s, last 10 of {n} {last:.3f} s "
                          f"(ratio {last / first:.2f})")  # fmt: skip

    try:
        for n in sizes:
            t0 = time.monotonic()
            while len(made) < n:
                add_one()
            print(f"[{n} exports set up in {time.monotonic() - t0:.0f} s]", file=sys.stderr)
            listing = []
            lt = []
            for _ in range(3):
                t = time.monotonic()
                listing = rpc("export_list")
                lt.append(time.monotonic() - t)
            assert len([e for e in listing if e["vol_name"].startswith(f"bench-{run}-")]) == n
            ct = [cycle() for _ in range(3)]
            rows.append((n, statistics.median(lt), statistics.median(ct)))
            print(f"[{n}: export_list {lt} cycle {ct}]", file=sys.stderr, flush=True)
        report()
        sys.stdout.flush()
    finally:
        t0 = time.monotonic()
        for name, wwn in made:
            try:
                rpc("export_destroy", pool=POOL, vol=name, initiator_wwn=wwn)
            except Exception as exc:  # noqa: BLE001
                print(f"cleanup: {exc}", file=sys.stderr)
            try:
                rpc("vol_destroy", pool=POOL, name=name)
            except Exception as exc:  # noqa: BLE001
                print(f"cleanup: {exc}", file=sys.stderr)
        print(f"[cleanup {time.monotonic() - t0:.0f} s]", file=sys.stderr)
        c.close()

    return 0


if __name__ == "__main__":
    sys.exit(main())
