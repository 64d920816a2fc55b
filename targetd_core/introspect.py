"""``rpc.discover``: an OpenRPC document generated from the registered methods.

Everything comes from the code: parameter names, defaults and types from each method's
signature (:func:`targetd_core.params.annotation_schema`), the result shape from its
return annotation, the error codes from its ``errors``, the summary from its docstring,
and the providing plugin from the registry. Nothing is maintained by hand.
"""

from __future__ import annotations

import inspect
import typing
from typing import Any

from . import __version__
from .errors import Code
from .methods import RpcMethod
from .params import annotation_schema

OPENRPC_VERSION = "1.2.6"

_ERROR_TEXT = {
    Code.UNEXPECTED: "unexpected failure (a storage tool failed, the kernel refused)",
    Code.INVALID_ARGUMENT: "invalid argument",
    Code.NAME_CONFLICT: "name in use",
    Code.FS_CLONE_EXISTS: "a file system with the clone's name exists",
    Code.INITIATOR_IN_USE: "initiator already in use",
    Code.FS_OR_SNAPSHOT_EXISTS: "a file system or snapshot with that name exists",
    Code.VOLUME_NOT_FOUND: "volume not found",
    Code.FS_NOT_FOUND: "file system not found",
    Code.INVALID_POOL: "invalid or unknown pool",
    Code.SNAPSHOT_NOT_FOUND: "snapshot not found",
    Code.EXPORT_NOT_FOUND: "volume export not found",
    Code.VOLUME_GROUP_NOT_FOUND: "volume group not found",
    Code.NOT_SUPPORTED: "not supported",
    Code.ACCESS_GROUP_NOT_FOUND: "access group not found",
    Code.VOLUME_MASKED: "volume is exported (masked) and cannot be removed",
    Code.NFS_EXPORT_NOT_FOUND: "NFS export not found",
    Code.NFS_NOT_SUPPORTED: "NFS feature not supported",
    Code.NO_FREE_LUN: "no free host LUN id",
}


def describe_method(method: RpcMethod) -> dict[str, Any]:
    sig = inspect.signature(method.func)
    hints = typing.get_type_hints(method.func, include_extras=True)
    params = []
    for name, p in sig.parameters.items():
        entry: dict[str, Any] = {
            "name": name,
            "required": p.default is inspect.Parameter.empty,
            "schema": annotation_schema(hints.get(name, Any)),
        }
        if p.default is not inspect.Parameter.empty and p.default is not None:
            entry["schema"] = {**entry["schema"], "default": p.default}
        params.append(entry)
    errors = sorted({int(Code.INVALID_ARGUMENT), int(Code.UNEXPECTED), *method.errors})
    doc: dict[str, Any] = {
        "name": method.name,
        "paramStructure": "by-name",
        "params": params,
        "result": {"name": "result", "schema": annotation_schema(hints.get("return", Any))},
        "errors": [{"code": c, "message": _ERROR_TEXT.get(Code(c), "")} for c in errors],
        "x-targetd-plugin": method.plugin,
        "x-targetd-changes-storage": method.changes_storage,
    }
    if method.summary:
        doc["summary"] = method.summary
    return doc


def openrpc_document(methods: dict[str, RpcMethod]) -> dict[str, Any]:
    return {
        "openrpc": OPENRPC_VERSION,
        "info": {
            "title": "targetd",
            "version": __version__,
            "description": "Remote storage management: block volumes, iSCSI exports, "
            "file systems and NFS exports.",
        },
        "methods": [describe_method(m) for _, m in sorted(methods.items())],
    }
