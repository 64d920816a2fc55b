"""Talking to ``zfs``: one call per listing, parsable (``-Hp``) output, exact numbers.

Every function here builds an argument list for :func:`targetd_core.plugin.run` (never
a shell string) and parses the tab-separated output of ``-H -p``.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from targetd_core.names import NAME_RE
from targetd_core.plugin import run, tool_error

ZFS = "zfs"

#: Prefix of the hidden datasets a copy receives into before it is renamed into place,
#: and of the temporary snapshots a copy is sent from. A '.' is valid in ZFS names but
#: not in targetd names, so listings never show them and no client can name them.
TMP_DATASET_PREFIX = "targetd.tmp-"
TMP_SNAPSHOT_PREFIX = "targetd.copy-"

_EMPTY = ("", "-", "none")


def parse_rows(text: str, fields: Sequence[str]) -> list[dict[str, str]]:
    """Rows of ``zfs list/get -H`` output (tab-separated) as dicts keyed by ``fields``."""
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) != len(fields):
            raise ValueError(f"zfs printed {len(cols)} columns, expected {len(fields)}: {line!r}")
        rows.append(dict(zip(fields, cols, strict=True)))
    return rows


def to_int(value: str) -> int:
    """A ``-p`` number; ``-``/``none``/empty (an unset quota) is 0."""
    return 0 if value.strip() in _EMPTY else int(value)


def split_list(value: str) -> list[str]:
    """A comma-separated property such as ``clones``; ``-`` or empty is none."""
    return [v for v in value.split(",") if v.strip() and v.strip() != "-"]


def child_component(parent: str, full: str) -> str | None:
    """The last component of ``full`` if it is a direct child of ``parent`` whose name
    follows targetd's name rule (hidden temporaries and other datasets are skipped)."""
    prefix = parent + "/"
    if not full.startswith(prefix):
        return None
    rest = full[len(prefix) :]
    if "/" in rest or "@" in rest or not NAME_RE.fullmatch(rest):
        return None
    return rest


def snapshot_component(dataset: str, full: str) -> str | None:
    """The snapshot name of ``dataset@name`` if it follows the name rule."""
    prefix = dataset + "@"
    if not full.startswith(prefix):
        return None
    rest = full[len(prefix) :]
    return rest if NAME_RE.fullmatch(rest) else None


def round_up(size: int, multiple: int) -> int:
    return -(-size // multiple) * multiple


def tag() -> str:
    """A random suffix for temporary names (no two concurrent copies share one)."""
    return secrets.token_hex(6)


def zfs(*args: str) -> str:
    """Run ``zfs ARGS`` and return its standard output (a failure is a -1 TargetdError)."""
    return run([ZFS, *args]).stdout


def list_rows(fields: Sequence[str], *args: str) -> list[dict[str, str]]:
    """``zfs list -Hp -o FIELDS ARGS``."""
    return parse_rows(zfs("list", "-Hp", "-o", ",".join(fields), *args), fields)


def children(
    dataset: str, kind: str, fields: Sequence[str], sort: str | None = None
) -> list[dict[str, str]]:
    """The direct children of ``dataset`` of type ``kind`` (volume, filesystem, snapshot);
    ``dataset`` itself is not included. ``fields`` must start with ``name``."""
    assert fields[0] == "name"
    args = ["-t", kind, "-r", "-d", "1"]
    if sort:
        args += ["-s", sort]
    return [r for r in list_rows(fields, *args, dataset) if r["name"] != dataset]


def lookup(dataset: str, fields: Sequence[str], kind: str | None = None) -> dict[str, str] | None:
    """One dataset's ``fields`` (``name`` first), or None if it does not exist (or is not
    of type ``kind``)."""
    args = [ZFS, "list", "-Hp", "-o", ",".join(fields)]
    if kind:
        args += ["-t", kind]
    proc = run([*args, dataset], check=False)
    if proc.returncode != 0:
        if "does not exist" in proc.stderr:
            return None
        raise tool_error(args, proc)
    rows = parse_rows(proc.stdout, fields)
    return rows[0] if rows else None


def exists(dataset: str) -> bool:
    return lookup(dataset, ("name",)) is not None


def get(dataset: str, props: Sequence[str]) -> dict[str, str]:
    """``zfs get -Hp -o property,value PROPS DATASET`` as a dict."""
    out = zfs("get", "-Hp", "-o", "property,value", ",".join(props), dataset)
    return {r["property"]: r["value"] for r in parse_rows(out, ("property", "value"))}
