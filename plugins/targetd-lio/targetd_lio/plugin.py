"""targetd-lio: iSCSI exports, CHAP, initiators and access groups on the kernel's LIO target.

The hooks: configuration keys and error codes (``targetd_declare``); the export handler
(so ``vol_destroy`` refuses an exported volume with -303), the RPC methods and the start-up
restore of the saved configuration (``targetd_register``), all served by one
:class:`LioExports` per core.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import structlog

from targetd_core.plugin import (
    BoolLike,
    ConfigOption,
    Core,
    Declare,
    Lun,
    Name,
    Register,
    RpcMethod,
    TargetdError,
    impl,
    rpc_method,
)

from .errors import CODES, E
from .service import LioExports
from .target import check_target_name

log = structlog.get_logger("targetd.lio")

DEFAULT_STATE_FILE = "/etc/target/targetd_lio.json"
_CHAP = ("in_user", "in_pass", "out_user", "out_pass")


def default_target_name() -> str:
    return f"iqn.2003-01.org.linux-iscsi.{socket.gethostname().lower()}:targetd"


def _check_portals(value: list[str]) -> list[str]:
    import ipaddress

    if not value:
        raise ValueError("must list at least one address (0.0.0.0 for all)")
    for address in value:
        try:
            ipaddress.ip_address(address.strip("[]"))
        except ValueError:
            raise ValueError(f"{address!r} is not an IP address") from None
    return value


def config_options() -> list[ConfigOption]:
    return [
        ConfigOption(
            "target_name",
            str | None,
            None,
            "iSCSI target name (default iqn.2003-01.org.linux-iscsi.<hostname>:targetd)",
            check=check_target_name,
        ),
        ConfigOption(
            "portal_addresses",
            list[str],
            ["0.0.0.0"],
            "addresses the iSCSI target listens on (port 3260)",
            check=_check_portals,
        ),
        ConfigOption(
            "lio_state_file",
            str,
            DEFAULT_STATE_FILE,
            "where targetd records its iSCSI exports, groups and CHAP settings (mode 0600), "
            "replayed into the kernel when targetd starts",
        ),
    ]


def service(core: Core) -> LioExports:
    """A :class:`LioExports` for a core, from its configuration."""
    cfg = core.config
    return LioExports(
        core,
        cfg["target_name"] or default_target_name(),
        list(cfg["portal_addresses"]),
        Path(cfg["lio_state_file"]),
    )


@impl
def targetd_declare(declare: Declare) -> None:
    declare.config_options(config_options())
    declare.error_code(*CODES)


@impl
def targetd_register(register: Register) -> None:
    svc = service(register.core)
    register.export_handler(svc)
    register.rpc_methods(methods(svc))
    register.on_serve(lambda: restore_and_adopt(svc))


def restore_and_adopt(svc: LioExports) -> None:
    """Replay the saved exports into configfs (after a reboot), then adopt the exports
    the old daemon left (:meth:`LioExports.adopt`).

    Called by the core with the storage lock held, before the workers start. A failure is
    logged, not raised: the rest of the daemon (other pools, NFS) keeps serving, and
    every iSCSI call then reports what is wrong with LIO.
    """
    if svc.state.path.exists():
        try:
            counts = svc.restore()
        except (TargetdError, OSError) as exc:
            log.error("restoring the iSCSI exports failed", error=_message(exc))
        else:
            log.info("iSCSI exports restored", state_file=str(svc.state.path), **counts)
    try:
        svc.adopt()
    except (TargetdError, OSError) as exc:
        log.error("adopting the old daemon's iSCSI exports failed", error=_message(exc))


def _message(exc: Exception) -> str:
    return exc.message if isinstance(exc, TargetdError) else str(exc)


def methods(svc: LioExports) -> list[RpcMethod]:

    @rpc_method(changes_storage=False)
    def export_list() -> list[dict[str, Any]]:
        """Every iSCSI export: initiator, LUN, volume, its size, uuid and pool."""
        return svc.export_list()

    @rpc_method(errors=(E.INVALID_POOL, E.VOLUME_NOT_FOUND, E.INITIATOR_IN_USE))
    def export_create(pool: str, vol: Name, initiator_wwn: str, lun: Lun) -> None:
        """Export a volume to one initiator at a LUN (no change if that export exists)."""
        svc.export_create(pool, vol, initiator_wwn, lun)

    @rpc_method(errors=(E.INVALID_POOL, E.EXPORT_NOT_FOUND))
    def export_destroy(pool: str, vol: Name, initiator_wwn: str) -> None:
        """Remove an export; the initiator's last export removes its ACL."""
        svc.export_destroy(pool, vol, initiator_wwn)

    @rpc_method(secret_params=_CHAP)
    def initiator_set_auth(
        initiator_wwn: str,
        in_user: str | None = None,
        in_pass: str | None = None,
        out_user: str | None = None,
        out_pass: str | None = None,
    ) -> None:
        """Set the CHAP credentials an initiator must present (in) and mutual CHAP (out);
        null or empty turns a direction off."""
        svc.initiator_set_auth(initiator_wwn, in_user, in_pass, out_user, out_pass)

    @rpc_method(changes_storage=False)
    def initiator_list(standalone_only: BoolLike = False) -> list[dict[str, str]]:
        """Initiators with an ACL; with standalone_only, those in no access group."""
        return svc.initiator_list(standalone_only)

    @rpc_method(changes_storage=False)
    def access_group_list() -> list[dict[str, Any]]:
        """Access groups and their initiators."""
        return svc.access_group_list()

    @rpc_method(errors=(E.NOT_SUPPORTED, E.NAME_CONFLICT, E.INITIATOR_IN_USE))
    def access_group_create(ag_name: Name, init_id: str, init_type: str) -> None:
        """Create an access group with one initiator."""
        svc.access_group_create(ag_name, init_id, init_type)

    @rpc_method()
    def access_group_destroy(ag_name: Name) -> None:
        """Remove an access group, its initiators' ACLs and its mappings (no error if absent)."""
        svc.access_group_destroy(ag_name)

    @rpc_method(errors=(E.NOT_SUPPORTED, E.INITIATOR_IN_USE))
    def access_group_init_add(ag_name: Name, init_id: str, init_type: str) -> None:
        """Add an initiator to a group (created if absent); it gets the group's LUNs."""
        svc.access_group_init_add(ag_name, init_id, init_type)

    @rpc_method(errors=(E.NOT_SUPPORTED,))
    def access_group_init_del(ag_name: Name, init_id: str, init_type: str) -> None:
        """Remove an initiator from a group (silent if it is not a member)."""
        svc.access_group_init_del(ag_name, init_id, init_type)

    @rpc_method(changes_storage=False)
    def access_group_map_list() -> list[dict[str, Any]]:
        """Volumes mapped to access groups, with their host LUN ids."""
        return svc.access_group_map_list()

    @rpc_method(
        errors=(E.INVALID_POOL, E.VOLUME_NOT_FOUND, E.ACCESS_GROUP_NOT_FOUND, E.NO_FREE_LUN)
    )
    def access_group_map_create(
        pool_name: str, vol_name: Name, ag_name: Name, h_lun_id: Lun | None = None
    ) -> None:
        """Map a volume to every initiator of a group at one LUN id (the lowest free for
        all of them when h_lun_id is absent)."""
        svc.access_group_map_create(pool_name, vol_name, ag_name, h_lun_id)

    @rpc_method(errors=(E.INVALID_POOL,))
    def access_group_map_destroy(pool_name: str, vol_name: Name, ag_name: Name) -> None:
        """Unmap a volume from a group (silent if not mapped)."""
        svc.access_group_map_destroy(pool_name, vol_name, ag_name)

    return [
        export_list,
        export_create,
        export_destroy,
        initiator_set_auth,
        initiator_list,
        access_group_list,
        access_group_create,
        access_group_destroy,
        access_group_init_add,
        access_group_init_del,
        access_group_map_list,
        access_group_map_create,
        access_group_map_destroy,
    ]


__all__ = ["default_target_name", "methods", "restore_and_adopt", "service"]
