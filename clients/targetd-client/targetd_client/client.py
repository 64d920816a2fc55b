"""The library: :class:`Client`, one typed method per method of the targetd API."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from .errors import ProtocolError, TargetdError
from .results import (
    AccessGroup,
    AccessGroupMap,
    Export,
    FileSystem,
    Initiator,
    NfsExport,
    NfsExportRef,
    NvmeExport,
    NvmeExportRef,
    NvmeHost,
    Pool,
    Snapshot,
    Volume,
)
from .transport import Transport


def _drop_none(params: dict[str, Any], *optional: str) -> dict[str, Any]:
    """Leave out optional parameters that were not given (the daemon then uses its default)."""
    return {k: v for k, v in params.items() if not (k in optional and v is None)}


class Client:
    """A targetd client: JSON-RPC 2.0 over HTTP(S) with HTTP Basic authentication.

    ``url`` may be a full endpoint (``https://host:18700/targetrpc``) or just ``host`` /
    ``host:port`` (https, port 18700, /targetrpc assumed). ``ca`` is the PEM file of the CA
    that signed targetd's certificate (default: the system's trust store); ``insecure``
    skips certificate verification (tests only). ``timeout`` is per request, in seconds:
    copying a large volume can take minutes.

    One connection is kept alive and reused; request ids are increasing integers. A Client
    is not thread-safe: use one per thread. It is a context manager (closes the connection).

    Raises :class:`~targetd_client.errors.TargetdError` for JSON-RPC errors and
    :class:`~targetd_client.errors.TransportError` (or a subclass such as
    :class:`~targetd_client.errors.AuthenticationError`) when no JSON-RPC answer came.
    """

    def __init__(
        self,
        url: str,
        user: str = "admin",
        password: str = "",
        ca: str | None = None,
        insecure: bool = False,
        timeout: float = 300.0,
    ) -> None:
        self._transport = Transport(url, user, password, ca=ca, insecure=insecure, timeout=timeout)
        self._next_id = 0

    @property
    def url(self) -> str:
        return self._transport.url

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    # --- generic ---------------------------------------------------------------------------
    def call(self, method: str, /, **params: Any) -> Any:
        """Call ``method`` with keyword ``params``; returns the JSON-RPC result."""
        self._next_id += 1
        req_id = self._next_id
        req: dict[str, Any] = {"jsonrpc": "2.0", "id": req_id, "method": method}
        if params:
            req["params"] = params
        _, body = self._transport.post(json.dumps(req).encode())
        try:
            reply = json.loads(body)
        except ValueError as e:
            raise ProtocolError(f"{method}: the reply is not JSON: {body[:100]!r}") from e
        if not isinstance(reply, dict) or reply.get("jsonrpc") != "2.0":
            raise ProtocolError(f"{method}: not a JSON-RPC 2.0 reply: {body[:100]!r}")
        if "error" in reply:
            err = reply["error"]
            if not isinstance(err, dict) or not isinstance(err.get("code"), int):
                raise ProtocolError(f"{method}: malformed error object: {err!r}")
            raise TargetdError(err["code"], str(err.get("message", "")), err.get("data"))
        if reply.get("id") != req_id:
            raise ProtocolError(f"{method}: reply id {reply.get('id')!r} is not {req_id}")
        if "result" not in reply:
            raise ProtocolError(f"{method}: reply has neither result nor error")
        return reply["result"]

    def discover(self) -> dict[str, Any]:
        """``rpc.discover``: the daemon's description of its methods (OpenRPC)."""
        return cast(dict[str, Any], self.call("rpc.discover"))

    # --- pools and volumes ------------------------------------------------------------------
    def pool_list(self) -> list[Pool]:
        return cast(list[Pool], self.call("pool_list"))

    def vol_list(self, pool: str) -> list[Volume]:
        return cast(list[Volume], self.call("vol_list", pool=pool))

    def vol_create(self, pool: str, name: str, size: int) -> None:
        self.call("vol_create", pool=pool, name=name, size=size)

    def vol_destroy(self, pool: str, name: str) -> None:
        self.call("vol_destroy", pool=pool, name=name)

    def vol_copy(
        self,
        pool: str,
        vol_orig: str,
        vol_new: str,
        size: int | None = None,
        timeout: int | None = None,
    ) -> None:
        """Copy ``vol_orig`` to a new volume ``vol_new`` (grown to ``size`` if given).

        ``timeout`` is sent to the daemon, which accepts and ignores it (old clients send
        it); the HTTP timeout is the Client's.
        """
        params = dict(pool=pool, vol_orig=vol_orig, vol_new=vol_new, size=size, timeout=timeout)
        self.call("vol_copy", **_drop_none(params, "size", "timeout"))

    def vol_resize(self, pool: str, name: str, size: int) -> None:
        self.call("vol_resize", pool=pool, name=name, size=size)

    # --- iSCSI exports and initiators -------------------------------------------------------
    def export_list(self) -> list[Export]:
        return cast(list[Export], self.call("export_list"))

    def export_create(self, pool: str, vol: str, initiator_wwn: str, lun: int) -> None:
        self.call("export_create", pool=pool, vol=vol, initiator_wwn=initiator_wwn, lun=lun)

    def export_destroy(self, pool: str, vol: str, initiator_wwn: str) -> None:
        self.call("export_destroy", pool=pool, vol=vol, initiator_wwn=initiator_wwn)

    def initiator_set_auth(
        self,
        initiator_wwn: str,
        in_user: str | None = None,
        in_pass: str | None = None,
        out_user: str | None = None,
        out_pass: str | None = None,
    ) -> None:
        """Set CHAP for an initiator; None (or "") for a direction turns that direction off."""
        self.call(
            "initiator_set_auth",
            initiator_wwn=initiator_wwn,
            in_user=in_user,
            in_pass=in_pass,
            out_user=out_user,
            out_pass=out_pass,
        )

    def initiator_list(self, standalone_only: bool | None = None) -> list[Initiator]:
        params = _drop_none({"standalone_only": standalone_only}, "standalone_only")
        return cast(list[Initiator], self.call("initiator_list", **params))

    # --- NVMe/TCP exports and hosts (plugin targetd-nvmet) ---------------------------------
    def nvme_export_list(self) -> list[NvmeExport]:
        return cast(list[NvmeExport], self.call("nvme_export_list"))

    def nvme_export_create(
        self, pool: str, vol: str, host_nqn: str, nsid: int | None = None
    ) -> NvmeExportRef:
        """Export a volume to a host NQN (the lowest free namespace id without ``nsid``)."""
        params = _drop_none(dict(pool=pool, vol=vol, host_nqn=host_nqn, nsid=nsid), "nsid")
        return cast(NvmeExportRef, self.call("nvme_export_create", **params))

    def nvme_export_destroy(self, pool: str, vol: str, host_nqn: str) -> None:
        self.call("nvme_export_destroy", pool=pool, vol=vol, host_nqn=host_nqn)

    def nvme_host_list(self) -> list[NvmeHost]:
        return cast(list[NvmeHost], self.call("nvme_host_list"))

    def nvme_host_set_auth(
        self,
        host_nqn: str,
        host_key: str,
        ctrl_key: str | None = None,
        hash: str | None = None,  # noqa: A002 - the API's parameter name
        dhgroup: str | None = None,
    ) -> None:
        """Require DH-HMAC-CHAP (``DHHC-1:...`` keys, as ``nvme gen-dhchap-key`` prints)."""
        params = dict(host_nqn=host_nqn, host_key=host_key, ctrl_key=ctrl_key, hash=hash,
                      dhgroup=dhgroup)  # fmt: skip
        self.call("nvme_host_set_auth", **_drop_none(params, "ctrl_key", "hash", "dhgroup"))

    def nvme_host_clear_auth(self, host_nqn: str) -> None:
        self.call("nvme_host_clear_auth", host_nqn=host_nqn)

    # --- access groups ----------------------------------------------------------------------
    def access_group_list(self) -> list[AccessGroup]:
        return cast(list[AccessGroup], self.call("access_group_list"))

    def access_group_create(self, ag_name: str, init_id: str, init_type: str = "iscsi") -> None:
        self.call("access_group_create", ag_name=ag_name, init_id=init_id, init_type=init_type)

    def access_group_destroy(self, ag_name: str) -> None:
        self.call("access_group_destroy", ag_name=ag_name)

    def access_group_init_add(self, ag_name: str, init_id: str, init_type: str = "iscsi") -> None:
        self.call("access_group_init_add", ag_name=ag_name, init_id=init_id, init_type=init_type)

    def access_group_init_del(self, ag_name: str, init_id: str, init_type: str = "iscsi") -> None:
        self.call("access_group_init_del", ag_name=ag_name, init_id=init_id, init_type=init_type)

    def access_group_map_list(self) -> list[AccessGroupMap]:
        return cast(list[AccessGroupMap], self.call("access_group_map_list"))

    def access_group_map_create(
        self, pool_name: str, vol_name: str, ag_name: str, h_lun_id: int | None = None
    ) -> None:
        """Map a volume to a group; without ``h_lun_id`` the daemon picks the lowest free LUN."""
        params = dict(pool_name=pool_name, vol_name=vol_name, ag_name=ag_name, h_lun_id=h_lun_id)
        self.call("access_group_map_create", **_drop_none(params, "h_lun_id"))

    def access_group_map_destroy(self, pool_name: str, vol_name: str, ag_name: str) -> None:
        self.call(
            "access_group_map_destroy", pool_name=pool_name, vol_name=vol_name, ag_name=ag_name
        )

    # --- file systems and snapshots ---------------------------------------------------------
    def fs_list(self) -> list[FileSystem]:
        return cast(list[FileSystem], self.call("fs_list"))

    def fs_create(self, pool_name: str, name: str, size_bytes: int = 0) -> None:
        """Create a file system; ``size_bytes`` (0: none) becomes its quota where possible."""
        self.call("fs_create", pool_name=pool_name, name=name, size_bytes=size_bytes)

    def fs_destroy(self, uuid: str) -> None:
        """Destroy a file system and every snapshot of it."""
        self.call("fs_destroy", uuid=uuid)

    def fs_clone(self, fs_uuid: str, dest_fs_name: str, snapshot_id: str | None = None) -> None:
        """A writable copy of a file system, or of its snapshot ``snapshot_id``."""
        params = dict(fs_uuid=fs_uuid, dest_fs_name=dest_fs_name, snapshot_id=snapshot_id)
        self.call("fs_clone", **_drop_none(params, "snapshot_id"))

    def ss_list(self, fs_uuid: str) -> list[Snapshot]:
        return cast(list[Snapshot], self.call("ss_list", fs_uuid=fs_uuid))

    def fs_snapshot(self, fs_uuid: str, dest_ss_name: str) -> None:
        self.call("fs_snapshot", fs_uuid=fs_uuid, dest_ss_name=dest_ss_name)

    def fs_snapshot_delete(self, fs_uuid: str, ss_uuid: str) -> None:
        self.call("fs_snapshot_delete", fs_uuid=fs_uuid, ss_uuid=ss_uuid)

    # --- NFS exports ------------------------------------------------------------------------
    def nfs_export_auth_list(self) -> list[str]:
        return cast(list[str], self.call("nfs_export_auth_list"))

    def nfs_export_list(self) -> list[NfsExport]:
        return cast(list[NfsExport], self.call("nfs_export_list"))

    def nfs_export_add(
        self,
        host: str,
        path: str,
        options: Sequence[str] | str | None = None,
        chown: str | None = None,
    ) -> NfsExportRef:
        """Export ``path`` to ``host`` with exports(5) ``options`` (``["rw", "sec=sys"]``).

        ``chown`` (``"uid"`` or ``"uid:gid"``) changes the owner of ``path`` first, where the
        daemon's configuration allows it.
        """
        opts: list[str] | str | None = (
            options if options is None or isinstance(options, str) else list(options)
        )
        params = dict(host=host, path=path, options=opts, chown=chown)
        return cast(NfsExportRef, self.call("nfs_export_add", **_drop_none(params, "chown")))

    def nfs_export_remove(self, host: str, path: str) -> None:
        self.call("nfs_export_remove", host=host, path=path)
