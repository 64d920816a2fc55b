"""contrib/quickstart in a fresh storage host: it must see a kernel that can serve (host mode),
create loop-file pools, start targetd under systemd and print a URL and credentials that work.

The guest has no network: apt reads the repository disk, and pip (which quickstart uses to
install the checkout into /opt/targetd) reads the wheelhouse on it through PIP_NO_INDEX and
PIP_FIND_LINKS, as on any host without an index.
"""

from __future__ import annotations

import re
from pathlib import Path

from targetd_client import Client

from tests.storagehost.conftest import boot
from tests.storagehost.host import Guest, Phases


def test_quickstart_host_mode(guest_factory: list[Guest], quickstart_repo: Path, tmp_path: Path):
    g = boot(guest_factory, quickstart_repo, "quickstart")
    g.run("mkdir -p /root/targetd && tar -xf /srv/targetd-repo/src.tar -C /root/targetd")
    with Phases.timed("contrib/quickstart"):
        cp = g.run(
            "cd /root/targetd && PIP_NO_INDEX=1 PIP_FIND_LINKS=/srv/targetd-repo/wheels "
            "contrib/quickstart",
            timeout=1200,
        )
    out = cp.stdout
    # its steps, each with the seconds since it started: sub-phases of the table
    steps = Phases.record_steps(out)
    assert steps and steps[-1][0].strip().startswith("quickstart: waiting for targetd"), out
    assert "appliance" not in out.lower(), (
        f"quickstart chose the appliance on a storage host:\n{out}"
    )
    password = re.search(r"^\s*password:\s*(\S+)$", out, re.M)
    assert "URL:" in out and password, f"quickstart printed no URL/credentials:\n{out}"
    assert g.out("systemctl is-active targetd") == "active"
    assert g.out("systemctl is-enabled targetd") == "enabled"
    # loop-file backed pools: the thin pool's PV and the btrfs file system are loop devices
    pvs = g.out(["pvs", "--noheadings", "-o", "pv_name", "-S", "vg_name=vg-targetd"])
    assert pvs.startswith("/dev/loop"), pvs
    assert g.out(["findmnt", "-n", "-o", "SOURCE", "/var/lib/targetd/btrfs"]).startswith(
        "/dev/loop"
    )
    # the printed credentials work, from the host, through the forwarded port
    ca = tmp_path / "cert.pem"
    ca.write_text(g.out(["cat", "/etc/target/targetd_cert.pem"]) + "\n")
    with Client(g.env()["TARGETD_URL"], "admin", password.group(1), ca=str(ca)) as c:
        names = {p["name"] for p in c.pool_list()}
    assert {"vg-targetd/thin_pool", "/var/lib/targetd/btrfs"} <= names, names
