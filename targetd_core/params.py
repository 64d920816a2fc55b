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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from .errors import Code, TargetdError
from .jsonwire import BigNumber
from .logs import SECRET_KEY_RE
from .names import (
    NAME_MAX,
    NAME_RE,
    POOL_NAME_MAX,
    check_name,
    check_pool_name,
    check_size,
    shown,
)


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
    raise TargetdError(Code.INVALID_ARGUMENT, f"{what} must be a boolean, got {shown(value)}")


def _check_lun(value: Any, what: str) -> int:
    lun = check_size(value, what)
    if lun > 255:
        raise TargetdError(Code.INVALID_ARGUMENT, f"{what} must be between 0 and 255, got {lun}")
    return lun


#: A volume, file system, snapshot or access group name (``^[a-zA-Z0-9_-]+$``).
Name = Annotated[
    str,
    Check(check_name, {"type": "string", "pattern": f"^{NAME_RE.pattern}$", "maxLength": NAME_MAX}),
]
#: The name of a configured pool (a volume group, a thin pool, a mount point): text
#: without control characters; an unknown pool is the method's -110.
PoolName = Annotated[
    str,
    Check(check_pool_name, {"type": "string", "minLength": 1, "maxLength": POOL_NAME_MAX}),
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
    return TargetdError(Code.INVALID_ARGUMENT, f"{what} must be {expected}, got {shown(value)}")


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


def is_secret_param(name: str, secret: Iterable[str] = ()) -> bool:
    """True for a parameter whose value is never logged nor repeated in a message: one
    the method declares secret, or whose name looks like a secret (``pass``...)."""
    return name in secret or bool(SECRET_KEY_RE.search(name))


def check_wire_value(value: Any, what: str) -> None:
    """Refuse (-32602) what no method should ever see, at any depth of a parameter:
    strings that are not valid Unicode (a lone surrogate, which JSON's ``\\ud800``
    escapes can carry) and integers too long to convert."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise TargetdError(
                Code.INVALID_ARGUMENT,
                f"{what} is not valid Unicode text (it holds a lone surrogate escape)",
            ) from None
    elif isinstance(value, BigNumber):
        raise TargetdError(Code.INVALID_ARGUMENT, f"{what} is too large: {value!r}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_wire_value(item, f"{what}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_wire_value(key, f"a key of {what}")
            check_wire_value(item, f"a member of {what}")


def _kind(annotation: Any) -> str:
    """What a parameter must be, in words, from its schema (for secret parameters,
    whose value the message must not show)."""
    schema = annotation_schema(annotation)
    alternatives = schema.get("oneOf", [schema])
    kinds = [a.get("type", "a valid value") for a in alternatives]
    return " or ".join(dict.fromkeys(str(k) for k in kinds)) or "a valid value"


@functools.lru_cache(maxsize=1024)
def _signature(func: Callable[..., Any]) -> dict[str, tuple[Any, bool]]:
    """name -> (annotation, required) of ``func``'s parameters, worked out once per
    function (signature and type hints are slow to compute)."""
    hints = typing.get_type_hints(func, include_extras=True)
    return {
        name: (hints.get(name, Any), param.default is inspect.Parameter.empty)
        for name, param in inspect.signature(func).parameters.items()
    }


def bind(
    func: Callable[..., Any], params: dict[str, Any], secret: Iterable[str] = ()
) -> dict[str, Any]:
    """Check ``params`` against ``func``'s signature; return the checked keyword args.

    ``secret`` names parameters whose value must not appear in an error message (names
    that look like secrets are treated so anyway): their messages name the parameter
    and the expected type only.
    """
    secret = tuple(secret)
    accepted = _signature(func)
    if not params.keys() <= accepted.keys():
        unknown = sorted(set(params) - accepted.keys())
        raise TargetdError(Code.INVALID_ARGUMENT, f"unknown parameter(s): {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    missing = []
    for name, (annotation, required) in accepted.items():
        if name in params:
            check_wire_value(params[name], name)  # its messages never show a value
            if not is_secret_param(name, secret):
                kwargs[name] = check_value(annotation, params[name], name)
                continue
            try:
                kwargs[name] = check_value(annotation, params[name], name)
            except TargetdError:
                raise TargetdError(
                    Code.INVALID_ARGUMENT,
                    f"{name} is not valid: expected {_kind(annotation)} (the value of a "
                    "secret parameter is not repeated)",
                ) from None
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
