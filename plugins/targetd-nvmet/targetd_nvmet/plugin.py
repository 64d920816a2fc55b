"""targetd-nvmet hooks (thin: all logic is in :mod:`targetd_nvmet.service`): configuration
keys, the export handler (``vol_destroy`` of an exported volume is -303), the RPC methods,
and the start-up replay of the state file."""

from __future__ import annotations

import ipaddress
import re
import socket
from pathlib import Path
from typing import Any

import structlog

from targetd_core.plugin import (
    Code,
    ConfigOption,
    Core,
    Declare,
    Name,
    Register,
    RpcMethod,
    TargetdError,
    impl,
    rpc_method,
)

from .naming import check_subsystem_prefix
from .service import NvmetExports

log = structlog.get_logger("targetd.nvmet")

E = Code

DEFAULT_STATE_FILE = "/etc/target/targetd_nvmet.json"


def default_prefix() -> str:
    host = re.sub(r"[^a-z0-9.-]", "-", socket.gethostname().lower())[:100] or "localhost"
    return f"nqn.2003-01.org.targetd:{host}"


def _check_addresses(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("must list at least one address (0.0.0.0 for all)")
    for address in value:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ValueError(f"{address!r} is not an IP address") from None
    if len(set(value)) != len(value) or len(value) > 16:
        raise ValueError("must list at most 16 distinct addresses")
    return value


def _check_port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ValueError("must be a TCP port number (1..65535)")
    return value


def _check_prefix(value: str | None) -> str | None:
    return None if value is None else check_subsystem_prefix(value)


def config_options() -> list[ConfigOption]:
    return [
        ConfigOption(
            "nvme_subsystem_prefix",
            str | None,
            None,
            "prefix of targetd's NVMe subsystem NQNs, <prefix>:host-<hash of the host NQN> "
            "(default nqn.2003-01.org.targetd:<hostname>)",
            check=_check_prefix,
        ),
        ConfigOption(
            "nvme_addresses",
            list[str],
            ["0.0.0.0"],
            "addresses the NVMe/TCP target listens on (one nvmet port each)",
            check=_check_addresses,
        ),
        ConfigOption("nvme_port", int, 4420, "TCP port of the NVMe/TCP target", check=_check_port),
        ConfigOption(
            "nvmet_state_file",
            str,
            DEFAULT_STATE_FILE,
            "where targetd records its NVMe exports and host keys (mode 0600), replayed "
            "into the kernel when targetd starts",
        ),
    ]


def make_service(core: Core) -> NvmetExports:
    """The one :class:`NvmetExports` of a core, from its configuration."""
    cfg = core.config
    return NvmetExports(
        core,
        cfg["nvme_subsystem_prefix"] or default_prefix(),
        list(cfg["nvme_addresses"]),
        int(cfg["nvme_port"]),
        Path(cfg["nvmet_state_file"]),
    )


@impl
def targetd_declare(declare: Declare) -> None:
    declare.config_options(config_options())


@impl
def targetd_register(register: Register) -> None:
    svc = make_service(register.core)
    register.export_handler(svc)
    register.rpc_methods(methods(svc))
    register.on_serve(lambda: restore(svc))


def restore(svc: NvmetExports) -> None:
    """Replay the saved exports (the kernel forgets nvmet at reboot). A failure is logged,
    not raised: the rest of the daemon keeps serving, and NVMe calls say what is wrong."""
    if not svc.state.path.exists():
        return
    try:
        counts = svc.restore()
    except (TargetdError, OSError) as exc:
        log.error("restoring the NVMe exports failed",
                  error=exc.message if isinstance(exc, TargetdError) else str(exc))  # fmt: skip
    else:
        log.info("NVMe exports restored", state_file=str(svc.state.path), **counts)


_SECRETS = ("host_key", "ctrl_key")


def methods(svc: NvmetExports) -> list[RpcMethod]:
    @rpc_method(changes_storage=False)
    def nvme_export_list() -> list[dict[str, Any]]:
        """Every NVMe export: host NQN, subsystem NQN, namespace id, volume, its size, uuid,
        pool and the namespace UUID."""
        return svc.export_list()

    @rpc_method(errors=(E.INVALID_POOL, E.VOLUME_NOT_FOUND, E.NAME_CONFLICT, E.NO_FREE_LUN))
    def nvme_export_create(
        pool: str, vol: Name, host_nqn: str, nsid: int | None = None
    ) -> dict[str, Any]:
        """Export a volume to one host NQN as a namespace of that host's subsystem (the
        lowest free namespace id when nsid is absent); no change if that export exists.
        Returns host_nqn, subsystem_nqn and nsid."""
        return svc.export_create(pool, vol, host_nqn, nsid)

    @rpc_method(errors=(E.INVALID_POOL, E.EXPORT_NOT_FOUND))
    def nvme_export_destroy(pool: str, vol: Name, host_nqn: str) -> None:
        """Remove an NVMe export; the host's last one removes its subsystem."""
        svc.export_destroy(pool, vol, host_nqn)

    @rpc_method(changes_storage=False)
    def nvme_host_list() -> list[dict[str, Any]]:
        """Hosts with an NVMe export or keys: subsystem NQN, export count, authentication
        set ("none", "host", "bidirectional") and whether the kernel enforces it."""
        return svc.host_list()

    @rpc_method(errors=(E.NOT_SUPPORTED,), secret_params=_SECRETS)
    def nvme_host_set_auth(
        host_nqn: str,
        host_key: str,
        ctrl_key: str | None = None,
        hash: str | None = None,  # noqa: A002 - the contract's parameter name
        dhgroup: str | None = None,
    ) -> None:
        """Require DH-HMAC-CHAP from a host (host_key) and, with ctrl_key, authenticate
        the controller to it too; -153 if the kernel cannot enforce it."""
        svc.host_set_auth(host_nqn, host_key, ctrl_key, hash, dhgroup)

    @rpc_method()
    def nvme_host_clear_auth(host_nqn: str) -> None:
        """Stop requiring DH-HMAC-CHAP from a host (no error if none was set)."""
        svc.host_clear_auth(host_nqn)

    return [
        nvme_export_list,
        nvme_export_create,
        nvme_export_destroy,
        nvme_host_list,
        nvme_host_set_auth,
        nvme_host_clear_auth,
    ]


__all__ = ["config_options", "default_prefix", "make_service", "methods", "restore"]
