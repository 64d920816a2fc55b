#!/usr/bin/env python3
"""Benchmark of RBD block pools (targetd-rbd) against the appliance.

    contrib/appliance run -- .venv/bin/python bench/bench_rbd.py [-n 10]

Starts the guest's one-node Ceph cluster (appliance-ceph-up), adds the RBD pool ``rbd`` to
targetd's configuration and restarts targetd; then makes ``n`` 100 MiB images and times,
per call as the client on the host sees it (HTTPS through QEMU's port forward): vol_create,
the first iSCSI export of each (export_create: includes the kernel RBD mapping),
export_list, vol_list and pool_list with ``n`` images, export_destroy of the last export
(includes the unmapping) and vol_destroy. Prints medians. Puts the configuration back and
stops the cluster at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.realkernel.appliance import guest_exec  # noqa: E402
from tests.realkernel.client import RPCClient  # noqa: E402

POOL = "rbd"
SIZE = 100 << 20
CONFIG = "/etc/target/targetd.yaml"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=10, help="images (default 10)")
    args = ap.parse_args()
    env = os.environ
    c = RPCClient(env["TARGETD_URL"], env["TARGETD_USER"], env["TARGETD_PASSWORD"],
                  env["TARGETD_CA"])  # fmt: skip
    rpc = c.call

    def restart() -> float:
        t = time.monotonic()
        guest_exec(["targetd-ctl", "restart"], timeout=120)
        c.close()
        while True:
            try:
                rpc("pool_list")
                return time.monotonic() - t
            except Exception:  # noqa: BLE001 - not answering yet
                c.close()
                time.sleep(1)

    t = time.monotonic()
    guest_exec(["appliance-ceph-up"], timeout=1200)
    print(f"[appliance-ceph-up {time.monotonic() - t:.1f} s]", file=sys.stderr, flush=True)
    original = guest_exec(["cat", CONFIG]).stdout
    guest_exec(f"cat >> {CONFIG}", input=b"\nrbd_pools: [rbd]\nrbd_client: targetd\n")
    print(f"[targetd restart {restart():.1f} s]", file=sys.stderr, flush=True)
    run = uuid.uuid4().hex[:6]
    wwn = f"iqn.1994-05.org.example.bench:{run}"
    names = [f"bench-{run}-{i}" for i in range(args.n)]
    times: dict[str, list[float]] = {}

    def timed(label: str, method: str, **params):  # noqa: ANN202
        t = time.monotonic()
        r = rpc(method, **params)
        times.setdefault(label, []).append(time.monotonic() - t)
        return r

    try:
        for i, name in enumerate(names):
            timed("vol_create", "vol_create", pool=POOL, name=name, size=SIZE)
            timed("export_create (maps)", "export_create", pool=POOL, vol=name,
                  initiator_wwn=wwn, lun=i)  # fmt: skip
        for _ in range(3):
            timed(f"export_list ({args.n} exports)", "export_list")
            timed(f"vol_list ({args.n} images)", "vol_list", pool=POOL)
            timed("pool_list", "pool_list")
        for name in names:
            timed("export_destroy (unmaps)", "export_destroy", pool=POOL, vol=name,
                  initiator_wwn=wwn)  # fmt: skip
            timed("vol_destroy", "vol_destroy", pool=POOL, name=name)
        print(f"{'call':<32} {'median s':>9} {'max s':>7} {'calls':>6}")
        for label, ts in times.items():
            print(f"{label:<32} {statistics.median(ts):>9.3f} {max(ts):>7.3f} {len(ts):>6}")
    finally:
        c.close()
        for name in names:
            for method, params in (
                ("export_destroy", {"pool": POOL, "vol": name, "initiator_wwn": wwn}),
                ("vol_destroy", {"pool": POOL, "name": name}),
            ):
                try:
                    rpc(method, **params)
                except Exception:  # noqa: BLE001 - done already or never made
                    pass
        guest_exec(f"cat > {CONFIG}.new && chmod 600 {CONFIG}.new && mv {CONFIG}.new {CONFIG}",
                   input=original)  # fmt: skip
        restart()
        guest_exec(["appliance-ceph-up", "--stop"], timeout=300)
        c.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
