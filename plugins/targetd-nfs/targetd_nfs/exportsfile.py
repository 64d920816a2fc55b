"""targetd's own exports file: reading, formatting, atomic rewriting.

One export per line, in exports(5) syntax, so ``exportfs -ra`` (run at boot by
nfs-server) applies it when the file is in ``/etc/exports.d`` and ends in ``.exports``::

    /mnt/btrfs/targetd_fs/fs1 192.0.2.0/24(rw,no_root_squash)

Paths with unusual characters are written with exports(5)'s ``\\ooo`` octal escapes.
The reader accepts the general syntax (comments, ``\\`` continuations, double quotes,
``-defaults``, several clients on a line) in case an administrator edited the file.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass, field

HEADER = (
    "# Managed by targetd (nfs_export_add / nfs_export_remove). Changes made here by\n"
    "# hand are kept, but are applied only by 'exportfs -ra' or a restart of targetd.\n"
)

_SAFE_PATH_CHARS = re.compile(r"[A-Za-z0-9/._+:@%=~-]")


@dataclass(frozen=True)
class Entry:
    path: str
    host: str
    options: tuple[str, ...] = field(default=())

    def line(self) -> str:
        return f"{escape_path(self.path)} {self.host}({','.join(self.options)})"


def escape_path(path: str) -> str:
    """A path as one exports(5) token: unusual bytes as ``\\ooo``."""
    out = []
    for ch in path:
        if _SAFE_PATH_CHARS.match(ch):
            out.append(ch)
        else:
            out += [f"\\{b:03o}" for b in ch.encode()]
    return "".join(out)


def unescape_path(token: str) -> str:
    raw = bytearray()
    i = 0
    data = token.encode()
    while i < len(data):
        if data[i : i + 1] == b"\\" and re.match(rb"[0-7]{3}", data[i + 1 : i + 4]):
            raw.append(int(data[i + 1 : i + 4], 8) & 0xFF)
            i += 4
        else:
            raw.append(data[i])
            i += 1
    return raw.decode(errors="surrogateescape")


def _tokens(line: str) -> list[str]:
    """Whitespace-separated tokens; double quotes group; '#' outside quotes ends."""
    tokens, cur, quoted, in_token = [], [], False, False
    for ch in line:
        if quoted:
            if ch == '"':
                quoted = False
            else:
                cur.append(ch)
        elif ch == '"':
            quoted, in_token = True, True
        elif ch == "#":
            break
        elif ch.isspace():
            if in_token:
                tokens.append("".join(cur))
                cur, in_token = [], False
        else:
            cur.append(ch)
            in_token = True
    if in_token:
        tokens.append("".join(cur))
    return tokens


def parse(text: str) -> list[Entry]:
    """Every (path, host, options) of an exports(5) file."""
    entries = []
    logical = re.sub(r"\\\n", " ", text)
    for line in logical.splitlines():
        tokens = _tokens(line)
        if not tokens:
            continue
        path = unescape_path(tokens[0])
        defaults: tuple[str, ...] = ()
        clients = tokens[1:]
        if clients and clients[0].startswith("-"):
            defaults = tuple(o for o in clients[0][1:].split(",") if o)
            clients = clients[1:]
        if not clients:
            entries.append(Entry(path, "*", defaults))
        for client in clients:
            m = re.fullmatch(r"([^()]*)(?:\((.*)\))?", client)
            if not m:
                continue
            opts = tuple(o for o in (m[2] or "").split(",") if o)
            entries.append(Entry(path, m[1] or "*", opts or defaults))
    return entries


def render(entries: list[Entry]) -> str:
    return HEADER + "".join(e.line() + "\n" for e in entries)


class ExportsFile:
    """The file at ``path``; read fresh on every call (another worker may write it)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def read_text(self) -> str | None:
        """The file's content, None if it does not exist."""
        try:
            with open(self.path, encoding="utf-8", errors="surrogateescape") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def entries(self) -> list[Entry]:
        return parse(self.read_text() or "")

    def write(self, entries: list[Entry]) -> None:
        self.write_text(render(entries))

    def write_text(self, text: str | None) -> None:
        """Replace the file atomically (None removes it): a temp file in the same
        directory (a name exportfs ignores: not ``*.exports``), fsync, rename, fsync
        of the directory. A reader sees the old file or the new one, never a part."""
        directory = os.path.dirname(self.path) or "."
        if text is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            _fsync_dir(directory)
            return
        os.makedirs(directory, mode=0o755, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".targetd-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write(text)
                f.flush()
                os.fchmod(f.fileno(), 0o644)
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
