"""Helpers for the iSCSI (LIO) tests of the real-kernel tier: an open-iscsi initiator in the
guest that logs in over 127.0.0.1:3260 under any initiator name, with or without CHAP, and
what LIO's configfs really holds."""

from __future__ import annotations

import re
import time
import uuid

TARGET = "iqn.2003-01.org.linux-iscsi.appliance:targetd"
PORTAL = "127.0.0.1:3260"
TPG = f"/sys/kernel/config/target/iscsi/{TARGET}/tpgt_1"
CORE = "/sys/kernel/config/target/core"
MiB = 1 << 20


def iqn(tag: str = "") -> str:
    return f"iqn.1994-05.org.example.test:{tag or 'i'}-{uuid.uuid4().hex[:8]}"


class Initiator:
    """One initiator name = one open-iscsi iface (``iface.initiatorname``) in the guest."""

    def __init__(self, guest_exec, name: str) -> None:
        self.gx = guest_exec
        self.name = name
        self.iface = "t" + uuid.uuid4().hex[:10]
        self.gx(["iscsiadm", "-m", "iface", "-I", self.iface, "-o", "new"])
        self._iface_set("iface.initiatorname", name)
        self._iface_set("iface.transport_name", "tcp")

    def _iface_set(self, key: str, value: str) -> None:
        self.gx(["iscsiadm", "-m", "iface", "-I", self.iface, "-o", "update", "-n", key,
                 "-v", value])  # fmt: skip

    def _node(self, *args: str, check: bool = True):
        return self.gx(["iscsiadm", "-m", "node", "-T", TARGET, "-p", PORTAL, "-I", self.iface,
                        *args], check=check, timeout=120)  # fmt: skip

    def login(
        self, user: str = "", password: str = "", target_user: str = "", target_password: str = ""
    ) -> int:
        """Log in (CHAP if ``user`` is given; mutual CHAP if ``target_user`` too);
        return iscsiadm's exit status (0 = logged in)."""
        self.logout()
        self._node("-o", "new")
        settings = {"node.session.auth.authmethod": "CHAP" if user else "None",
                    "node.session.auth.username": user, "node.session.auth.password": password,
                    "node.session.auth.username_in": target_user,
                    "node.session.auth.password_in": target_password,
                    # fail fast: no retries of a refused login
                    "node.session.initial_login_retry_max": "1",
                    "node.conn[0].timeo.login_timeout": "10"}  # fmt: skip
        for key, value in settings.items():
            self._node("-o", "update", "-n", key, "-v", value)
        return self._node("--login", check=False).returncode

    def logout(self) -> None:
        self._node("--logout", check=False)
        self._node("-o", "delete", check=False)

    def disks(self, want: int | None = None, timeout: float = 60) -> dict[int, str]:
        """LUN -> /dev/sdX of this initiator's session (waits for ``want`` disks)."""
        deadline = time.monotonic() + timeout
        while True:
            found = session_disks(self.gx).get(self.name, {})
            if want is None or len(found) >= want or time.monotonic() > deadline:
                return found
            time.sleep(1)

    def remove(self) -> None:
        self.logout()
        self.gx(["iscsiadm", "-m", "iface", "-I", self.iface, "-o", "delete"], check=False)


def session_disks(guest_exec) -> dict[str, dict[int, str]]:
    """initiator name -> {LUN: /dev/sdX} from ``iscsiadm -m session -P3``."""
    cp = guest_exec(["iscsiadm", "-m", "session", "-P3"], check=False)
    out: dict[str, dict[int, str]] = {}
    name = None
    lun = None
    for line in cp.stdout.decode().splitlines():
        line = line.strip()
        if m := re.match(r"Iface Initiatorname: (\S+)", line):
            name = m.group(1)
            out.setdefault(name, {})
        elif m := re.search(r"\bLun: (\d+)", line):
            lun = int(m.group(1))
        elif (m := re.match(r"Attached scsi disk (\w+)", line)) and name and lun is not None:
            out[name][lun] = f"/dev/{m.group(1)}"
    return out


def unit_serial(guest_exec, disk: str) -> str:
    """The SCSI unit serial number (VPD page 0x80) the initiator sees on a disk."""
    dev = disk.rsplit("/", 1)[1]
    data = guest_exec(["cat", f"/sys/block/{dev}/device/vpd_pg80"]).stdout
    return data[4:].decode().strip("\x00 ")


def device_id_page(guest_exec, disk: str) -> bytes:
    """The raw device identification VPD page (0x83) the initiator sees."""
    dev = disk.rsplit("/", 1)[1]
    return guest_exec(["cat", f"/sys/block/{dev}/device/vpd_pg83"]).stdout


def configfs_listing(guest_exec) -> dict[str, list[str]]:
    """What targetd's part of configfs holds: backstores, TPG LUNs, ACLs."""

    def ls(path: str) -> list[str]:
        cp = guest_exec(["ls", "-1", path], check=False)
        return cp.stdout.decode().split() if cp.returncode == 0 else []

    cp = guest_exec(f"cd {CORE} && ls -1d */* 2>/dev/null | grep -v '^alua'", check=False)
    backstores = sorted(p.split("/", 1)[1] for p in cp.stdout.decode().split())
    return {"backstores": backstores, "luns": ls(f"{TPG}/lun"), "acls": ls(f"{TPG}/acls")}
