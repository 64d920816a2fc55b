"""The plugin's configuration keys and turning them into a checked list of pools."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from targetd_core.plugin import ConfigError, ConfigOption

from .names import parse_pool_spec

DEFAULT_POOLS = ["vg-targetd"]


def _check_specs(value: list[str]) -> list[str]:
    for spec in value:
        parse_pool_spec(spec)  # ValueError names the bad entry
    return value


def _check_spec(value: str | None) -> str | None:
    if value is not None:
        parse_pool_spec(value)
    return value


OPTIONS = (
    ConfigOption(
        "block_pools",
        list[str],
        DEFAULT_POOLS,
        "LVM block pools: volume groups (thick LVs) 'VG' or thin pools 'VG/THINPOOL'",
        check=_check_specs,
    ),
    ConfigOption(
        "pool_name",
        str | None,
        None,
        "legacy single-pool key: 'pool_name: X' means 'block_pools: [X]'",
        check=_check_spec,
    ),
    ConfigOption(
        "lvm_zero_new_volumes",
        bool,
        True,
        "zero every new thick LV (VG pools) so no data of an earlier volume shows through; "
        "thin pools zero new blocks themselves",
    ),
)


@dataclass(frozen=True)
class PoolSpec:
    name: str  # as configured and as clients see it
    vg: str
    thin_pool: str | None
    key: str  # the configuration key it came from


def pool_specs(config: Mapping[str, Any], given: set[str] | frozenset[str]) -> list[PoolSpec]:
    """The configured pools, from ``block_pools`` and the legacy ``pool_name``.

    ``given`` holds the keys written in the file. ``pool_name`` alone replaces the
    default ``block_pools``; with both written, ``pool_name`` is added to the list.
    Raises ConfigError for a pool listed twice and for a VG configured both as a
    pool and through one of its thin pools (the VG pool would hand out the space the
    thin pool lives on).
    """
    entries: list[tuple[str, str]] = []
    if "block_pools" in given or config.get("pool_name") is None:
        entries += [(spec, "block_pools") for spec in config["block_pools"]]
    if config.get("pool_name") is not None:
        entries.append((config["pool_name"], "pool_name"))

    specs: list[PoolSpec] = []
    seen: dict[str, PoolSpec] = {}
    for spec, key in entries:
        if spec in seen:
            if key == "pool_name":  # same pool named by both keys: fine
                continue
            raise ConfigError(key, f"pool {spec!r} is listed twice")
        vg, thin = parse_pool_spec(spec)
        seen[spec] = PoolSpec(spec, vg, thin, key)
        specs.append(seen[spec])

    thick = {s.vg: s for s in specs if s.thin_pool is None}
    for s in specs:
        if s.thin_pool is not None and s.vg in thick:
            raise ConfigError(
                s.key,
                f"pool {s.name!r} is a thin pool of volume group {s.vg!r}, which is also "
                "configured as a pool: configure either the volume group or its thin pools",
            )
    return specs
