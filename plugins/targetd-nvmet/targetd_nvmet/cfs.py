"""The kernel NVMe target's configfs tree, read in one pass and changed one object at a time.

Layout (kernel names; everything below ``/sys/kernel/config/nvmet``)::

    hosts/<host NQN>/{dhchap_key,dhchap_ctrl_key,dhchap_hash,dhchap_dhgroup}
                                      (the dhchap_* files only with CONFIG_NVME_TARGET_AUTH)
    subsystems/<subsystem NQN>/{attr_allow_any_host,attr_serial,attr_model}
    subsystems/<subsystem NQN>/allowed_hosts/<host NQN> -> hosts/<host NQN>
    subsystems/<subsystem NQN>/namespaces/<nsid>/{device_path,device_uuid,device_nguid,enable}
    ports/<port id>/{addr_trtype,addr_adrfam,addr_traddr,addr_trsvcid}
    ports/<port id>/subsystems/<subsystem NQN> -> subsystems/<subsystem NQN>

Every path is built by :meth:`Nvmet.path` (``safe_join``: no separator, ``.``/``..``, NUL
or newline in a component). Symlinks are only ever read with ``listdir`` of their
directory (their name is the object's name); none is followed.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

from targetd_core.plugin import Code, TargetdError, safe_join

ROOT = Path("/sys/kernel/config/nvmet")
AUTH_FILES = ("dhchap_key", "dhchap_ctrl_key", "dhchap_hash", "dhchap_dhgroup")


@dataclass
class Namespace:
    nsid: int
    device: str
    uuid: str
    enabled: bool


@dataclass
class Subsystem:
    nqn: str
    hosts: list[str] = field(default_factory=list)
    namespaces: dict[int, Namespace] = field(default_factory=dict)


@dataclass
class Port:
    pid: int
    trtype: str
    traddr: str
    trsvcid: str
    subsystems: set[str] = field(default_factory=set)


def nvmet_error(what: str, exc: OSError) -> TargetdError:
    """A -1 error for a configfs operation the kernel refused, with what to check."""
    hint = ""
    if exc.errno == errno.ENOENT:
        hint = " (is the nvmet module loaded and configfs mounted?)"
    elif exc.errno == errno.EBUSY:
        hint = " (the device is in use or the object is busy)"
    elif exc.errno == errno.EADDRINUSE:
        hint = " (another program listens on that address and port)"
    return TargetdError(Code.UNEXPECTED, f"nvmet refused to {what}: {exc.strerror or exc}{hint}")


def _read(path: str) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 65536).decode(errors="replace").strip()
    finally:
        os.close(fd)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []


class Nvmet:
    """Reads and changes nvmet's configfs tree under ``root``."""

    def __init__(self, root: Path = ROOT) -> None:
        self.root = root

    def path(self, *components: str) -> str:
        """The one way a path below the root is built (components checked)."""
        return safe_join(self.root, *components, what="configfs name")

    def present(self) -> bool:
        return os.path.isdir(self.path("subsystems"))

    # -- reading -------------------------------------------------------------------------
    def read_subsystem(self, nqn: str) -> Subsystem | None:
        base = self.path("subsystems", nqn)
        if not os.path.isdir(base):
            return None
        sub = Subsystem(nqn, sorted(_listdir(self.path("subsystems", nqn, "allowed_hosts"))))
        for name in _listdir(self.path("subsystems", nqn, "namespaces")):
            if not name.isdigit():
                continue
            try:
                device = _read(self.path("subsystems", nqn, "namespaces", name, "device_path"))
                nsuuid = _read(self.path("subsystems", nqn, "namespaces", name, "device_uuid"))
                enabled = _read(self.path("subsystems", nqn, "namespaces", name, "enable"))
            except FileNotFoundError:  # removed while we read
                continue
            sub.namespaces[int(name)] = Namespace(int(name), device, nsuuid, enabled == "1")
        return sub

    def namespace_ids(self, nqn: str) -> set[int]:
        return {int(n) for n in _listdir(self.path("subsystems", nqn, "namespaces")) if n.isdigit()}

    def namespace_device(self, nqn: str, nsid: int) -> str | None:
        try:
            return _read(self.path("subsystems", nqn, "namespaces", str(nsid), "device_path"))
        except FileNotFoundError:
            return None

    def namespace_uuid(self, nqn: str, nsid: int) -> str:
        return _read(self.path("subsystems", nqn, "namespaces", str(nsid), "device_uuid"))

    def subsystem_names(self) -> list[str]:
        return _listdir(self.path("subsystems"))

    def read_subsystems(self, names: list[str]) -> dict[str, Subsystem]:
        out = {}
        for name in names:
            sub = self.read_subsystem(name)
            if sub is not None:
                out[name] = sub
        return out

    def read_port(self, pid: int) -> Port | None:
        if not os.path.isdir(self.path("ports", str(pid))):
            return None
        values = [
            _read(self.path("ports", str(pid), attr))
            for attr in ("addr_trtype", "addr_traddr", "addr_trsvcid")
        ]
        subs = set(_listdir(self.path("ports", str(pid), "subsystems")))
        return Port(pid, *values, subsystems=subs)

    def host_exists(self, host: str) -> bool:
        return os.path.isdir(self.path("hosts", host))

    def host_has_key(self, host: str) -> bool:
        """True if the host must authenticate (a DH-HMAC-CHAP key is set)."""
        try:
            return bool(_read(self.path("hosts", host, "dhchap_key")))
        except OSError:
            return False

    def auth_supported(self, host: str) -> bool:
        """True if the kernel has target-side DH-HMAC-CHAP (the host's directory has the
        ``dhchap_key`` attribute: CONFIG_NVME_TARGET_AUTH). ``host`` must exist."""
        return os.path.exists(self.path("hosts", host, "dhchap_key"))

    # -- changing ------------------------------------------------------------------------
    def _do(self, what: str, func, *args) -> None:  # noqa: ANN001
        try:
            func(*args)
        except OSError as exc:
            raise nvmet_error(what, exc) from None

    def write(self, what: str, value: str, *components: str) -> None:
        path = self.path(*components)

        def w() -> None:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
            try:
                os.write(fd, value.encode())
            finally:
                os.close(fd)

        self._do(what, w)

    def make_host(self, host: str) -> None:
        self._do("create the host entry", os.mkdir, self.path("hosts", host))

    def remove_host(self, host: str) -> None:
        self._do("remove the host entry", os.rmdir, self.path("hosts", host))

    def set_auth(self, host: str, values: dict[str, str]) -> None:
        """Write DH-HMAC-CHAP settings (hash and group before the keys)."""
        for attr in AUTH_FILES[2:] + AUTH_FILES[:2]:
            if attr in values:
                self.write(f"set the host's {attr}", values[attr], "hosts", host, attr)

    def make_subsystem(self, nqn: str, serial: str) -> None:
        self._do("create the subsystem", os.mkdir, self.path("subsystems", nqn))
        try:
            self.write("restrict the subsystem", "0", "subsystems", nqn, "attr_allow_any_host")
            self.write("set the serial", serial, "subsystems", nqn, "attr_serial")
            self.write("set the model", "targetd", "subsystems", nqn, "attr_model")
        except TargetdError:
            self.remove_subsystem(nqn)
            raise

    def remove_subsystem(self, nqn: str) -> None:
        self._do("remove the subsystem", os.rmdir, self.path("subsystems", nqn))

    def allow_host(self, nqn: str, host: str) -> None:
        self._do(
            "allow the host",
            os.symlink,
            self.path("hosts", host),
            self.path("subsystems", nqn, "allowed_hosts", host),
        )

    def disallow_host(self, nqn: str, host: str) -> None:
        self._do(
            "disallow the host", os.unlink, self.path("subsystems", nqn, "allowed_hosts", host)
        )

    def make_namespace(self, nqn: str, nsid: int, device: str, nsuuid: str) -> None:
        """Create and enable a namespace; nothing is left behind on failure."""
        ns = str(nsid)
        self._do("create the namespace", os.mkdir, self.path("subsystems", nqn, "namespaces", ns))
        try:
            self.write("set the namespace device", device, "subsystems", nqn, "namespaces", ns,
                       "device_path")  # fmt: skip
            self.write("set the namespace UUID", nsuuid, "subsystems", nqn, "namespaces", ns,
                       "device_uuid")  # fmt: skip
            self.write("set the namespace NGUID", nsuuid, "subsystems", nqn, "namespaces", ns,
                       "device_nguid")  # fmt: skip
            self.write("enable the namespace", "1", "subsystems", nqn, "namespaces", ns, "enable")
        except TargetdError:
            try:
                self._do("remove the namespace", os.rmdir,
                         self.path("subsystems", nqn, "namespaces", ns))  # fmt: skip
            except TargetdError:
                pass
            raise

    def remove_namespace(self, nqn: str, nsid: int) -> None:
        ns = str(nsid)
        try:
            self.write("disable the namespace", "0", "subsystems", nqn, "namespaces", ns, "enable")
            disabled = True
        except TargetdError:
            disabled = False  # rmdir disables too; its error is the one that matters
        try:
            self._do(
                "remove the namespace", os.rmdir, self.path("subsystems", nqn, "namespaces", ns)
            )
        except TargetdError:
            if disabled:  # leave it as it was
                try:
                    self.write("enable the namespace", "1", "subsystems", nqn, "namespaces", ns,
                               "enable")  # fmt: skip
                except TargetdError:
                    pass
            raise

    def make_port(self, pid: int, adrfam: str, traddr: str, trsvcid: str) -> None:
        self._do("create the port", os.mkdir, self.path("ports", str(pid)))
        self.set_port(pid, adrfam, traddr, trsvcid)

    def set_port(self, pid: int, adrfam: str, traddr: str, trsvcid: str) -> None:
        p = str(pid)
        self.write("set the port transport", "tcp", "ports", p, "addr_trtype")
        self.write("set the port address family", adrfam, "ports", p, "addr_adrfam")
        self.write("set the port address", traddr, "ports", p, "addr_traddr")
        self.write("set the port number", trsvcid, "ports", p, "addr_trsvcid")

    def link_port(self, pid: int, nqn: str) -> None:
        self._do(
            "open the subsystem on the port",
            os.symlink,
            self.path("subsystems", nqn),
            self.path("ports", str(pid), "subsystems", nqn),
        )

    def unlink_port(self, pid: int, nqn: str) -> None:
        self._do(
            "close the subsystem on the port",
            os.unlink,
            self.path("ports", str(pid), "subsystems", nqn),
        )
