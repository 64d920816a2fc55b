"""Parsing LVM's JSON reports (``--reportformat json --units b --nosuffix``).

LVM prints every field as a string: sizes as decimal byte counts, percentages with
two decimals, empty strings where a field does not apply (``data_percent`` of a
linear LV, or of an inactive thin pool). Anything else is an error, not a guess.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from targetd_core.plugin import Code, TargetdError

#: The tag that hides an LV still being filled by a block copy.
COPYING_TAG = "targetd_copying"

LV_FIELDS = (
    "lv_name",
    "vg_name",
    "lv_uuid",
    "lv_size",
    "lv_attr",
    "segtype",
    "pool_lv",
    "origin",
    "lv_tags",
    "data_percent",
    "metadata_percent",
)
VG_FIELDS = ("vg_name", "vg_uuid", "vg_size", "vg_free", "vg_extent_size")

#: Segment types of LVs a VG pool lists as its volumes (what lvcreate -L makes, and
#: mirror/raid LVs an administrator made). Thin pools, thin LVs, cache/VDO pools and
#: old-style snapshots are not volumes of a VG pool.
THICK_SEGTYPES = frozenset(
    {"linear", "striped", "mirror", "raid0", "raid0_meta", "raid1", "raid4", "raid5", "raid6"}
    | {"raid10", "raid5_la", "raid5_ls", "raid5_ra", "raid5_rs", "raid5_n"}
    | {"raid6_zr", "raid6_nr", "raid6_nc", "raid6_n_6"}
)


def _bad(what: str, detail: str) -> TargetdError:
    return TargetdError(Code.UNEXPECTED, f"LVM reported {what} that targetd cannot read: {detail}")


def parse_size(value: Any, what: str) -> int:
    """A byte count from a report (a string of digits)."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise _bad(what, repr(value))


def parse_percent(value: Any, what: str) -> float | None:
    """A percentage from a report; None when LVM left it empty (not applicable/inactive)."""
    if value == "":
        return None
    try:
        pct = float(value)
    except (TypeError, ValueError):
        raise _bad(what, repr(value)) from None
    if not 0.0 <= pct <= 100.0:
        raise _bad(what, repr(value))
    return pct


@dataclass(frozen=True)
class Lv:
    name: str
    vg: str
    uuid: str
    size: int
    attr: str
    segtype: str
    pool_lv: str
    origin: str
    tags: frozenset[str]
    data_percent: float | None
    metadata_percent: float | None

    @property
    def hidden(self) -> bool:
        """An internal LV (only shown by ``lvs -a``, in brackets)."""
        return self.name.startswith("[")


@dataclass(frozen=True)
class Vg:
    name: str
    uuid: str
    size: int
    free: int
    extent_size: int


def _rows(text: str, tool: str, kind: str) -> list[dict[str, Any]]:
    try:
        doc = json.loads(text)
        rows: list[dict[str, Any]] = []
        for section in doc["report"]:
            rows.extend(section.get(kind, []))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise _bad(f"{tool} output", f"not a JSON report ({exc})") from None
    if not all(isinstance(r, dict) for r in rows):
        raise _bad(f"{tool} output", "rows are not objects")
    return rows


def _field(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if not isinstance(value, str):
        raise _bad(f"field {key!r}", f"{value!r} in {row.get('lv_name') or row.get('vg_name')!r}")
    return value


def parse_lvs(text: str) -> list[Lv]:
    """The LVs of an ``lvs --reportformat json --units b --nosuffix -o LV_FIELDS`` run."""
    out = []
    for row in _rows(text, "lvs", "lv"):
        name = _field(row, "lv_name")
        tags = _field(row, "lv_tags")
        out.append(
            Lv(
                name=name,
                vg=_field(row, "vg_name"),
                uuid=_field(row, "lv_uuid"),
                size=parse_size(row.get("lv_size"), f"the size of LV {name!r}"),
                attr=_field(row, "lv_attr"),
                segtype=_field(row, "segtype"),
                pool_lv=_field(row, "pool_lv"),
                origin=_field(row, "origin"),
                tags=frozenset(t for t in tags.split(",") if t),
                data_percent=parse_percent(row.get("data_percent"), f"data% of {name!r}"),
                metadata_percent=parse_percent(
                    row.get("metadata_percent"), f"metadata% of {name!r}"
                ),
            )
        )
    return out


def parse_vgs(text: str) -> list[Vg]:
    """The VGs of a ``vgs --reportformat json --units b --nosuffix -o VG_FIELDS`` run."""
    out = []
    for row in _rows(text, "vgs", "vg"):
        name = _field(row, "vg_name")
        out.append(
            Vg(
                name=name,
                uuid=_field(row, "vg_uuid"),
                size=parse_size(row.get("vg_size"), f"the size of VG {name!r}"),
                free=parse_size(row.get("vg_free"), f"the free space of VG {name!r}"),
                extent_size=parse_size(row.get("vg_extent_size"), f"the extent size of {name!r}"),
            )
        )
    return out


# -- planning: which LVs are a pool's volumes, how much space is free ------------------


def is_vg_volume(lv: Lv) -> bool:
    """True for an LV that a VG (thick) pool lists: a visible, plain (linear/striped,
    or mirror/raid) LV that is not in a pool, not a snapshot, not being copied."""
    return (
        not lv.hidden
        and lv.segtype in THICK_SEGTYPES
        and lv.attr[:1] in ("-", "m", "M", "r", "R", "o", "O")
        and not lv.pool_lv
        and COPYING_TAG not in lv.tags
    )


def is_thin_volume(lv: Lv, thin_pool: str) -> bool:
    """True for a thin LV of ``thin_pool`` (a name within the LV's VG)."""
    return (
        not lv.hidden
        and lv.segtype == "thin"
        and lv.pool_lv == thin_pool
        and COPYING_TAG not in lv.tags
    )


def thin_pool_free(size: int, data_percent: float | None, metadata_percent: float | None) -> int:
    """Free bytes of a thin pool: what is left of its data space, or less when its
    metadata is fuller than its data (a pool whose metadata is full takes no more
    writes). Unknown usage (an inactive pool reports none) counts as full: it is
    never an overstatement."""
    if data_percent is None or metadata_percent is None:
        return 0
    used = max(data_percent, metadata_percent) / 100.0
    free = int(size * (1.0 - used))
    return max(0, min(size, free))
