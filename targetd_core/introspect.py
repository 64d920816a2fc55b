"""``rpc.discover``: an OpenRPC document generated from the registered methods.

Everything comes from the code: parameter names, defaults and types from each method's
signature (:func:`targetd_core.params.annotation_schema`), the result shape from its
return annotation, the error codes from its ``errors`` (their meanings from the code
table: the core's and those the plugins declared), the summary from its docstring,
and the providing plugin from the registry. Nothing is maintained by hand.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Mapping
from typing import Any

from . import __version__
from .core import RegisteredCode
from .errors import Code
from .methods import RpcMethod
from .params import annotation_schema

OPENRPC_VERSION = "1.2.6"


def describe_method(
    method: RpcMethod, codes: Mapping[int, RegisteredCode] | None = None
) -> dict[str, Any]:
    codes = codes or {}
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
        "errors": [{"code": c, "message": _meaning(codes, c)} for c in errors],
        "x-targetd-plugin": method.plugin,
        "x-targetd-changes-storage": method.changes_storage,
    }
    if method.summary:
        doc["summary"] = method.summary
    return doc


def _meaning(codes: Mapping[int, RegisteredCode], number: int) -> str:
    entry = codes.get(number)
    return entry.code.meaning if entry is not None else ""


def openrpc_document(
    methods: Mapping[str, RpcMethod],
    codes: Mapping[int, RegisteredCode] | None = None,
    storage: str = "",
) -> dict[str, Any]:
    """The document; ``codes`` is the core's error table (every code is listed under
    ``components.errors`` with the plugin that declared it), ``storage`` says what
    the loaded plugins serve (for the description)."""
    codes = codes or {}
    described = "Remote storage management" + (f" ({storage})." if storage else ".")
    return {
        "openrpc": OPENRPC_VERSION,
        "info": {
            "title": "targetd",
            "version": __version__,
            "description": described,
        },
        "methods": [describe_method(m, codes) for _, m in sorted(methods.items())],
        "components": {
            "errors": {
                entry.code.name: {
                    "code": number,
                    "message": entry.code.meaning,
                    "data": {"x-targetd-plugin": entry.plugin},
                }
                for number, entry in sorted(codes.items(), reverse=True)
            }
        },
    }
