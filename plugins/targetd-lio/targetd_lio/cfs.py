"""LIO's configfs tree, read in one pass and changed one object at a time.

Reading goes straight to configfs with ``os.scandir``/``os.readlink`` (one pass over the
TPG's ACLs and LUNs, a handful of system calls per export): rtslib's object model builds
an object and checks paths for every step and rescans every LUN to answer "which LUN is
this", which is what made the reference daemon's calls grow with the number of exports.
Changes are single ``mkdir``/``symlink``/``write``/``rmdir`` calls on known paths, so each
costs the same however many exports exist. rtslib-fb is used to set up the target (module
loading, the configfs mount, target, TPG, portals): see :mod:`targetd_lio.target`.

Layout used (kernel names)::

    core/iblock_<N>/<backstore>/{udev_path,control,enable,wwn/vpd_unit_serial}
                                         (N from the backstore's name: naming.hba_candidates)
    iscsi/<target>/tpgt_1/lun/lun_<L>/<alias> -> core/iblock_<N>/<backstore>
    iscsi/<target>/tpgt_1/acls/<initiator>/{tag,auth/*,attrib/authentication}
    iscsi/<target>/tpgt_1/acls/<initiator>/lun_<M>/<alias> -> .../tpgt_1/lun/lun_<L>
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from targetd_core.plugin import Code, TargetdError, check_component, safe_join

from .naming import HBA_BASE, hba_candidates, is_targetd_hba, tpg_lun_candidates

CONFIGFS_TARGET = Path("/sys/kernel/config/target")
TPG_TAG = 1
#: Name of the symlinks targetd makes in LUN and mapped-LUN directories (rtslib makes random
#: ones): a known name is read with one readlink() instead of a directory listing.
ALIAS = "targetd"
#: The files of an ACL's CHAP settings, by the contract's parameter names.
AUTH_FILES = {
    "in_user": "userid",
    "in_pass": "password",
    "out_user": "userid_mutual",
    "out_pass": "password_mutual",
}


@dataclass(slots=True)
class TpgLun:
    """A LUN of the TPG and the storage object it exports (``hba``/``name``); ``ino``: the
    LUN directory's inode number when it was listed (0: not known)."""

    number: int
    hba: str
    name: str
    ino: int = 0


@dataclass(slots=True)
class Acl:
    """A node ACL: its group tag and its mapped LUNs (mapped LUN -> TPG LUN number)."""

    wwn: str
    tag: str | None
    mapped: dict[int, int] = field(default_factory=dict)


@dataclass
class TpgView:
    """What the TPG holds right now.

    ``luns_complete`` is false when the TPG LUNs were not listed (a change that only
    needs a few of them looks each up by its path: see :meth:`Configfs.read_lun`);
    ``acls_complete`` is false when only some ACLs were read (whether a TPG LUN is still
    mapped is then asked of the kernel: :meth:`Configfs.lun_in_use`).
    """

    luns: dict[int, TpgLun] = field(default_factory=dict)
    acls: dict[str, Acl] = field(default_factory=dict)
    luns_complete: bool = True
    acls_complete: bool = True

    def lun_for(self, name: str) -> TpgLun | None:
        """The TPG LUN of targetd's backstore ``name``."""
        for lun in self.luns.values():
            if lun.name == name and is_targetd_hba(lun.hba, name):
                return lun
        return None

    def lun_at(self, hba: str, name: str) -> TpgLun | None:
        """The TPG LUN of the storage object ``hba``/``name``."""
        for lun in self.luns.values():
            if lun.hba == hba and lun.name == name:
                return lun
        return None

    def users_of(self, tpg_lun: int) -> list[tuple[str, int]]:
        """(initiator, mapped LUN) pairs that map a TPG LUN."""
        return [
            (acl.wwn, m)
            for acl in self.acls.values()
            for m, t in acl.mapped.items()
            if t == tpg_lun
        ]

    def groups(self) -> dict[str, list[str]]:
        """Access group name -> its initiators (ACLs sharing a tag)."""
        out: dict[str, list[str]] = {}
        for acl in self.acls.values():
            if acl.tag:
                out.setdefault(acl.tag, []).append(acl.wwn)
        return out


