"""The project's Debian packages on a real storage host, end to end (issue 12).

In one storage-host guest, in this order: `apt-get install ./*.deb` from the repository disk
(their Debian dependencies come only from there), a configuration, `systemctl start targetd`;
the client drives it (a thin volume exported over iSCSI, logged into and written by open-iscsi;
a btrfs file system exported over NFS and mounted); a reboot finds all of it back; an upgrade to
a rebuilt, higher version restarts the service exactly once; `apt-get remove` stops it;
`apt-get purge` leaves no package state and the storage untouched.

The tests share the guest and run in file order: each step starts from where the previous one
left the host, so once one fails the later ones fail at once, naming it (STEPWISE).

The guest's image has the Debian packages that the .debs depend on preinstalled (resolved by
`contrib/appliance repo` from the .debs' own Depends and Recommends, cached per list): dpkg
under TCG is slow, and what is tested here is the project's packages, their maintainer scripts
and unit. Whatever else they need comes from the repository disk, the guest's only apt source.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest
from targetd_client import Client

from tests.storagehost.conftest import boot
from tests.storagehost.host import Guest, Phases

STEPWISE = True
# apt-get install/remove/purge of the project's packages alone: about a minute at idle under TCG
APT_TIMEOUT = 900

THIN = "vg-targetd/thin_pool"
BTRFS = "/mnt/btrfs"
TARGET = "iqn.2003-01.org.linux-iscsi.storagehost:targetd"
VOL = "shvol"
FS = "shfs"
DATA = hashlib.sha256(b"storagehost").digest() * (4 << 20 >> 5)  # 4 MiB
# systemd's catalog id of "unit started" (SD_MESSAGE_UNIT_STARTED)
UNIT_STARTED = "39f53479d3a045ac8e11786248231fbf"

# what an administrator does on a fresh host with three empty disks: an LVM thin pool and a
# btrfs file system mounted from /etc/fstab (udev names the disks by their QEMU serials)
POOLS = f"""set -e
d=/dev/disk/by-id/virtio-tgt-thin
pvcreate -q -y "$d"; vgcreate -q vg-targetd "$d"
lvcreate -q -y --type thin-pool -l 95%FREE -n thin_pool vg-targetd
mkfs.btrfs -q -f -L storagehost-btrfs /dev/disk/by-id/virtio-tgt-btrfs
mkdir -p {BTRFS}
echo 'LABEL=storagehost-btrfs {BTRFS} btrfs defaults 0 0' >> /etc/fstab
systemctl daemon-reload
mount {BTRFS}
"""

CONFIG = """\
user: admin
password: {password}
ssl: true
ssl_cert: /etc/target/targetd_cert.pem
ssl_key: /etc/target/targetd_key.pem
block_pools: [{thin}]
fs_pools: [{btrfs}]
target_name: {target}
allow_chown: true
"""


class State:
    """What the steps hand on to each other."""

    guest: Guest
    client: Client
    initiator: str
    fs_path: str


S = State()


@pytest.fixture(scope="module")
def host(guest_factory: list[Guest], repo: Path) -> Guest:
    S.guest = boot(guest_factory, repo, "packages")
    return S.guest


def client_for(g: Guest) -> Client:
    e = g.env()
    return Client(
        e["TARGETD_URL"], e["TARGETD_USER"], e["TARGETD_PASSWORD"], ca=e["TARGETD_CA"], timeout=300
    )


def wait_api(g: Guest, timeout: float = 300) -> Client:
    """A client once targetd answers pool_list (after a start, reboot or upgrade)."""
    deadline = time.monotonic() + timeout
    while True:
        c = client_for(g)
        try:
            c.pool_list()
            return c
        except Exception as e:  # noqa: BLE001 - transport errors until it listens
            c.close()
            if time.monotonic() > deadline:
                status = g.run(
                    "systemctl status --no-pager targetd; journalctl -u targetd -n 40 --no-pager",
                    check=False,
                )
                raise AssertionError(f"targetd never answered: {e}\n{status.stdout}") from e
            time.sleep(3)


def service(g: Guest) -> dict[str, str]:
    out = g.out(
        [
            "systemctl",
            "show",
            "targetd.service",
            "-p",
            "ActiveState,SubState,InvocationID,NRestarts,MainPID,UnitFileState,LoadState",
        ]
    )
    return dict(line.split("=", 1) for line in out.splitlines())


def iscsi_login(g: Guest) -> str:
    """Log the guest's initiator into the target on its loopback; the LUN 0 disk (udev link)."""
    g.run(["iscsiadm", "-m", "discovery", "-t", "sendtargets", "-p", "127.0.0.1:3260"])
    g.run(["iscsiadm", "-m", "node", "-T", TARGET, "-p", "127.0.0.1:3260", "--login"])
    link = f"/dev/disk/by-path/ip-127.0.0.1:3260-iscsi-{TARGET}-lun-0"
    g.wait_for(f"udevadm settle; test -b {link}", "the iSCSI disk's udev link", timeout=60)
    return link


