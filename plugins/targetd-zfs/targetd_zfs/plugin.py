"""Hook implementations of the ``zfs`` plugin."""

from __future__ import annotations

from targetd_core.plugin import ConfigError, ConfigOption, Core, Declare, Register, impl

from .block import CONFIG_KEY, ZfsBlockPool
from .fs import ZfsFsPool
from .mounts import mount_at, read_mounts


def _check_datasets(value: list[str]) -> list[str]:
    for ds in value:
        if not ds or ds.startswith("/") or ds.endswith("/") or "@" in ds or "#" in ds:
            raise ValueError(f"{ds!r} is not a ZFS dataset name (like 'tank/targetd')")
    return list(dict.fromkeys(value))


def config_options() -> list[ConfigOption]:
    return [
        ConfigOption(
            CONFIG_KEY,
            list[str],
            [],
            "ZFS datasets whose child zvols are block volumes (each one is a block pool)",
            check=_check_datasets,
        ),
        ConfigOption(
            "zfs_enable_copy",
            bool,
            False,
            "accepted for compatibility and ignored: vol_copy on ZFS is always available "
            "(copies are independent of their origin)",
        ),
    ]


@impl
def targetd_declare(declare: Declare) -> None:
    declare.config_options(config_options())


@impl
def targetd_register(register: Register) -> None:
    register.block_pool(
        *(ZfsBlockPool(register.core.lock, ds) for ds in register.config[CONFIG_KEY])
    )
    register.fs_pool(*fs_pools(register.core))


def fs_pools(core: Core) -> list[ZfsFsPool]:
    """Pools for the ``fs_pools`` entries whose mount is a ZFS dataset; others are left
    to the plugins of their type."""
    paths = core.config["fs_pools"]
    if not paths:
        return []
    try:
        mounts = read_mounts()
    except OSError as exc:
        raise ConfigError("fs_pools", f"cannot read the mount table: {exc.strerror}") from None
    pools: dict[str, ZfsFsPool] = {}
    for path in paths:
        m = mount_at(path, mounts)
        if m is None or m.fstype != "zfs":
            continue
        name = path.rstrip("/") or "/"
        pools.setdefault(name, ZfsFsPool(core.lock, name, m.source, m.mount_point))
    return list(pools.values())