def lio_error(what: str, exc: OSError) -> TargetdError:
    """A -1 error for a configfs operation the kernel refused, with what to check."""
    hint = ""
    if exc.errno == errno.EBUSY:
        hint = " (the device is in use: mounted, held by another backstore or opened exclusively)"
    elif exc.errno == errno.ENOENT:
        hint = " (is the LIO target loaded and configfs mounted?)"
    return TargetdError(Code.UNEXPECTED, f"LIO refused to {what}: {exc.strerror or exc}{hint}")


def _read(path: str | Path) -> str:
    """A configfs attribute's value (raw system calls: cheaper than a text file object)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 65536).decode(errors="replace").strip()
    finally:
        os.close(fd)


def _write(path: Path, value: str) -> None:
    # configfs wants the whole value in one write() (O_TRUNC as rtslib's open("w") does)
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _number(name: str, prefix: str) -> int | None:
    if not name.startswith(prefix):
        return None
    try:
        return int(name[len(prefix) :])
    except ValueError:
        return None


def _lun_component(number: int) -> str:
    """``lun_<number>`` for a LUN number (an int, never a client's string)."""
    if isinstance(number, bool) or not isinstance(number, int) or number < 0:
        raise TargetdError(Code.INVALID_ARGUMENT, f"invalid LUN number {number!r}")
    return f"lun_{number}"


def _link_in(directory: str) -> str | None:
    """The target of the (only) symlink in a LUN or mapped-LUN directory."""
    try:
        return os.readlink(f"{directory}/{ALIAS}")
    except OSError:
        pass  # made by someone else (rtslib/targetcli): look for it
    try:
        with os.scandir(directory) as it:
            for entry in it:
                if entry.is_symlink():
                    return os.readlink(entry.path)
    except FileNotFoundError:
        return None
    return None


@contextlib.contextmanager
def _listed_dir(path: str) -> Iterator[tuple[int, list[os.DirEntry[str]]] | None]:
    """A descriptor of directory ``path`` (not through a symlink at its last component)
    and its entries, or None when there is no such directory. A pass makes its calls per
    entry relative to the descriptor: a path of a few components instead of eleven, which
    the kernel walks on every call (~10 us less each under TCG, per export)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        yield None
        return
    try:
        with os.scandir(fd) as it:
            entries = list(it)
        yield fd, entries
    finally:
        os.close(fd)


def _lun_number_of(link: str) -> int | None:
    """The TPG LUN number a mapped LUN's link ``.../lun/lun_<N>`` points to, or None."""
    return _number(link.rstrip("/").rpartition("/")[2], "lun_")


def _mapped_target(directory: str) -> int | None:
    """The TPG LUN number a mapped-LUN directory links to, or None (no link, or not one
    to a TPG LUN)."""
    link = _link_in(directory)
    return _lun_number_of(link) if link else None


def _so_of(link: str) -> tuple[str, str]:
    """(HBA, storage object) of a TPG LUN's link ``.../core/<hba>/<name>``: its last two
    components (``os.path.split`` twice, without its generality: export_list does this
    for every LUN)."""
    parts = link.rstrip("/").rsplit("/", 2)
    return (parts[-2] if len(parts) > 1 else ""), parts[-1]


class Configfs:
    """One iSCSI target's TPG 1 in configfs, plus targetd's backstores."""

    def __init__(self, target_name: str, root: Path = CONFIGFS_TARGET) -> None:
        self.root = root
        self.target_name = target_name
        self.tpg = Path(safe_join(root, "iscsi", target_name, f"tpgt_{TPG_TAG}", what="name"))
        self.core = root / "core"
        self._core = str(self.core)
        #: each ACL's mapped LUNs as the last full pass read them (a hint, see _mapped_as_hinted)
        self._mapped_hint: dict[str, dict[int, int]] = {}
        #: subdirectories an ACL has besides its mapped LUNs (None: not yet seen, or the
        #: link counts do not add up here, so no hint is ever taken)
        self._acl_subdirs: int | None = None
        self._acl_subdirs_known = False

    # -- paths: every path made from a name is built here, through safe_join -------------
    # (each name must be one plain directory entry: no '/', not '.' or '..', no NUL or
    # newline), so a name can never reach outside the target's configfs tree even if a
    # validation rule elsewhere is widened.
    def hba_dir(self, hba: str) -> Path:
        return Path(safe_join(self.core, hba, what="HBA name"))

    def so_dir(self, hba: str, name: str) -> Path:
        """A storage object's directory ``core/<hba>/<name>``."""
        return Path(self.so_path(hba, name))

    def so_path(self, hba: str, name: str) -> str:
        """:meth:`so_dir` as a string: the same check as ``safe_join``, without its
        ``os.path.join`` (export_list builds this for every LUN)."""
        check_component(hba, "HBA name")
        check_component(name, "backstore name")
        return f"{self._core}/{hba}/{name}"

    def lun_dir(self, number: int) -> Path:
        return Path(safe_join(self.tpg, "lun", _lun_component(number), what="LUN"))

    def acl_dir(self, wwn: str) -> Path:
        """An initiator's ACL directory ``acls/<wwn>``."""
        return Path(safe_join(self.tpg, "acls", wwn, what="initiator name"))

    def mapped_dir(self, wwn: str, mapped: int) -> Path:
        return self.acl_dir(wwn) / _lun_component(mapped)

    # -- reading --------------------------------------------------------------------------
    def tpg_exists(self) -> bool:
        return self.tpg.is_dir()

    def read(self, acls: bool = True, tags: bool = True, luns: bool = True) -> TpgView:
        """The TPG's LUNs (unless ``luns`` is false) and (unless ``acls`` is false) its
        ACLs with their mapped LUNs and (unless ``tags`` is false) their tags, in one pass.
        Empty if there is no TPG."""
        view = TpgView()
        if luns:
            self.read_luns(view)
        else:
            view.luns_complete = False
        if not acls:
            return view
        acls_dir = f"{self.tpg}/acls"
        with _listed_dir(acls_dir) as listed:
            if listed is None:
                return view
            dir_fd, acl_entries = listed
            hint = self._mapped_hint
            new_hint: dict[str, dict[int, int]] = {}
            acls = view.acls
            for entry in acl_entries:
                if not entry.is_dir(follow_symlinks=False):
                    continue
                wwn = entry.name
                try:
                    tag = (_read(f"{acls_dir}/{wwn}/tag") or None) if tags else None
                    mapped = self._mapped_as_hinted(dir_fd, wwn, hint.get(wwn))
                    if mapped is None:
                        mapped = self._mapped_listed(f"{acls_dir}/{wwn}")
                except FileNotFoundError:
                    continue  # removed meanwhile
                acls[wwn] = Acl(wwn, tag, mapped)
                new_hint[wwn] = mapped
        self._mapped_hint = new_hint
        return view

    def _mapped_listed(self, path: str) -> dict[int, int]:
        """An ACL's mapped LUNs from a listing of its directory (a ``stat`` too, the first
        time: see :meth:`_mapped_as_hinted`)."""
        mapped: dict[int, int] = {}
        dirs = luns = 0  # subdirectories; of them, mapped LUNs'
        with os.scandir(path) as it:
            for entry in it:
                is_dir = entry.is_dir(follow_symlinks=False)
                dirs += is_dir
                m = _number(entry.name, "lun_")
                if m is None:
                    continue  # the ACL's attributes and groups
                luns += is_dir
                t = _mapped_target(f"{path}/{entry.name}")
                if t is not None:
                    mapped[m] = t
        if not self._acl_subdirs_known:
            # a directory's link count is 2 + its subdirectories on configfs (and tmpfs,
            # ext4); where it is not, hints are never taken
            nlink = os.stat(path, follow_symlinks=False).st_nlink
            self._acl_subdirs = dirs - luns if nlink == 2 + dirs else None
            self._acl_subdirs_known = True
        return mapped

    def _mapped_as_hinted(
        self, acls_fd: int, wwn: str, hinted: dict[int, int] | None
    ) -> dict[int, int] | None:
        """An ACL's mapped LUNs, checked against the last pass's: one ``stat`` and one
        ``readlink`` per mapped LUN instead of a listing (4 system calls, and reading
        the ACL's attributes' names), or None when the hint does not hold.

        Exact, not a cache: the directory's link count says how many mapped-LUN
        directories there are (it is 2 + its subdirectories, and an ACL's other
        subdirectories are fixed by the kernel); when it is the hint's count and every
        hinted one is there (its link read now, so its TPG LUN is the kernel's), those
        are all of them.
        """
        base = self._acl_subdirs
        if hinted is None or base is None:
            return None
        # wwn: a name listed from the acls directory (acls_fd), one component
        if os.stat(wwn, dir_fd=acls_fd, follow_symlinks=False).st_nlink != 2 + base + len(hinted):
            return None
        mapped: dict[int, int] = {}
        for m in hinted:
            try:  # targetd's own link name first (what _link_in does, inlined: per export)
                t = _lun_number_of(os.readlink(f"{wwn}/lun_{m}/{ALIAS}", dir_fd=acls_fd))
            except OSError:
                t = _mapped_target(f"{self.tpg}/acls/{wwn}/lun_{m}")
            if t is None:
                return None
            mapped[m] = t
        return mapped

    def read_luns(self, view: TpgView) -> None:
        """Fill ``view`` with every TPG LUN (one listing, one readlink each)."""
        view.luns_complete = True
        lun_dir = f"{self.tpg}/lun"
        with _listed_dir(lun_dir) as listed:
            if listed is None:
                return
            dir_fd, lun_entries = listed
            luns = view.luns
            for entry in lun_entries:
                n = _number(entry.name, "lun_")
                if n is None:
                    continue
                try:
                    link = os.readlink(f"{entry.name}/{ALIAS}", dir_fd=dir_fd)
                except OSError:
                    link = _link_in(f"{lun_dir}/{entry.name}")  # made by someone else
                    if link is None:
                        continue
                luns[n] = TpgLun(n, *_so_of(link), entry.inode())

    def read_lun(self, number: int) -> TpgLun | None:
        """One TPG LUN and the storage object it exports, or None."""
        link = _link_in(str(self.lun_dir(number)))
        if link is None:
            return None
        return TpgLun(number, *_so_of(link))

    def lun_in_use(self, number: int) -> bool:
        """True if an ACL maps TPG LUN ``number``, asked of the kernel in one call.

        configfs refuses to remove a directory that a symlink points to (EBUSY: a mapped
        LUN's link) before it looks at what the directory holds (ENOTEMPTY: the LUN's own
        link to its backstore), so a refused ``rmdir`` answers without reading every ACL.
        Nothing changes, except that a LUN directory with no link at all is removed (no
        ACL maps it). Any other refusal counts as in use: the LUN is kept, never removed
        from under an initiator.
        """
        try:
            os.rmdir(self.lun_dir(number))
        except OSError as exc:
            return exc.errno != errno.ENOTEMPTY and exc.errno != errno.ENOENT
        return False

    def find_lun(self, hba: str, name: str) -> TpgLun | None:
        """The TPG LUN of targetd's backstore ``hba``/``name`` at one of the numbers
        targetd gives it (:func:`naming.tpg_lun_candidates`), or None (not there: it has
        none, or an older targetd put it at the lowest free number)."""
        for number in tpg_lun_candidates(name):
            lun = self.read_lun(number)
            if lun is not None and (lun.hba, lun.name) == (hba, name):
                return lun
        return None

    def find_backstore(self, name: str) -> str | None:
        """The HBA directory holding targetd's backstore ``name``, or None."""
        for hba in hba_candidates(name):
            if self.so_dir(hba, name).is_dir():
                return hba
        return None

    def backstore_serial(self, hba: str, name: str) -> str | None:
        """The T10 unit serial (``wwn/vpd_unit_serial``) of a storage object."""
        try:
            text = _read(self.so_path(hba, name) + "/wwn/vpd_unit_serial")
        except OSError:
            return None
        return text.partition(":")[2].strip() or None

    def backstore_device(self, hba: str, name: str) -> str | None:
        try:
            return _read(self.so_path(hba, name) + "/udev_path") or None
        except OSError:
            return None

    def acl_exists(self, wwn: str) -> bool:
        return self.acl_dir(wwn).is_dir()

    def acl_tag(self, wwn: str) -> str | None:
        try:
            return _read(self.acl_dir(wwn) / "tag") or None
        except FileNotFoundError:
            return None

    def read_acl(self, wwn: str) -> Acl | None:
        """One ACL (tag and mapped LUNs), or None."""
        if not self.acl_exists(wwn):
            return None
        return Acl(wwn, self.acl_tag(wwn), self.acl_mapped(wwn))

    def acl_mapped(self, wwn: str) -> dict[int, int]:
        """One ACL's mapped LUNs (mapped LUN -> TPG LUN)."""
        try:
            return self._mapped_listed(str(self.acl_dir(wwn)))
        except FileNotFoundError:
            return {}

    def acl_has_session(self, wwn: str) -> bool:
        """True if the initiator is logged in now (the ACL's ``info`` says so)."""
        try:
            return not _read(self.acl_dir(wwn) / "info").startswith("No active")
        except OSError:
            return False

    def acl_auth(self, wwn: str) -> dict[str, str]:
        """An ACL's CHAP values as LIO holds them ("" for unset)."""
        out = {}
        for key, attr in AUTH_FILES.items():
            try:
                value = _read(self.acl_dir(wwn) / "auth" / attr)
            except OSError:
                value = ""
            out[key] = "" if value.startswith("NULL") else value
        return out

    def legacy_backstores(self) -> list[tuple[str, str]]:
        """(HBA, name) of every iblock storage object outside targetd's HBA range (made by
        rtslib/targetcli, e.g. by the old daemon): one listing of ``core`` plus one of each
        such HBA."""
        out = []
        try:
            hbas = [e.name for e in os.scandir(self.core) if e.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return out
        for hba in hbas:
            n = _number(hba, "iblock_")
            if n is None or n >= HBA_BASE:
                continue
            try:
                with os.scandir(self.hba_dir(hba)) as it:
                    out.extend((hba, e.name) for e in it if e.is_dir(follow_symlinks=False))
            except FileNotFoundError:
                continue
        return out

    def acl_supports_own_auth(self, wwn: str) -> bool:
        """True if the kernel has per-ACL ``attrib/authentication`` (Linux 6.0+)."""
        return (self.acl_dir(wwn) / "attrib" / "authentication").exists()

    # -- changing -------------------------------------------------------------------------
    def create_backstore(
        self, name: str, device: str, serial: str, at_hba: str | None = None
    ) -> str:
        """An enabled iblock storage object on ``device`` with unit serial ``serial``, in
        a new HBA directory (``at_hba``, or the first free of the name's candidates); returns
        the HBA directory's name."""
        try:
            st = os.stat(device)
        except OSError as exc:
            raise TargetdError(
                Code.UNEXPECTED, f"volume device {device} is not there: {exc.strerror}"
            ) from None
        if not stat.S_ISBLK(st.st_mode):
            raise TargetdError(Code.UNEXPECTED, f"volume device {device} is not a block device")
        for hba in (at_hba,) if at_hba else hba_candidates(name):
            try:
                self.hba_dir(hba).mkdir()
                break
            except FileExistsError:
                continue
            except OSError as exc:
                raise lio_error(f"create a backstore HBA for {name}", exc) from None
        else:
            raise TargetdError(Code.UNEXPECTED, f"no free HBA index for backstore {name}")
        path = self.so_dir(hba, name)
        try:
            path.mkdir()
        except OSError as exc:
            self.delete_backstore(hba, name, quiet=True)
            raise lio_error(f"create backstore {name}", exc) from None
        try:
            _write(path / "udev_path", device)
            _write(path / "control", f"udev_path={device}")
            _write(path / "control", "readonly=0")
            _write(path / "enable", "1")
            _write(path / "wwn" / "vpd_unit_serial", serial)
        except OSError as exc:
            self.delete_backstore(hba, name, quiet=True)
            raise lio_error(f"set up backstore {name} on {device}", exc) from None
        return hba

    def delete_backstore(self, hba: str, name: str, quiet: bool = False) -> None:
        """Remove a storage object and its HBA directory."""
        self._remove_dir(self.so_dir(hba, name), f"backstore {name}", quiet)
        self._remove_dir(self.hba_dir(hba), f"HBA {hba}", quiet)

    def create_lun_for(self, hba: str, name: str) -> int | None:
        """A TPG LUN for backstore ``hba``/``name`` at the first free number of its
        candidates (:func:`naming.tpg_lun_candidates`); None if all are taken."""
        for number in tpg_lun_candidates(name):
            try:
                self.create_lun(number, hba, name, exist_ok=False)
            except FileExistsError:
                continue
            return number
        return None

    def create_lun(self, number: int, hba: str, name: str, exist_ok: bool = True) -> None:
        """TPG LUN ``number`` exporting ``hba``/``name``. With ``exist_ok`` false, an
        existing LUN of that number raises FileExistsError (the caller tries another)."""
        path = self.lun_dir(number)
        try:
            path.mkdir()
        except OSError as exc:
            if isinstance(exc, FileExistsError) and not exist_ok:
                raise
            raise lio_error(f"create TPG LUN {number}", exc) from None
        try:
            os.symlink(self.so_dir(hba, name), path / ALIAS)
        except OSError as exc:
            self.delete_lun(number, quiet=True)
            raise lio_error(f"attach backstore {name} to TPG LUN {number}", exc) from None

    def delete_lun(self, number: int, quiet: bool = False) -> None:
        self._delete_linked_dir(self.lun_dir(number), f"TPG LUN {number}", quiet)

    def create_acl(self, wwn: str) -> None:
        try:
            self.acl_dir(wwn).mkdir()
        except OSError as exc:
            raise lio_error(f"create the ACL of {wwn}", exc) from None

    def delete_acl(self, wwn: str, quiet: bool = False) -> None:
        for m in self.acl_mapped(wwn):
            self.delete_mapped_lun(wwn, m, quiet=quiet)
        self._remove_dir(self.acl_dir(wwn), f"the ACL of {wwn}", quiet)

    def set_tag(self, wwn: str, tag: str | None) -> None:
        try:
            _write(self.acl_dir(wwn) / "tag", tag or "NULL")
        except OSError as exc:
            raise lio_error(f"tag the ACL of {wwn}", exc) from None

    def create_mapped_lun(self, wwn: str, mapped: int, tpg_lun: int) -> None:
        path = self.mapped_dir(wwn, mapped)
        try:
            path.mkdir()
        except OSError as exc:
            raise lio_error(f"create LUN {mapped} for {wwn}", exc) from None
        try:
            os.symlink(self.lun_dir(tpg_lun), path / ALIAS)
        except OSError as exc:
            self.delete_mapped_lun(wwn, mapped, quiet=True)
            raise lio_error(f"map TPG LUN {tpg_lun} to LUN {mapped} of {wwn}", exc) from None

    def delete_mapped_lun(self, wwn: str, mapped: int, quiet: bool = False) -> None:
        self._delete_linked_dir(self.mapped_dir(wwn, mapped), f"LUN {mapped} of {wwn}", quiet)

    def put_acl_auth(self, wwn: str, auth: Mapping[str, str]) -> None:
        """:meth:`set_acl_auth` from a mapping of its four values, as :meth:`acl_auth`
        and the state file hold them (a value that is missing is unset)."""
        self.set_acl_auth(
            wwn,
            auth.get("in_user", ""),
            auth.get("in_pass", ""),
            auth.get("out_user", ""),
            auth.get("out_pass", ""),
        )

    def set_acl_auth(
        self, wwn: str, in_user: str, in_pass: str, out_user: str, out_pass: str
    ) -> None:
        """CHAP credentials of an ACL; empty strings unset a value. Requires CHAP at login
        exactly when in-credentials are set (per-ACL ``attrib/authentication``)."""
        acl = self.acl_dir(wwn)
        values = {
            AUTH_FILES["in_user"]: in_user,
            AUTH_FILES["in_pass"]: in_pass,
            AUTH_FILES["out_user"]: out_user,
            AUTH_FILES["out_pass"]: out_pass,
        }
        try:
            for key, value in values.items():
                _write(acl / "auth" / key, value or "NULL")
            required = bool(in_user and in_pass)
            auth_attr = acl / "attrib" / "authentication"
            if auth_attr.exists():
                _write(auth_attr, "1" if required else "0")
        except OSError as exc:
            raise lio_error(f"set the CHAP credentials of {wwn}", exc) from None

    def _delete_linked_dir(self, path: Path, what: str, quiet: bool) -> None:
        """Remove a configfs directory after the symlinks in it."""
        try:
            with os.scandir(path) as it:
                for entry in it:
                    if entry.is_symlink():
                        os.unlink(entry.path)
        except FileNotFoundError:
            return
        except OSError as exc:
            if not quiet:
                raise lio_error(f"remove {what}", exc) from None
            return
        self._remove_dir(path, what, quiet)

    @staticmethod
    def _remove_dir(path: Path, what: str, quiet: bool) -> None:
        """rmdir a configfs directory; gone already is fine; other failures raise
        unless ``quiet`` (clean-up after another failure)."""
        try:
            path.rmdir()
        except FileNotFoundError:
            pass
        except OSError as exc:
            if not quiet:
                raise lio_error(f"remove {what}", exc) from None
