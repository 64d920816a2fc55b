"""The NVMe/TCP export logic: one subsystem per host, its namespaces, ports, host keys.

Layout (see the README for the why): every host NQN that has an export gets its own
subsystem, ``<prefix>:host-<hash of the host NQN>``, open to that host only
(``attr_allow_any_host`` 0, one ``allowed_hosts`` link) and linked to every configured
port. A volume exported to the host is a namespace of that subsystem, at the id the
client chose or the lowest free one. The namespace's UUID and NGUID derive from the
volume's uuid.

Every changing call reads what it needs from configfs, changes one object at a time while
recording how to undo each step, then writes the state file; a failure at any step
(the state file included) undoes what was done. Listing is one pass over configfs plus
the state file (which names the pool and volume of each namespace).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import structlog

from targetd_core.plugin import (
    BlockPool,
    Code,
    Core,
    ExportHandler,
    TargetdError,
    Undo,
    Volume,
    detach_quietly,
    device_size,
)

from . import naming
from .cfs import Nvmet, Subsystem
from .planning import address_family, lowest_free, port_ids
from .state import StateFile, check_host_record

log = structlog.get_logger("targetd.nvmet")

E = Code
DEFAULT_HASH = "hmac(sha256)"
DEFAULT_DHGROUP = "null"


def _serial(subsys: str) -> str:
    """attr_serial (at most 20 characters): the hash part of the subsystem NQN, so the
    serial is the same after every reboot (the kernel's default is random)."""
    return subsys.rpartition("-")[2][:20]


class NvmetExports(ExportHandler):
    """Exports volumes of any block pool over NVMe/TCP with the kernel's nvmet."""

    name = "nvme"

    def __init__(
        self,
        core: Core,
        prefix: str,
        addresses: list[str],
        port: int,
        state_path: Path,
        cfs: Nvmet | None = None,
    ) -> None:
        self.core = core
        self.prefix = prefix
        self.ports = port_ids(addresses)
        self.trsvcid = str(port)
        self.cfs = cfs or Nvmet()
        self.state = StateFile(state_path)
        self._ports_ready = False

    # -- helpers ---------------------------------------------------------------------------
    def _present(self) -> None:
        if not self.cfs.present():
            raise TargetdError(
                E.UNEXPECTED,
                f"the kernel NVMe target is not available ({self.cfs.root} is missing): load "
                "the nvmet and nvmet_tcp modules (modprobe nvmet_tcp)",
            )

    def _volume(self, pool: str, vol: str) -> tuple[BlockPool, Volume]:
        p = self.core.block_pool(pool)
        v = p.get_volume(vol)
        if v is None:
            raise TargetdError(E.VOLUME_NOT_FOUND, f"volume {vol!r} not found in pool {pool!r}")
        return p, v

    def ensure_ports(self) -> None:
        """Make the configured ports (one per address) exist with the right address.

        A port whose address changed in the configuration is closed (its subsystem links
        removed: the kernel refuses to change an open port), set, and opened again.
        """
        self._present()
        for pid, address in self.ports.items():
            port = self.cfs.read_port(pid)
            fam = address_family(address)
            if port is None:
                self.cfs.make_port(pid, fam, address, self.trsvcid)
                continue
            if (port.trtype, port.traddr, port.trsvcid) == ("tcp", address, self.trsvcid):
                continue
            for nqn in sorted(port.subsystems):
                self.cfs.unlink_port(pid, nqn)
            self.cfs.set_port(pid, fam, address, self.trsvcid)
            for nqn in sorted(port.subsystems):
                self.cfs.link_port(pid, nqn)
        self._ports_ready = True

    def _ports(self) -> None:
        if not self._ports_ready or any(self.cfs.read_port(p) is None for p in self.ports):
            self.ensure_ports()

    def _make_subsystem(self, host: str, subsys: str, undo: Undo) -> None:
        """Create the host's subsystem, open to it only, on every port."""
        self.cfs.make_subsystem(subsys, _serial(subsys))
        undo.add(lambda: self.cfs.remove_subsystem(subsys))
        self.cfs.allow_host(subsys, host)
        undo.add(lambda: self.cfs.disallow_host(subsys, host))
        for pid in self.ports:
            self.cfs.link_port(pid, subsys)
            undo.add(lambda pid=pid: self.cfs.unlink_port(pid, subsys))

    def _remove_subsystem(self, host: str, subsys: str, undo: Undo) -> None:
        for pid in self.ports:
            if os.path.lexists(self.cfs.path("ports", str(pid), "subsystems", subsys)):
                self.cfs.unlink_port(pid, subsys)
                undo.add(lambda pid=pid: self.cfs.link_port(pid, subsys))
        self.cfs.disallow_host(subsys, host)
        undo.add(lambda: self.cfs.allow_host(subsys, host))
        self.cfs.remove_subsystem(subsys)
        undo.add(lambda: self.cfs.make_subsystem(subsys, _serial(subsys)))

    def _ensure_host(self, host: str, auth: dict[str, Any] | None, undo: Undo) -> None:
        if self.cfs.host_exists(host):
            return
        self.cfs.make_host(host)
        undo.add(lambda: self.cfs.remove_host(host))
        if auth is not None:
            self._write_auth(host, auth)

    def _write_auth(self, host: str, auth: dict[str, Any]) -> None:
        if not self.cfs.auth_supported(host):
            raise TargetdError(
                E.NOT_SUPPORTED,
                "this kernel has no NVMe in-band authentication on the target side "
                "(CONFIG_NVME_TARGET_AUTH: the host entry has no dhchap_key); DH-HMAC-CHAP "
                "keys cannot be enforced here",
            )
        values = {"dhchap_hash": auth["hash"], "dhchap_dhgroup": auth["dhgroup"],
                  "dhchap_key": auth["host_key"]}  # fmt: skip
        if auth.get("ctrl_key"):
            values["dhchap_ctrl_key"] = auth["ctrl_key"]
        self.cfs.set_auth(host, values)

    def _commit(self, doc: dict[str, Any], undo: Undo) -> None:
        try:
            self.state.save(doc)
        except TargetdError:
            undo.rollback()
            raise

    @staticmethod
    def _entry(doc: dict[str, Any], host: str) -> dict[str, Any]:
        return doc["hosts"].setdefault(host, {"namespaces": {}})

    @staticmethod
    def _prune(doc: dict[str, Any], host: str) -> None:
        entry = doc["hosts"].get(host)
        if entry is not None and not entry.get("namespaces") and not entry.get("auth"):
            del doc["hosts"][host]

    @staticmethod
    def _recorded(doc: dict[str, Any], pool: str, volume: str) -> bool:
        """Whether any host's namespace in the record exports the volume."""
        return any(
            isinstance(rec, dict) and (rec.get("pool"), rec.get("volume")) == (pool, volume)
            for entry in doc["hosts"].values()
            for rec in entry.get("namespaces", {}).values()
        )

    # -- ExportHandler -----------------------------------------------------------------------
    def volume_exported(self, pool: str, volume: str) -> bool:
        if self._recorded(self.state.load(), pool, volume):
            return True
        if not self.cfs.present():
            return False
        # a namespace of this volume's device in a subsystem made by hand
        try:
            device = self.core.block_pools[pool].device_path(volume)
        except (KeyError, TargetdError):
            return False
        # targetd's own subsystems are in the state file; read only the others
        names = [
            n for n in self.cfs.subsystem_names() if not naming.is_targetd_subsystem(self.prefix, n)
        ]
        for sub in self.cfs.read_subsystems(names).values():
            if any(ns.device == device for ns in sub.namespaces.values()):
                return True
        return False

    def export_count(self) -> int | None:
        try:
            doc = self.state.load()
        except TargetdError:
            return None
        return sum(len(e.get("namespaces", {})) for e in doc["hosts"].values())

    # -- methods ---------------------------------------------------------------------------
    def export_list(self) -> list[dict[str, Any]]:
        """One pass over targetd's subsystems in configfs; pool and volume names from the
        state file (a namespace it does not name is listed with null pool and volume)."""
        if not self.cfs.present():
            return []
        doc = self.state.load()
        names = [
            n for n in self.cfs.subsystem_names() if naming.is_targetd_subsystem(self.prefix, n)
        ]
        out = []
        for sub in self.cfs.read_subsystems(sorted(names)).values():
            for host in sub.hosts:
                records = doc["hosts"].get(host, {}).get("namespaces", {})
                for nsid, ns in sorted(sub.namespaces.items()):
                    rec = records.get(str(nsid))
                    if not isinstance(rec, dict) or rec.get("device") != ns.device:
                        rec = {}
                    out.append(
                        {
                            "host_nqn": host,
                            "subsystem_nqn": sub.nqn,
                            "nsid": nsid,
                            "pool": rec.get("pool"),
                            "vol_name": rec.get("volume"),
                            "vol_uuid": rec.get("uuid"),
                            "vol_size": device_size(ns.device),
                            "ns_uuid": ns.uuid,
                            "enabled": ns.enabled,
                        }
                    )
        return out

    def export_create(self, pool: str, vol: str, host: str, nsid: int | None) -> dict[str, Any]:
        naming.check_nqn(host)
        if nsid is not None:
            naming.check_nsid(nsid)
        p, v = self._volume(pool, vol)
        undo = Undo()
        device = p.attach(vol)  # a pool of network volumes maps it now
        undo.add(lambda: self._detach_unless_exported(p, vol))
        try:
            return self._export_create(p, v, host, nsid, device, undo)
        except TargetdError:
            undo.rollback()
            raise

    def _detach_unless_exported(self, p: BlockPool, vol: str) -> None:
        """After a failed export: let go of the volume's device unless another
        namespace (in the record, which the failed export never reached) still exports
        it; when the record cannot be read, keep the device."""
        try:
            still = self._recorded(self.state.load(), p.name, vol)
        except TargetdError:
            still = True
        if not still:
            detach_quietly(p, vol)

    def _export_create(
        self, p: BlockPool, v: Volume, host: str, nsid: int | None, device: str, undo: Undo
    ) -> dict[str, Any]:
        pool, vol = p.name, v.name
        self._ports()
        subsys = naming.subsystem_nqn(self.prefix, host)
        # a constant number of system calls whatever the exports: the namespace ids (one
        # listdir), the state file's record of this volume, its one namespace's device
        used = self.cfs.namespace_ids(subsys)
        doc = self.state.load()
        entry = self._entry(doc, host)
        result = {"host_nqn": host, "subsystem_nqn": subsys}
        for key, rec in entry["namespaces"].items():
            if not isinstance(rec, dict) or (rec.get("pool"), rec.get("volume")) != (pool, vol):
                continue
            if int(key) in used and self.cfs.namespace_device(subsys, int(key)) == device:
                if nsid is None or nsid == int(key):
                    return {**result, "nsid": int(key)}
                raise TargetdError(
                    E.NAME_CONFLICT,
                    f"volume {vol!r} is already exported to {host} as namespace {key}",
                )
        if nsid is None:
            nsid = lowest_free(used, 1, naming.NSID_MAX)
            if nsid is None:
                raise TargetdError(E.NO_FREE_LUN, f"host {host} has no free namespace id")
        elif nsid in used:
            raise TargetdError(
                E.NAME_CONFLICT, f"namespace {nsid} of host {host} exports another volume"
            )
        self._ensure_host(host, entry.get("auth"), undo)
        if not os.path.isdir(self.cfs.path("subsystems", subsys)):
            self._make_subsystem(host, subsys, undo)
        nsuuid = str(naming.namespace_uuid(v.uuid))
        self.cfs.make_namespace(subsys, nsid, device, nsuuid)
        undo.add(lambda: self.cfs.remove_namespace(subsys, nsid))
        entry["namespaces"][str(nsid)] = {"pool": pool, "volume": vol, "uuid": v.uuid,
                                          "device": device}  # fmt: skip
        self._commit(doc, undo)
        log.info("NVMe export created", pool=pool, volume=vol, host_nqn=host, nsid=nsid)
        return {**result, "nsid": nsid}

    def export_destroy(self, pool: str, vol: str, host: str) -> None:
        naming.check_nqn(host)
        self.core.block_pool(pool)
        subsys = naming.subsystem_nqn(self.prefix, host)
        doc = self.state.load()
        entry = doc["hosts"].get(host, {"namespaces": {}})
        nsid = None
        for key, rec in entry.get("namespaces", {}).items():
            if isinstance(rec, dict) and (rec.get("pool"), rec.get("volume")) == (pool, vol):
                nsid = int(key)
        if nsid is None:
            raise TargetdError(
                E.EXPORT_NOT_FOUND, f"volume {vol!r} of pool {pool!r} is not exported to {host}"
            )
        present = self.cfs.present()
        undo = Undo()
        try:
            device = self.cfs.namespace_device(subsys, nsid) if present else None
            if device is not None:
                nsuuid = self.cfs.namespace_uuid(subsys, nsid)
                self.cfs.remove_namespace(subsys, nsid)
                undo.add(lambda: self.cfs.make_namespace(subsys, nsid, device, nsuuid))
            if present and os.path.isdir(self.cfs.path("subsystems", subsys)):
                if not self.cfs.namespace_ids(subsys):
                    self._remove_subsystem(host, subsys, undo)
                    if not entry.get("auth") and self.cfs.host_exists(host):
                        self.cfs.remove_host(host)
                        undo.add(lambda: self.cfs.make_host(host))
        except TargetdError:
            undo.rollback()
            raise
        entry.get("namespaces", {}).pop(str(nsid), None)
        self._prune(doc, host)
        self._commit(doc, undo)
        log.info("NVMe export removed", pool=pool, volume=vol, host_nqn=host, nsid=nsid)
        if not self._recorded(doc, pool, vol):
            detach_quietly(self.core.block_pool(pool), vol)

    def host_list(self) -> list[dict[str, Any]]:
        """Hosts with an export or keys: their subsystem, export count, authentication."""
        doc = self.state.load()
        present = self.cfs.present()
        hosts: dict[str, dict[str, Any]] = {}
        names = self.cfs.subsystem_names() if present else []
        for name in names:
            if not naming.is_targetd_subsystem(self.prefix, name):
                continue
            sub = self.cfs.read_subsystem(name)
            for host in sub.hosts if sub else []:
                hosts[host] = {"host_nqn": host, "subsystem_nqn": name,
                               "exports": len(sub.namespaces)}  # fmt: skip
        for host in doc["hosts"]:
            hosts.setdefault(
                host,
                {"host_nqn": host, "subsystem_nqn": naming.subsystem_nqn(self.prefix, host),
                 "exports": 0},
            )  # fmt: skip
        for host, item in hosts.items():
            auth = doc["hosts"].get(host, {}).get("auth")
            enforced = present and self.cfs.host_has_key(host)
            item["auth"] = (
                "none" if not auth else "bidirectional" if auth.get("ctrl_key") else "host"
            )
            item["auth_enforced"] = enforced
        return [hosts[h] for h in sorted(hosts)]

    def host_set_auth(
        self,
        host: str,
        host_key: str,
        ctrl_key: str | None,
        hash_name: str | None,
        dhgroup: str | None,
    ) -> None:
        naming.check_nqn(host)
        naming.check_dhchap_secret(host_key, "host key")
        if ctrl_key:
            naming.check_dhchap_secret(ctrl_key, "controller key")
        auth = {
            "host_key": host_key,
            "ctrl_key": ctrl_key or None,
            "hash": naming.check_choice(hash_name or DEFAULT_HASH, naming.DHCHAP_HASHES, "hash"),
            "dhgroup": naming.check_choice(
                dhgroup or DEFAULT_DHGROUP, naming.DHCHAP_DHGROUPS, "DH group"
            ),
        }
        self._present()
        doc = self.state.load()
        entry = self._entry(doc, host)
        old = entry.get("auth")
        undo = Undo()
        try:
            if self.cfs.host_exists(host):
                if not self.cfs.auth_supported(host):  # before the host loses its entry
                    self._write_auth(host, auth)
                self._reset_host(host, undo, old)
            else:
                self.cfs.make_host(host)
                undo.add(lambda: self.cfs.remove_host(host))
            self._write_auth(host, auth)
        except TargetdError:
            undo.rollback()
            raise
        entry["auth"] = auth
        self._commit(doc, undo)
        log.info("NVMe host authentication set", host_nqn=host,
                 bidirectional=bool(auth["ctrl_key"]))  # fmt: skip

    def host_clear_auth(self, host: str) -> None:
        naming.check_nqn(host)
        self._present()
        doc = self.state.load()
        entry = doc["hosts"].get(host)
        if entry is None or not entry.get("auth"):
            return
        old = entry["auth"]
        undo = Undo()
        try:
            if self.cfs.host_exists(host):
                subsys = naming.subsystem_nqn(self.prefix, host)
                if os.path.isdir(self.cfs.path("subsystems", subsys)):
                    self._reset_host(host, undo, old)
                else:
                    self.cfs.remove_host(host)
                    undo.add(lambda: self._restore_host(host, old))
        except TargetdError:
            undo.rollback()
            raise
        entry.pop("auth", None)
        self._prune(doc, host)
        self._commit(doc, undo)
        log.info("NVMe host authentication cleared", host_nqn=host)

    def _restore_host(self, host: str, auth: dict[str, Any] | None) -> None:
        self.cfs.make_host(host)
        if auth:
            self._write_auth(host, auth)

    def _reset_host(self, host: str, undo: Undo, old: dict[str, Any] | None) -> None:
        """Give the host a fresh, key-less entry (a key cannot be unset in place): unlink it
        from its subsystem, remove and make it again, link it back. Connected controllers
        stay; new connections see the new settings."""
        subsys = naming.subsystem_nqn(self.prefix, host)
        linked = os.path.lexists(self.cfs.path("subsystems", subsys, "allowed_hosts", host))
        if linked:
            self.cfs.disallow_host(subsys, host)
            undo.add(lambda: self.cfs.allow_host(subsys, host))
        self.cfs.remove_host(host)
        undo.add(lambda: self._restore_host(host, old))
        self.cfs.make_host(host)
        undo.add(lambda: self.cfs.remove_host(host))
        if linked:
            self.cfs.allow_host(subsys, host)
            undo.add(lambda: self.cfs.disallow_host(subsys, host))

    # -- start-up ------------------------------------------------------------------------------
    def restore(self) -> dict[str, int]:
        """Replay the state file into configfs (after a reboot: nvmet starts empty).

        Objects that exist are kept. A record that breaks the rules, names a volume that
        is gone (or was re-created: another uuid), or whose keys this kernel cannot
        enforce, is logged and skipped: a host is never opened without the keys it had.
        """
        doc = self.state.load()
        self.ensure_ports()
        volumes: dict[str, dict[str, Volume]] = {}
        counts = {"hosts": 0, "namespaces": 0, "skipped": 0}
        for host, entry in sorted(doc["hosts"].items()):
            problem = check_host_record(host, entry)
            if problem:
                log.error("an NVMe state record is skipped", host_nqn=str(host)[:240],
                          problem=problem)  # fmt: skip
                counts["skipped"] += 1
                continue
            undo = Undo()
            try:
                self._ensure_host(host, entry.get("auth"), undo)
            except TargetdError as exc:
                undo.rollback()
                log.error("an NVMe host is not restored", host_nqn=host, error=exc.message)
                counts["skipped"] += 1
                continue
            subsys = naming.subsystem_nqn(self.prefix, host)
            live = self.cfs.read_subsystem(subsys)
            if live is None and entry.get("namespaces"):
                try:
                    self._make_subsystem(host, subsys, undo)
                except TargetdError as exc:
                    undo.rollback()
                    log.error("an NVMe host is not restored", host_nqn=host, error=exc.message)
                    counts["skipped"] += 1
                    continue
                live = Subsystem(subsys, [host])
            counts["hosts"] += 1
            for key, rec in sorted(entry.get("namespaces", {}).items(), key=lambda i: int(i[0])):
                nsid = int(key)
                if live is not None and nsid in live.namespaces:
                    counts["namespaces"] += 1  # kept (targetd restarted, no reboot)
                    continue
                vols = volumes.get(rec["pool"])
                if vols is None:
                    pool = self.core.block_pools.get(rec["pool"])
                    vols = {v.name: v for v in pool.list_volumes()} if pool else {}
                    volumes[rec["pool"]] = vols
                v = vols.get(rec["volume"])
                if v is None or v.uuid != rec["uuid"]:
                    log.error("an NVMe export is not restored: its volume is gone or new",
                              pool=rec["pool"], volume=rec["volume"], host_nqn=host)  # fmt: skip
                    counts["skipped"] += 1
                    continue
                try:
                    device = self.core.block_pools[rec["pool"]].device_path(v.name)
                    self.cfs.make_namespace(subsys, nsid, device,
                                            str(naming.namespace_uuid(v.uuid)))  # fmt: skip
                except TargetdError as exc:
                    log.error("an NVMe export is not restored", pool=rec["pool"],
                              volume=rec["volume"], host_nqn=host, error=exc.message)  # fmt: skip
                    counts["skipped"] += 1
                    continue
                if device != rec["device"]:
                    rec["device"] = device
                counts["namespaces"] += 1
            if live is not None:
                for pid in self.ports:
                    if not os.path.lexists(self.cfs.path("ports", str(pid), "subsystems", subsys)):
                        self.cfs.link_port(pid, subsys)
        self.state.save(doc)
        return counts
