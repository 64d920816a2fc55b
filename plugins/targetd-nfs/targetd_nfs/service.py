"""Adding, removing and listing NFS exports: checks, persistence, exportfs, rollback."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import structlog

from targetd_core.plugin import Code, TargetdError

from . import exportfs
from .exportsfile import Entry, ExportsFile
from .hosts import check_host
from .options import check_options

log = structlog.get_logger("targetd.nfs")

_ID_MAX = 2**32 - 2


def _bad(message: str) -> TargetdError:
    return TargetdError(Code.INVALID_ARGUMENT, message)


def normalise_path(path: object) -> str:
    """An absolute path without control characters, resolved (symlinks, ``..``)."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise _bad(f"path must be an absolute path, got {path!r}")
    if any(ord(c) < 32 or ord(c) == 127 for c in path) or len(path) > 4096:
        raise _bad(f"path {path!r} contains control characters or is too long")
    return os.path.realpath(path)


def parse_chown(chown: object) -> tuple[int, int] | None:
    """``"uid"``, ``"uid:gid"`` (or an integer uid) -> (uid, gid or -1); None/"" -> None."""
    if chown is None or chown == "":
        return None
    if isinstance(chown, int) and not isinstance(chown, bool):
        text = str(chown)
    elif isinstance(chown, str):
        text = chown
    else:
        raise _bad(f"chown must be 'uid' or 'uid:gid', got {chown!r}")
    uid, sep, gid = text.partition(":")
    if not uid.isdigit() or (sep and not gid.isdigit()):
        raise _bad(f"chown must be numeric 'uid' or 'uid:gid', got {chown!r}")
    ids = (int(uid), int(gid) if sep else -1)
    if any(i > _ID_MAX for i in ids):
        raise _bad(f"chown ids must be at most {_ID_MAX}")
    return ids


class NfsExports:
    """The NFS export operations, given the configuration they need.

    ``roots`` returns the directories exports may be made under (resolved): the fs
    pools' mount points and ``nfs_export_allowed_paths``; it is called per request
    because fs pools are registered after this object is built.
    """

    def __init__(
        self, exports_file: str, allow_chown: bool, roots: Callable[[], Iterable[str]]
    ) -> None:
        self.file = ExportsFile(exports_file)
        self.allow_chown = allow_chown
        self._roots = roots

    def roots(self) -> list[str]:
        return sorted({os.path.realpath(r) for r in self._roots()})

    def check_export_path(self, path: object) -> str:
        real = normalise_path(path)
        roots = self.roots()
        if not any(os.path.commonpath([real, root]) == root for root in roots):
            where = (
                ", ".join(roots) or "(none configured: set fs_pools or nfs_export_allowed_paths)"
            )
            raise _bad(f"{path!r} is not inside an fs pool or an allowed export path: {where}")
        if not os.path.isdir(real):
            raise _bad(f"{path!r} does not exist or is not a directory")
        return real

    # -- listing --------------------------------------------------------------------

    def list(self) -> list[dict[str, Any]]:
        return [e.to_json() for e in exportfs.live()]

    # -- add ------------------------------------------------------------------------

    def add(
        self, host: object, path: object, options: Any, chown: object, export_path: object
    ) -> dict[str, str]:
        if export_path is not None:
            raise TargetdError(
                Code.NFS_NOT_SUPPORTED, "export_path is not supported (send null or leave it out)"
            )
        host = check_host(host)
        real = self.check_export_path(path)
        opts = tuple(check_options(options))
        if "subtree_check" not in opts and "no_subtree_check" not in opts:
            # exportfs's default, said explicitly: otherwise every exportfs run warns
            # about the line in the exports file
            opts += ("no_subtree_check",)
        owner = parse_chown(chown)
        if owner is not None and not self.allow_chown:
            raise TargetdError(
                Code.NOT_SUPPORTED,
                "chown is not allowed on this server (set 'allow_chown: true' in the config)",
            )

        old_text = self.file.read_text()
        entries = self.file.entries()
        previous = next((e for e in entries if (e.host, e.path) == (host, real)), None)
        if previous is None and any((x.host, x.path) == (host, real) for x in exportfs.live()):
            raise TargetdError(
                Code.NOT_SUPPORTED,
                f"{real} is already exported to {host} outside targetd (/etc/exports, "
                "/etc/exports.d or by hand); targetd does not change that export",
            )
        new = Entry(real, host, opts)
        if previous is None:
            entries.append(new)
        else:
            entries = [new if e is previous else e for e in entries]

        undo: list[Callable[[], None]] = []
        try:
            if owner is not None:
                st = os.stat(real)
                os.chown(real, *owner)
                undo.append(lambda: os.chown(real, st.st_uid, st.st_gid))
            self.file.write(entries)
            undo.append(lambda: self.file.write_text(old_text))
            try:
                exportfs.export(host, real, opts)
            except TargetdError:
                if previous is None:
                    undo.append(lambda: exportfs.unexport(host, real))
                else:
                    undo.append(lambda: exportfs.export(host, real, previous.options))
                raise
        except BaseException:
            _rollback(undo)
            raise
        log.info("nfs export added", host=host, path=real, options=list(opts))
        return {"host": host, "path": real}

    # -- remove ---------------------------------------------------------------------

    def remove(self, host: object, path: object) -> None:
        host = check_host(host)
        real = normalise_path(path)
        old_text = self.file.read_text()
        entries = self.file.entries()
        keep = [e for e in entries if not _same(e, host, real)]
        if len(keep) == len(entries):
            if any(_same(x, host, real) for x in exportfs.live()):
                raise TargetdError(
                    Code.NOT_SUPPORTED,
                    f"the export of {real} to {host} was not made by targetd (it is in "
                    "/etc/exports, /etc/exports.d or was added by hand); remove it there",
                )
            raise TargetdError(Code.NFS_EXPORT_NOT_FOUND, f"no NFS export of {real} to {host}")
        removed = [e for e in entries if _same(e, host, real)]
        self.file.write(keep)
        try:
            for e in removed:
                exportfs.unexport(e.host, e.path)
        except BaseException:
            _rollback([lambda: self.file.write_text(old_text)])
            raise
        log.info("nfs export removed", host=host, path=real)

    # -- start-up -------------------------------------------------------------------

    def reapply(self) -> None:
        """Export every entry of our file that is not in the live table (after a reboot
        when the file is outside /etc/exports.d, or after an ``exportfs -ua``)."""
        entries = self.file.entries()
        if not entries:
            return
        in_force = {(x.host, x.path) for x in exportfs.live()}
        for e in entries:
            if (e.host, e.path) in in_force:
                continue
            try:
                exportfs.export(e.host, e.path, e.options)
            except TargetdError as exc:
                log.warning(
                    "cannot re-apply nfs export", host=e.host, path=e.path, error=exc.message
                )


def _same(e: Any, host: str, path: str) -> bool:
    return e.path == path and e.host.lower() == host.lower()


def _rollback(undo: list[Callable[[], None]]) -> None:
    for step in reversed(undo):
        try:
            step()
        except Exception as exc:  # keep undoing; the first error is what the client sees
            log.error("nfs rollback step failed", error=repr(exc))
