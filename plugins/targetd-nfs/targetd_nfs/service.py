"""Adding, removing and listing NFS exports: checks, persistence, exportfs, rollback."""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

import structlog

from targetd_core.plugin import Code, TargetdError

from . import exportfs
from .errors import NFS_EXPORT_NOT_FOUND, NFS_NOT_SUPPORTED
from .exportsfile import Entry, ExportsFile
from .hosts import canonical, check_host, is_single_client, lookup, same_client
from .options import check_options

log = structlog.get_logger("targetd.nfs")

_ID_MAX = 2**32 - 2
_ID_RE = re.compile(r"[0-9]{1,10}")


def _bad(message: str) -> TargetdError:
    return TargetdError(Code.INVALID_ARGUMENT, message)


def lexical_path(path: object) -> str:
    """An absolute path without control characters, ``.``/``..`` and repeated or
    trailing slashes removed as text: no symlink is followed."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise _bad(f"path must be an absolute path, got {path!r}")
    if any(ord(c) < 32 or ord(c) == 127 for c in path) or len(path) > 4096:
        raise _bad(f"path {path!r} contains control characters or is too long")
    try:
        path.encode()
    except UnicodeError:
        raise _bad(f"path {path!r} is not valid UTF-8") from None
    return os.path.normpath(path).replace("//", "/")


def normalise_path(path: object) -> str:
    """:func:`lexical_path`, then resolved (symlinks, ``..``)."""
    return os.path.realpath(lexical_path(path))


def path_moved(path: str) -> str | None:
    """If ``path`` (recorded resolved) now leads somewhere else because a component was
    replaced by a symlink, where it leads; else None (also when it is just gone)."""
    real = os.path.realpath(path)
    return real if real != path else None


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
    # ASCII digits only: str.isdigit() also takes other scripts' digits ("٣" is 3).
    if not _ID_RE.fullmatch(uid) or (sep and not _ID_RE.fullmatch(gid)):
        raise _bad(f"chown must be numeric 'uid' or 'uid:gid', got {chown!r:.60}")
    ids = (int(uid), int(gid) if sep else -1)
    if any(i > _ID_MAX for i in ids):
        raise _bad(f"chown ids must be at most {_ID_MAX}")
    return ids


class NfsExports:
    """The NFS export operations, given the configuration they need.

    ``roots`` returns the directories exports may be made under (resolved): the fs
    pools' mount points and ``nfs_export_allowed_paths``; it is called per request
    because fs pools are registered after this object is built. ``released`` steps out
    of the storage lock (name resolution happens there); ``resolve_timeout`` bounds it.
    """

    def __init__(
        self,
        exports_file: str,
        allow_chown: bool,
        roots: Callable[[], Iterable[str]],
        released: Callable[[], contextlib.AbstractContextManager[None]] | None = None,
        resolve_timeout: float = 30.0,
    ) -> None:
        self.file = ExportsFile(exports_file)
        self.allow_chown = allow_chown
        self._roots = roots
        self._released = released or contextlib.nullcontext
        self.resolve_timeout = resolve_timeout

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

    # -- name resolution, outside the storage lock ----------------------------------

    def _addresses(self, host: str, path: str) -> dict[str, frozenset[str]]:
        """The addresses of ``host`` and of every single-client host that has an export
        of ``path`` (ours or not), looked up with the storage lock released: a slow
        resolver must not hold up every other change. Hosts that appear only once the
        lock is taken again are compared by their text."""
        with self._released():
            hosts = {host}
            hosts.update(
                c for e in self.file.entries() if e.path == path if (c := canonical(e.host))
            )
            hosts.update(x.host for x in exportfs.live() if x.path == path)
            deadline = time.monotonic() + self.resolve_timeout
            out = {}
            for h in sorted(hosts):
                if is_single_client(h):
                    out[h] = lookup(h, max(0.1, deadline - time.monotonic()))
            return out

    # -- add ------------------------------------------------------------------------

    def add(
        self, host: object, path: object, options: Any, chown: object, export_path: object
    ) -> dict[str, str]:
        if export_path is not None:
            raise TargetdError(
                NFS_NOT_SUPPORTED, "export_path is not supported (send null or leave it out)"
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
        addresses = self._addresses(host, real)
        self.withdraw_moved()
        real = self.check_export_path(real)  # again, now that we hold the lock

        old_text = self.file.read_text()
        entries = self.file.entries()
        # exportfs keeps one export per client and path: an entry of ours for the same
        # client under another name (127.0.0.1 for LOCALHOST) is replaced, as exportfs
        # replaces it in the kernel's table
        same = [
            e
            for e in entries
            if e.path == real and same_client(canonical(e.host) or e.host, host, addresses)
        ]
        for x in exportfs.live():
            if x.path != real or not same_client(x.host, host, addresses):
                continue
            if not any(same_client(x.host, canonical(e.host) or e.host, addresses) for e in same):
                raise TargetdError(
                    Code.NOT_SUPPORTED,
                    f"{real} is already exported to {x.host} outside targetd (/etc/exports, "
                    "/etc/exports.d or by hand); targetd does not change that export",
                )
        new = Entry(real, host, opts)
        if same:
            at = entries.index(same[0])
            entries = [e for e in entries if e not in same]
            entries.insert(at, new)
        else:
            entries.append(new)

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
                moved = path_moved(real)
                if moved:  # replaced by a link while we were exporting it
                    raise _bad(f"{real} was replaced by a link to {moved} during the call")
            except TargetdError:
                if not same:
                    undo.append(lambda: exportfs.unexport(host, real))
                else:
                    undo += [_reexport(e) for e in same]
                raise
        except BaseException:
            _rollback(undo)
            raise
        log.info("nfs export added", host=host, path=real, options=list(opts))
        return {"host": host, "path": real}

    # -- remove ---------------------------------------------------------------------

    def remove(self, host: object, path: object) -> None:
        """Remove an export of ours. The path is matched as recorded (resolved when it
        was added) without following links, so an export can be removed whatever became
        of its directory; a path given through a link is tried resolved after that."""
        host = check_host(host)
        given = lexical_path(path)
        withdrawn = self.withdraw_moved()
        if any(e.path == given and canonical(e.host) == host for e in withdrawn):
            log.info("nfs export removed", host=host, path=given)
            return
        old_text = self.file.read_text()
        entries = self.file.entries()
        removed = [e for e in entries if e.path == given and canonical(e.host) == host]
        if not removed:
            real = os.path.realpath(given)
            removed = [e for e in entries if e.path == real and canonical(e.host) == host]
        if not removed:
            if any(canonical(x.host) == host and x.path == given for x in exportfs.live()):
                raise TargetdError(
                    Code.NOT_SUPPORTED,
                    f"the export of {given} to {host} was not made by targetd (it is in "
                    "/etc/exports, /etc/exports.d or was added by hand); remove it there",
                )
            raise TargetdError(NFS_EXPORT_NOT_FOUND, f"no NFS export of {given} to {host}")
        keep = [e for e in entries if e not in removed]
        self.file.write(keep)
        try:
            for e in removed:
                exportfs.unexport(e.host, e.path)
        except BaseException:
            # a killed exportfs may have done part of its work: put it all back
            _rollback([lambda: self.file.write_text(old_text), *map(_reexport, removed)])
            raise
        # exportfs -u removes the client by address: if another entry of ours named the
        # same client (a file from an older targetd), put it back
        self._reexport_missing([e for e in keep if e.path in {r.path for r in removed}])
        log.info("nfs export removed", host=host, path=removed[0].path)

    def remove_under(self, paths: Iterable[str]) -> Callable[[], None]:
        """Remove every export of ours of one of ``paths`` or a directory below one
        (a file system about to be destroyed). Returns what puts them back."""
        tops = [os.path.normpath(p) for p in paths]
        old_text = self.file.read_text()
        entries = self.file.entries()

        def under(e: Entry) -> bool:
            return any(e.path == t or e.path.startswith(t.rstrip("/") + "/") for t in tops)

        gone = [e for e in entries if under(e)]
        if not gone:
            return lambda: None
        self.file.write([e for e in entries if not under(e)])
        done: list[Entry] = []

        def restore() -> None:
            self.file.write_text(old_text)
            for e in done:
                exportfs.export(e.host, e.path, e.options)

        try:
            for e in gone:
                exportfs.unexport(e.host, e.path)
                done.append(e)
        except BaseException:
            _rollback([restore])
            raise
        for e in gone:
            log.info("nfs export removed with its file system", host=e.host, path=e.path)
        return restore

    # -- links ----------------------------------------------------------------------

    def withdraw_moved(self) -> list[Entry]:
        """Withdraw every export of ours whose directory is no longer the one exported
        (a component was replaced by a symlink, e.g. to /etc, by a client that can write
        to a parent directory). exportfs resolves the recorded paths of its table
        afresh on every run, so such an export would follow the link: it is removed
        from our file and from the live table, under its recorded path and where the
        link leads, and logged. Never re-applied."""
        entries = self.file.entries()
        moved = [(e, m) for e in entries if (m := path_moved(e.path))]
        if not moved:
            return []
        bad = [e for e, _ in moved]
        self.file.write([e for e in entries if e not in bad])
        ours = {(canonical(e.host), e.path) for e in entries if e not in bad}
        live = exportfs.live()
        for e, target in moved:
            exportfs.unexport(e.host, e.path)
            host = canonical(e.host)
            if (host, target) not in ours and any(
                canonical(x.host) == host and x.path == target for x in live
            ):
                exportfs.unexport(e.host, target)
            log.error(
                "nfs export withdrawn: its path is now a link to another directory",
                host=e.host,
                path=e.path,
                leads_to=target,
                options=list(e.options),
            )
        return bad

    def _reexport_missing(self, entries: list[Entry]) -> None:
        if not entries:
            return
        live = exportfs.live()
        for e in entries:
            if not any(x.path == e.path and x.host == canonical(e.host) for x in live):
                exportfs.export(e.host, e.path, e.options)

    # -- start-up -------------------------------------------------------------------

    def reapply(self) -> None:
        """Export every entry of our file that is not in the live table (after a reboot
        when the file is outside /etc/exports.d, or after an ``exportfs -ua``), after
        withdrawing those whose path now leads elsewhere."""
        self.withdraw_moved()
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


def _reexport(e: Entry) -> Callable[[], None]:
    return lambda: exportfs.export(e.host, e.path, e.options)


def _rollback(undo: list[Callable[[], None]]) -> None:
    for step in reversed(undo):
        try:
            step()
        except Exception as exc:  # keep undoing; the first error is what the client sees
            log.error("nfs rollback step failed", error=repr(exc))
