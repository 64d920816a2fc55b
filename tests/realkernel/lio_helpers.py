"""Helpers for the iSCSI (LIO) tests of the real-kernel tier: an open-iscsi initiator in the
guest that logs in over 127.0.0.1:3260 under any initiator name, with or without CHAP, and
what LIO's configfs really holds."""

from __future__ import annotations

import re
import subprocess
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

    def _node(self, *args: str, check: bool = True, timeout: float = 120):
        argv = ["iscsiadm", "-m", "node", "-T", TARGET, "-p", PORTAL, "-I", self.iface, *args]
        try:
            return self.gx(argv, check=check, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise AssertionError(
                f"{' '.join(argv)} hung for {timeout} s\n{diagnostics(self.gx)}"
            ) from e

    def login(
        self, user: str = "", password: str = "", target_user: str = "", target_password: str = ""
    ) -> int:
        """Log in (CHAP if ``user`` is given; mutual CHAP if ``target_user`` too);
        return iscsiadm's exit status (0 = logged in).

        A refused login normally ends within seconds (error 24, authorization failure).
        Under heavy load on a TCG guest, open-iscsi has been seen to hang instead, and to
        wedge every later iscsiadm call. Then this restarts iscsid (which drops any
        half-made session) and answers -1 if the guest holds no session of this
        initiator: the login was not granted, which is what the callers assert, and
        the following tests start from a working initiator."""
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
        argv = ["iscsiadm", "-m", "node", "-T", TARGET, "-p", PORTAL, "-I", self.iface, "--login"]
        try:
            return self.gx(argv, check=False, timeout=LOGIN_TIMEOUT).returncode
        except subprocess.TimeoutExpired:
            pass
        print(f"iscsiadm --login for {self.name} hung for {LOGIN_TIMEOUT} s; restarting "
              f"iscsid\n{diagnostics(self.gx)}")  # fmt: skip
        restart_iscsid(self.gx)
        return -1 if self.name not in session_disks(self.gx) else 0

    def logout(self) -> None:
        try:
            self._node("--logout", check=False, timeout=LOGIN_TIMEOUT)
        except AssertionError as e:
            print(f"{e}\nrestarting iscsid")
            restart_iscsid(self.gx)
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


LOGIN_TIMEOUT = 90  # s: a refused login ends in seconds; a granted one under load in < 30


def restart_iscsid(guest_exec) -> None:
    """Kill and restart open-iscsi's daemon in the guest (it recovers existing sessions)."""
    guest_exec("pkill -9 -x iscsid; sleep 1; iscsid", check=False, timeout=60)


def diagnostics(guest_exec) -> str:
    """What the guest's initiator and target say, for a test that found iscsiadm stuck."""
    cp = guest_exec("iscsiadm -m session -P 1; ps -eo pid,stat,wchan:32,etime,args | grep -i "
                    "'[i]scsi'; dmesg | tail -n 40", check=False, timeout=60)  # fmt: skip
    return (cp.stdout + cp.stderr).decode(errors="replace")


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