def iscsi_logout(g: Guest) -> None:
    g.run(["iscsiadm", "-m", "node", "-T", TARGET, "-p", "127.0.0.1:3260", "--logout"])


def sha_of(g: Guest, dev: str) -> str:
    return g.out(f"dd if={dev} bs=1M count=4 iflag=direct status=none | sha256sum").split()[0]


def nfs_mount(g: Guest) -> None:
    g.run(
        f"mkdir -p /mnt/nfs && mount -t nfs4 -o vers=4.2 127.0.0.1:{S.fs_path} /mnt/nfs",
        timeout=240,  # mount.nfs retries for 2 min when no server answers
    )


def test_install_from_the_repository_disk(
    host: Guest, packages: list[str], versions: tuple[str, str]
):
    g = host
    assert g.out("apt-cache policy | grep -c http || true") == "0", "the guest must have no mirror"
    g.run("apt-get update -q")
    before = set(g.out("dpkg-query -W -f='${Package}\\n'").split())
    assert not before & set(packages), "a fresh host has none of the project's packages"
    with Phases.timed("apt-get install ./*.deb"):
        g.run(
            "cd /srv/targetd-repo/v1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q ./*.deb",
            timeout=APT_TIMEOUT,
        )
    new = set(g.out("dpkg-query -W -f='${Package}\\n'").split()) - before
    from_repo = set(g.out("sed -n 's/^Package: //p' /srv/targetd-repo/Packages").split())
    assert new - set(packages) <= from_repo, (
        f"installed from elsewhere than the repository disk: {new - set(packages) - from_repo}"
    )
    assert set(packages) <= new, set(packages) - new
    got = g.out(["dpkg-query", "-W", "-f=${Package} ${Version} ${db:Status-Abbrev}\\n"] + packages)
    for line in got.splitlines():
        name, version, status = line.split()
        assert status == "ii", line
        assert version.startswith(versions[0]), line
    assert g.out("command -v targetd") == "/usr/bin/targetd"
    assert g.out("systemctl show -p LoadState --value targetd.service") == "loaded"


def test_configure_and_start(host: Guest):
    g = host
    g.run(POOLS)
    sd = g.dir
    password = json.loads((sd / "secrets.json").read_text())["password"]
    g.run(
        "umask 077; mkdir -p /etc/target; cat > /etc/target/targetd.yaml",
        input=CONFIG.format(password=password, thin=THIN, btrfs=BTRFS, target=TARGET).encode(),
    )
    g.run(
        "install -m 0644 /dev/stdin /etc/target/targetd_cert.pem",
        input=(sd / "server.pem").read_bytes(),
    )
    g.run(
        "install -m 0600 /dev/stdin /etc/target/targetd_key.pem",
        input=(sd / "server.key").read_bytes(),
    )
    g.run(["targetd", "-c", "/etc/target/targetd.yaml", "check"])
    g.run(["systemctl", "start", "targetd"], timeout=300)
    g.run(["systemctl", "enable", "targetd"])
    st = service(g)
    assert st["ActiveState"] == "active" and st["SubState"] == "running", st
    S.client = wait_api(g)
    names = {p["name"] for p in S.client.pool_list()}
    assert {THIN, BTRFS} <= names, names


def test_volume_exported_over_iscsi_and_written(host: Guest):
    g, c = host, S.client
    S.initiator = g.out("sed -n 's/^InitiatorName=//p' /etc/iscsi/initiatorname.iscsi")
    assert S.initiator.startswith("iqn."), S.initiator
    c.vol_create(THIN, VOL, 64 << 20)
    assert any(v["name"] == VOL and v["size"] == 64 << 20 for v in c.vol_list(THIN))
    c.export_create(THIN, VOL, S.initiator, 0)
    disk = iscsi_login(g)
    g.run(f"dd of={disk} bs=1M iflag=fullblock oflag=direct status=none", input=DATA)
    iscsi_logout(g)
    lv = "/dev/vg-targetd/" + VOL
    assert sha_of(g, lv) == hashlib.sha256(DATA).hexdigest(), (
        "what the initiator wrote is on the LV"
    )


def test_fs_exported_over_nfs_and_mounted(host: Guest):
    g, c = host, S.client
    c.fs_create(BTRFS, FS, 0)
    fs = next(f for f in c.fs_list() if f["name"] == FS)
    S.fs_path = fs["full_path"]
    c.nfs_export_add("127.0.0.1", S.fs_path, ["rw", "no_root_squash", "sec=sys"])
    nfs_mount(g)
    g.run("echo over-nfs > /mnt/nfs/hello && sync && umount /mnt/nfs")
    assert g.out(["cat", f"{S.fs_path}/hello"]) == "over-nfs"


