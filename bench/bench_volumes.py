#!/usr/bin/env python3
"""Time targetd's volume calls on a running appliance (or any targetd).

    contrib/appliance run -- python3 bench/bench_volumes.py [--pool vg-targetd/thin_pool] [-n 100]

Reads TARGETD_URL, TARGETD_USER, TARGETD_PASSWORD, TARGETD_CA from the environment. Creates
N volumes in the pool, times pool_list and vol_list at that size (median of several
repetitions), the vol_create + vol_destroy cycle, and removes everything it made. With
TARGETD_APPLIANCE_DIR set it also times one bare `lvs` in the guest, the floor a listing
call cannot beat. The reference daemon (old targetd 0.10.x, same kind of VM, client in the
guest) took 0.167 s for one `lvs` and 0.175 s for pool_list with one thin pool.

For large N (``-n 2000``) the volumes between the first 10 and the last 10 (each timed
alone) are made in JSON-RPC batches of 16 calls per request; ``--no-cleanup`` leaves them
(for a VM that is thrown away anyway).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.realkernel.client import RPCClient, RPCError  # noqa: E402

MiB = 1 << 20


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def median_of(reps: int, fn: Callable[[], object]) -> float:
    return statistics.median(timed(fn) for _ in range(reps))


BATCH = 16


def batch(client: RPCClient, calls: list[tuple[str, dict]]) -> None:
    """Several calls in one JSON-RPC batch request; any error fails the bench."""
    body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
    status, _, data = client.post(json.dumps(body).encode())
    assert status == 200, f"batch: HTTP {status}: {data[:300]!r}"
    errors = [r["error"] for r in json.loads(data) if "error" in r]
    if errors:
        raise RuntimeError(f"batch: {len(errors)} of {len(calls)} failed: {errors[0]}")


def guest_lvs_seconds(reps: int) -> float | None:
    """Median wall time of one `lvs` in the guest, measured inside the guest."""
    if not os.environ.get("TARGETD_APPLIANCE_DIR"):
        return None
    from tests.realkernel.appliance import guest_exec

    script = (
        "s=$(date +%s.%N); lvs --reportformat json >/dev/null; e=$(date +%s.%N); "
        'python3 -c "print($e - $s)"'
    )
    return statistics.median(float(guest_exec(script).stdout) for _ in range(reps))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pool", default="vg-targetd/thin_pool")
    ap.add_argument("-n", type=int, default=100, help="volumes to create (default 100)")
    ap.add_argument("--size-mib", type=int, default=100, help="volume size (default 100 MiB)")
    ap.add_argument("--reps", type=int, default=5, help="repetitions per figure (default 5)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    ap.add_argument("--no-cleanup", action="store_true", help="leave the volumes made")
    args = ap.parse_args()

    env = os.environ
    try:
        client = RPCClient(
            env["TARGETD_URL"], env["TARGETD_USER"], env["TARGETD_PASSWORD"], env["TARGETD_CA"]
        )
    except KeyError as e:
        print(f"bench_volumes: {e.args[0]} is not set (run under contrib/appliance run)")
        return 2
    rpc = client.call
    pool, size = args.pool, args.size_mib * MiB
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    made: list[str] = []
    fig: dict[str, object] = {"pool": pool, "n": args.n, "size_mib": args.size_mib}

    def unknown() -> None:
        try:
            rpc("no_such_method")
        except RPCError:
            pass

    try:
        fig["unknown_method_s"] = median_of(args.reps, unknown)
        fig["pool_list_before_s"] = median_of(args.reps, lambda: rpc("pool_list"))
        fig["vol_list_before_s"] = median_of(args.reps, lambda: rpc("vol_list", pool=pool))
        fig["volumes_before"] = len(rpc("vol_list", pool=pool))

        creates = []
        for i in range(args.n):
            name = f"{prefix}-{i:04d}"
            if 10 <= i < args.n - 10:
                if (i - 10) % BATCH == 0:  # a batch of the untimed ones in between
                    todo = [f"{prefix}-{k:04d}" for k in range(i, min(i + BATCH, args.n - 10))]
                    batch(client, [("vol_create", {"pool": pool, "name": n, "size": size})
                                   for n in todo])  # fmt: skip
                made.append(name)
                continue
            creates.append(timed(lambda n=name: rpc("vol_create", pool=pool, name=n, size=size)))
            made.append(name)
        fig["vol_create_median_s"] = statistics.median(creates)
        fig["vol_create_first10_s"] = statistics.median(creates[:10])
        fig["vol_create_last10_s"] = statistics.median(creates[-10:])

        listed = {v["name"] for v in rpc("vol_list", pool=pool)}
        assert set(made) <= listed, "created volumes missing from vol_list"
        fig["pool_list_at_n_s"] = median_of(args.reps, lambda: rpc("pool_list"))
        fig["vol_list_at_n_s"] = median_of(args.reps, lambda: rpc("vol_list", pool=pool))

        def cycle() -> None:
            name = f"{prefix}-cycle"
            rpc("vol_create", pool=pool, name=name, size=size)
            rpc("vol_destroy", pool=pool, name=name)

        fig["create_destroy_cycle_at_n_s"] = median_of(args.reps, cycle)
        lvs_s = guest_lvs_seconds(args.reps)
        if lvs_s is not None:
            fig["guest_one_lvs_s"] = lvs_s
    finally:
        destroys = []
        for name in [] if args.no_cleanup else made:
            try:
                destroys.append(timed(lambda n=name: rpc("vol_destroy", pool=pool, name=n)))
            except RPCError as e:
                print(f"cleanup: vol_destroy {name}: {e}", file=sys.stderr)
        if destroys:
            fig["vol_destroy_median_s"] = statistics.median(destroys)
        client.close()

    width = max(len(k) for k in fig)
    for key, value in fig.items():
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")
    if args.json:
        print(json.dumps(fig))
    return 0


if __name__ == "__main__":
    sys.exit(main())
