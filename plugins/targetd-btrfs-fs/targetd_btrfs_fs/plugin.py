"""Hook implementations: btrfs pools from the core's ``fs_pools`` key."""

from __future__ import annotations

import os

from targetd_core.plugin import (
    Config,
    ConfigError,
    FsPool,
    Register,
    StorageLock,
    TargetdError,
    impl,
    run,
)

from .parse import Mount, parse_findmnt
from .pool import BtrfsPool


def find_mount(path: str) -> Mount | None:
    """The mount holding ``path`` (None if findmnt cannot tell)."""
    try:
        proc = run(
            ["findmnt", "-J", "-o", "TARGET,FSTYPE,FSROOT,UUID,OPTIONS", "--target", path],
            check=False,
        )
    except TargetdError:  # findmnt missing
        return None
    if proc.returncode != 0:
        return None
    return parse_findmnt(proc.stdout)


@impl
def targetd_register(register: Register) -> None:
    register.fs_pool(*fs_pools(register.config, register.core.lock))


def fs_pools(config: Config, lock: StorageLock) -> list[FsPool]:
    """A pool for every ``fs_pools`` entry that is a directory on btrfs.

    Entries on other file systems are left to other plugins. Two entries that are the
    same place of the same btrfs (a path configured twice, or a bind mount) would list
    every file system twice, with the same uuids: that is refused.
    """
    pools: list[FsPool] = []
    seen: dict[tuple[str, str], str] = {}
    for entry in config["fs_pools"]:
        name = entry.rstrip("/") or "/"
        if not os.path.isdir(name):
            continue  # the core reports entries nobody takes
        path = os.path.realpath(name)
        mount = find_mount(path)
        if mount is None or mount.fstype != "btrfs":
            continue
        pool = BtrfsPool(name, path, mount, lock.released)
        key = (mount.uuid, pool.tree_prefix)
        if key in seen:
            raise ConfigError(
                "fs_pools", f"{seen[key]!r} and {name!r} are the same place of one btrfs"
            )
        seen[key] = name
        pools.append(pool)
    return pools