def test_reboot_finds_everything_back(host: Guest):
    g = host
    before = service(g)["InvocationID"]
    S.client.close()
    g.reboot()
    st = service(g)
    assert st["UnitFileState"] == "enabled", st
    c = S.client = wait_api(g)
    assert service(g)["InvocationID"] != before, "a new boot, a new invocation"
    assert any(v["name"] == VOL for v in c.vol_list(THIN))
    assert any(e["vol_name"] == VOL and e["initiator_wwn"] == S.initiator for e in c.export_list())
    assert any(e["path"] == S.fs_path and e["host"] == "127.0.0.1" for e in c.nfs_export_list())
    assert S.fs_path in g.out(["exportfs", "-v"]), "the kernel's NFS export table has it again"
    disk = iscsi_login(g)
    assert sha_of(g, disk) == hashlib.sha256(DATA).hexdigest(), "the data, through the export"
    iscsi_logout(g)
    nfs_mount(g)
    assert g.out("cat /mnt/nfs/hello; umount /mnt/nfs") == "over-nfs"


def test_upgrade_restarts_once(host: Guest, packages: list[str], versions: tuple[str, str]):
    g = host
    before = service(g)
    cursor = g.out("journalctl -n 1 -o cat --show-cursor --no-pager | sed -n 's/^-- cursor: //p'")
    assert cursor, "journald gives a cursor"
    S.client.close()
    with Phases.timed("upgrade: apt-get install ./*.deb of the rebuilt version"):
        g.run(
            "cd /srv/targetd-repo/v2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q ./*.deb",
            timeout=APT_TIMEOUT,
        )
    got = g.out(["dpkg-query", "-W", "-f=${Package} ${Version}\\n"] + packages)
    assert all(line.split()[1].startswith(versions[1]) for line in got.splitlines()), got
    S.client = wait_api(g)
    after = service(g)
    assert after["ActiveState"] == "active", after
    assert after["InvocationID"] != before["InvocationID"], "the upgrade restarted targetd"
    events = g.out(
        [
            "journalctl",
            "-u",
            "targetd.service",
            "--after-cursor",
            cursor,
            "-o",
            "json",
            "--no-pager",
        ]
    )
    starts = [
        e for e in map(json.loads, events.splitlines()) if e.get("MESSAGE_ID") == UNIT_STARTED
    ]
    assert len(starts) == 1, (
        f"targetd started {len(starts)} times during the upgrade (one restart wanted)"
    )
    assert any(v["name"] == VOL for v in S.client.vol_list(THIN)), (
        "the upgraded daemon sees the volume"
    )


def test_remove_stops_the_service(host: Guest, packages: list[str]):
    g = host
    S.client.close()
    with Phases.timed("apt-get remove"):
        g.run(
            ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "remove", "-y", "-q"] + packages,
            timeout=APT_TIMEOUT,
        )
    st = service(g)
    assert st["ActiveState"] in ("inactive", "failed") and st["MainPID"] == "0", st
    listening = g.out("ss -Hltn 'sport = :18700'")
    assert listening == "", f"nothing listens on 18700 after remove: {listening}"
    assert g.run("command -v targetd", check=False).returncode != 0
    assert g.run("test -e /etc/target/targetd.yaml", check=False).returncode == 0, (
        "remove keeps the configuration"
    )


def test_purge(host: Guest, packages: list[str]):
    g = host
    # after remove, dpkg knows only the packages that have conffiles left ("rc"); the others
    # are gone, and apt (they came from .deb files, not from an apt source) no longer finds them
    rc = g.out(
        "dpkg-query -W -f='${Package} ${db:Status-Abbrev}\\n' 'targetd*' 2>/dev/null "
        "| awk '$2 == \"rc\" {print $1}' || true"
    ).split()
    assert rc and set(rc) <= set(packages), rc
    with Phases.timed("apt-get purge"):
        g.run(
            ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "purge", "-y", "-q"] + rc,
            timeout=APT_TIMEOUT,
        )
    left = g.out(  # the second letter is the package's state: n = not installed
        "dpkg-query -W -f='${Package} ${db:Status-Abbrev}\\n' 'targetd*' 2>/dev/null "
        "| awk 'substr($2, 2, 1) != \"n\"' || true"
    )
    assert left == "", f"package state left after purge: {left}"
    assert g.run("test -e /usr/lib/targetd", check=False).returncode != 0, (
        "/usr/lib/targetd is gone"
    )
    assert g.out("systemctl show -p LoadState --value targetd.service") == "not-found"
    # the configuration and the LIO state file are the administrator's; the storage is data
    assert g.run("test -e /etc/target/targetd.yaml", check=False).returncode == 0
    assert g.run("test -s /etc/target/targetd_lio.json", check=False).returncode == 0
    assert VOL in g.out(["lvs", "--noheadings", "-o", "lv_name", "vg-targetd"])
    assert os.path.basename(S.fs_path) in g.out(["btrfs", "subvolume", "list", BTRFS])
