"""The plugin's configuration keys and the checked list of RBD pools they name."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from targetd_core.plugin import ConfigOption

POOLS_KEY = "rbd_pools"
#: A Ceph pool or RADOS namespace name as targetd accepts it: Ceph itself allows more,
#: but these names go into command lines and sysfs lookups, so keep them plain.
CEPH_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
#: A Ceph client id (the part after ``client.``).
CLIENT_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
GATEWAY_KEY = "rbd_gateway_id"
#: A gateway id: it goes into RBD image metadata keys and RADOS lock descriptions.
GATEWAY_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}")


@dataclass(frozen=True)
class PoolSpec:
    """One configured RBD pool: ``name`` is what clients see (``POOL`` or ``POOL/NS``)."""

    name: str
    pool: str
    namespace: str  # "" for the pool's default namespace


def parse_pool_spec(spec: str) -> PoolSpec:
    """``POOL`` or ``POOL/NAMESPACE`` -> PoolSpec; ValueError naming the entry otherwise."""
    parts = spec.split("/") if isinstance(spec, str) else []
    if not 1 <= len(parts) <= 2 or not all(CEPH_NAME_RE.fullmatch(p) for p in parts):
        raise ValueError(
            f"{spec!r} is not 'POOL' or 'POOL/NAMESPACE' (letters, digits, '_', '.', '-', "
            "not starting with '.' or '-')"
        )
    return PoolSpec(spec, parts[0], parts[1] if len(parts) == 2 else "")


def _check_specs(value: list[str]) -> list[str]:
    seen: set[str] = set()
    for spec in value:
        parse_pool_spec(spec)
        if spec in seen:
            raise ValueError(f"pool {spec!r} is listed twice")
        seen.add(spec)
    return value


def _check_client(value: str) -> str:
    if not CLIENT_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a Ceph client id (the name after 'client.', e.g. 'targetd')"
        )
    return value


def check_gateway_id(value: str) -> str:
    if not isinstance(value, str) or not GATEWAY_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a gateway id (1-63 letters, digits, '_', '.', '-', not "
            "starting with '.' or '-')"
        )
    return value


def _check_gateway(value: str | None) -> str | None:
    return None if value is None else check_gateway_id(value)


def _check_path(value: str | None) -> str | None:
    if value is not None and (not os.path.isabs(value) or "\x00" in value or "\n" in value):
        raise ValueError(f"{value!r} is not an absolute path")
    return value


def _check_conf(value: str) -> str:
    _check_path(value)
    return value


OPTIONS = (
    ConfigOption(
        POOLS_KEY,
        list[str],
        [],
        "Ceph RBD pools used as block pools: 'POOL' or 'POOL/NAMESPACE' (a RADOS namespace)",
        check=_check_specs,
    ),
    ConfigOption(
        "rbd_conf",
        str,
        "/etc/ceph/ceph.conf",
        "the Ceph cluster's configuration file (monitor addresses) for the RBD pools",
        check=_check_conf,
    ),
    ConfigOption(
        "rbd_client",
        str,
        "admin",
        "the Ceph client id targetd connects as (without 'client.'); 'profile rbd' caps "
        "on the RBD pools are enough",
        check=_check_client,
    ),
    ConfigOption(
        "rbd_keyring",
        str | None,
        None,
        "the keyring of rbd_client (default: Ceph's search path, "
        "/etc/ceph/ceph.client.<id>.keyring)",
        check=_check_path,
    ),
    ConfigOption(
        GATEWAY_KEY,
        str | None,
        None,
        "this gateway's id among the targetd hosts serving the same RBD pools (default: the "
        "host name); each gateway needs its own: exports are recorded in the cluster under it",
        check=_check_gateway,
    ),
)


@dataclass(frozen=True)
class ClusterSpec:
    conf: str
    client: str
    keyring: str | None


def cluster_spec(config: Mapping[str, Any]) -> ClusterSpec:
    return ClusterSpec(config["rbd_conf"], config["rbd_client"], config.get("rbd_keyring"))


def gateway_id(config: Mapping[str, Any]) -> str:
    """``rbd_gateway_id``, or the host name (the node name: no DNS) when it is not set;
    ValueError if the host name is not usable as one."""
    value = config.get(GATEWAY_KEY)
    if value is not None:
        return str(value)
    host = socket.gethostname()
    try:
        return check_gateway_id(host)
    except ValueError:
        raise ValueError(f"the host name {host!r} is not usable as a gateway id: set it") from None


def pool_specs(config: Mapping[str, Any]) -> list[PoolSpec]:
    return [parse_pool_spec(s) for s in config[POOLS_KEY]]
