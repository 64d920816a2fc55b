"""Parameter types for RPC methods, and checking a call's arguments against them.

An RPC method is an ordinary typed Python function. Its parameters are annotated with
plain types (``str``, ``int``, ``bool``, ``list[str]``, ``X | None``) or with the
contract's special types below (:data:`Name`, :data:`Size`, ...). :func:`bind` checks
a request's ``params`` against the signature before the method runs, so methods never
see a wrong type, an unknown argument or a missing one (-32602). The same annotations
drive the OpenRPC description.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from .errors import Code, TargetdError
from .names import NAME_MAX, NAME_RE, check_name, check_size


@dataclass(frozen=True, eq=False)  # hashed by identity: typing hashes Annotated args
class Check:
    """Marker inside ``Annotated[...]``: a function that checks and normalises a value,
    and the JSON schema that describes it."""

    check: Callable[[Any, str], Any]
    schema: dict[str, Any]


def _check_bool_like(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("True", "False", "true", "false"):
        return value.lower() == "true"
    raise TargetdError(Code.INVALID_ARGUMENT, f"{what} must be a boolean, got {value!r}")


def _check_lun(value: Any, what: str) -> int:
    lun = check_size(value, what)
    if lun > 255:
        raise TargetdError(Code.INVALID_ARGUMENT, f"{what} must be between 0 and 255, got {lun}")
    return lun


#: A volume, file system, snapshot or access group name (``^[a-zA-Z0-9_-]+$``).
Name = Annotated[
    str,
    Check(check_name, {"type": "string", "pattern": NAME_RE.pattern, "maxLength": NAME_MAX}),
]
#: A size in bytes: a non-negative integer (a float without fraction is accepted).
Size = Annotated[int, Check(check_size, {"type": "integer", "minimum": 0})]
#: A LUN id, 0..255.
Lun = Annotated[int, Check(_check_lun, {"type": "integer", "minimum": 0, "maximum": 255})]
#: A boolean that some clients send as the strings "True"/"False".
BoolLike = Annotated[
    bool,
    Check(_check_bool_like, {"oneOf": [{"type": "boolean"}, {"enum": ["True", "False"]}]}),
]


def _type_error(what: str, expected: str, value: Any) -> TargetdError:
    return TargetdError(Code.INVALID_ARGUMENT, f"{what} must be {expected}, got {value!r}")


def check_value(annotation: Any, value: Any, what: str) -> Any:
    """Check ``value`` against ``annotation``; return it normalised or raise -32602."""
    if annotation is Any or annotation is inspect.Parameter.empty:
        return value
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        for meta in annotation.__metadata__:
            if isinstance(meta, Check):
                return meta.check(value, what)
        return check_value(annotation.__origin__, value, what)
    if origin in (typing.Union, types.UnionType):
        alternatives = typing.get_args(annotation)
        if value is None:
            if type(None) in alternatives:
                return None
            raise _type_error(what, "given", value)
        last: TargetdError | None = None
        for alt in alternatives:
            if alt is type(None):
                continue
            try:
                return check_value(alt, value, what)
            except TargetdError as exc:
                last = exc
        assert last is not None
        raise last
    if origin is list:
        (item_type,) = typing.get_args(annotation) or (Any,)
        if not isinstance(value, list):
            raise _type_error(what, "a list", value)
        return [check_value(item_type, v, f"{what}[{i}]") for i, v in enumerate(value)]
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise _type_error(what, "an object", value)
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise _type_error(what, "a boolean", value)
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(what, "an integer", value)
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(what, "a number", value)
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise _type_error(what, "a string", value)
        return value
    if annotation is type(None):
        if value is not None:
            raise _type_error(what, "null", value)
        return None
    raise TypeError(f"unsupported parameter annotation {annotation!r}")


@functools.lru_cache(maxsize=1024)
def _signature(func: Callable[..., Any]) -> dict[str, tuple[Any, bool]]:
    """name -> (annotation, required) of ``func``'s parameters, worked out once per
    function (signature and type hints are slow to compute)."""
    hints = typing.get_type_hints(func, include_extras=True)
    return {
        name: (hints.get(name, Any), param.default is inspect.Parameter.empty)
        for name, param in inspect.signature(func).parameters.items()
    }


def bind(func: Callable[..., Any], params: dict[str, Any]) -> dict[str, Any]:
    """Check ``params`` against ``func``'s signature; return the checked keyword args."""
    accepted = _signature(func)
    if not params.keys() <= accepted.keys():
        unknown = sorted(set(params) - accepted.keys())
        raise TargetdError(Code.INVALID_ARGUMENT, f"unknown parameter(s): {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    missing = []
    for name, (annotation, required) in accepted.items():
        if name in params:
            kwargs[name] = check_value(annotation, params[name], name)
        elif required:
            missing.append(name)
    if missing:
        raise TargetdError(Code.INVALID_ARGUMENT, f"missing parameter(s): {', '.join(missing)}")
    return kwargs


def annotation_schema(annotation: Any) -> dict[str, Any]:
    """A JSON schema for a parameter or result annotation (used by introspection)."""
    if annotation is Any or annotation is inspect.Parameter.empty:
        return {}
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        for meta in annotation.__metadata__:
            if isinstance(meta, Check):
                return dict(meta.schema)
        return annotation_schema(annotation.__origin__)
    if origin in (typing.Union, types.UnionType):
        return {"oneOf": [annotation_schema(a) for a in typing.get_args(annotation)]}
    if origin is list:
        (item,) = typing.get_args(annotation) or (Any,)
        return {"type": "array", "items": annotation_schema(item)}
    simple = {
        bool: "boolean",
        int: "integer",
        str: "string",
        float: "number",
        type(None): "null",
        dict: "object",
        list: "array",
    }
    if annotation in simple:
        return {"type": simple[annotation]}
    if origin is dict:
        return {"type": "object"}
    return {}
