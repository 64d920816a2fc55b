"""Hook implementations: the nfs_export_* methods, their configuration keys and error
codes, the part NFS takes in fs_destroy, and the re-export at start-up. One
:class:`NfsExports` serves them all."""

from __future__ import annotations

import os
from typing import Any

import structlog

from targetd_core.plugin import (
    Code,
    ConfigOption,
    Core,
    Declare,
    Register,
    RpcMethod,
    TargetdError,
    impl,
    rpc_method,
)

from . import exportfs
from .errors import CODES, NFS_EXPORT_NOT_FOUND, NFS_NOT_SUPPORTED
from .options import SEC_FLAVOURS
from .service import NfsExports

DEFAULT_EXPORTS_FILE = "/etc/exports.d/targetd.exports"
EXPORTS_D = "/etc/exports.d"

log = structlog.get_logger("targetd.nfs")


def _check_exports_file(value: str) -> str:
    if not os.path.isabs(value):
        raise ValueError(f"must be an absolute path, got {value!r}")
    if os.path.normpath(value) == "/etc/exports":
        raise ValueError("must not be /etc/exports: that file is the administrator's")
    if os.path.dirname(os.path.normpath(value)) == EXPORTS_D and not value.endswith(".exports"):
        raise ValueError(
            "a file in /etc/exports.d must end in '.exports' (exportfs reads no other)"
        )
    return os.path.normpath(value)


def _check_allowed_paths(value: list[str]) -> list[str]:
    bad = [p for p in value if not os.path.isabs(p)]
    if bad:
        raise ValueError(f"must be absolute paths, got {bad}")
    return value


def config_options() -> list[ConfigOption]:
    return [
        ConfigOption(
            "allow_chown",
            bool,
            False,
            "let nfs_export_add change the owner of the exported directory (chown)",
        ),
        ConfigOption(
            "nfs_exports_file",
            str,
            DEFAULT_EXPORTS_FILE,
            "where targetd keeps its NFS exports (never /etc/exports)",
            check=_check_exports_file,
        ),
        ConfigOption(
            "nfs_export_allowed_paths",
            list[str],
            [],
            "directories (besides the fs pools) under which NFS exports may be made",
            check=_check_allowed_paths,
        ),
        ConfigOption(
            "nfs_exportfs_timeout",
            int,
            30,
            "seconds one exportfs run (or one host name lookup) may take before the call "
            "fails and is rolled back",
            check=_check_timeout,
        ),
    ]


def _check_timeout(value: int) -> int:
    if not 1 <= value <= 3600:
        raise ValueError(f"must be 1 to 3600 seconds, got {value}")
    return value


def make_service(core: Core) -> NfsExports:
    cfg = core.config
    timeout = float(cfg["nfs_exportfs_timeout"])
    exportfs.TIMEOUT = timeout

    def roots() -> list[str]:
        return [*core.fs_pools, *cfg["nfs_export_allowed_paths"]]

    return NfsExports(
        cfg["nfs_exports_file"],
        cfg["allow_chown"],
        roots,
        released=core.lock.released,
        resolve_timeout=timeout,
    )


def methods(nfs: NfsExports) -> list[RpcMethod]:
    @rpc_method(changes_storage=False)
    def nfs_export_auth_list() -> list[str]:
        """The NFS security flavours exports may use."""
        return list(SEC_FLAVOURS)

    @rpc_method(changes_storage=False)
    def nfs_export_list() -> list[dict[str, Any]]:
        """Every NFS export in force (the administrator's and targetd's), with its
        effective options as exportfs reports them."""
        return nfs.list()

    @rpc_method(errors=(Code.NOT_SUPPORTED, NFS_NOT_SUPPORTED))
    def nfs_export_add(
        host: str,
        path: str,
        options: list[str] | str | None = None,
        chown: str | int | None = None,
        export_path: Any = None,
    ) -> dict[str, str]:
        """Export a directory to an NFS client; persistent across restarts and reboots."""
        return nfs.add(host, path, options, chown, export_path)

    @rpc_method(errors=(NFS_EXPORT_NOT_FOUND, Code.NOT_SUPPORTED))
    def nfs_export_remove(host: str, path: str) -> None:
        """Remove an NFS export made by targetd."""
        nfs.remove(host, path)

    return [nfs_export_auth_list, nfs_export_list, nfs_export_add, nfs_export_remove]


@impl
def targetd_declare(declare: Declare) -> None:
    declare.config_options(config_options())
    declare.error_code(*CODES)


@impl
def targetd_register(register: Register) -> None:
    nfs = make_service(register.core)
    register.rpc_methods(methods(nfs))
    # No export outlives its file system: fs_destroy removes ours of its paths.
    register.on_fs_destroy(nfs.remove_under)
    register.on_serve(lambda: reapply(nfs))


def reapply(nfs: NfsExports) -> None:
    """Re-export what our exports file holds (exportfs -ra is not run for a file
    outside /etc/exports.d, and the kernel table may have been flushed)."""
    try:
        nfs.reapply()
    except (TargetdError, OSError) as exc:  # e.g. exportfs missing: methods will say so
        log.warning("cannot re-apply nfs exports at start-up", error=str(exc))
