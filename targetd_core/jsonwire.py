"""JSON to and from the network, with the limits a daemon exposed to it needs.

:func:`parse` refuses what would exhaust the stack or is not JSON: nesting deeper than
:data:`MAX_DEPTH`, and ``NaN`` and ``Infinity`` (which Python's parser takes). Numbers
of any size are kept: integers up to Python's int-to-text digit limit as ``int``,
floats a double can hold as ``float``, and longer integers or floats beyond a double
(``1e400``, which ``float`` makes ``inf``) as :class:`BigNumber`, their text: so a
request id is echoed exactly (without the quadratic cost of converting it) and a
parameter can be refused (-32602). :func:`dumps` never writes NaN or Infinity.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

#: Deepest nesting of arrays and objects accepted in a request body. A real request
#: is at most 4 deep (a batch of calls with a list parameter).
MAX_DEPTH = 32

_SEPARATORS = (",", ":")


class JsonRefused(ValueError):
    """The body is not JSON this daemon accepts; the message says why."""


class BigNumber:
    """A JSON number Python would not hold exactly: an integer longer than the int-to-text
    digit limit, or a float beyond a double. It is only ever echoed (as a request id)
    or refused (as a parameter), so it keeps the number's text.
    """

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BigNumber) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        digits = self.text.lstrip("-")
        if digits.isdigit():
            return f"<an integer of {len(digits)} digits>"
        return f"<a number beyond a double: {self.text[:30]}>"


def _digit_limit() -> int:
    return sys.get_int_max_str_digits() or 4300


def _parse_int(text: str) -> int | BigNumber:
    if len(text.lstrip("-")) <= _digit_limit():
        return int(text)
    return BigNumber(text)


def _parse_float(text: str) -> float | BigNumber:
    value = float(text)
    return value if math.isfinite(value) else BigNumber(text)


def _parse_constant(name: str) -> Any:
    raise JsonRefused(f"{name} is not JSON")


def _too_deep(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


_DECODER = json.JSONDecoder(
    parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant
)  # made once: json.loads with these hooks builds a decoder per call


def parse(body: bytes | str) -> Any:
    """The request body as Python values; :class:`JsonRefused` if it is not acceptable."""
    try:
        if not isinstance(body, str):  # as json.loads does: UTF-8, -16 or -32
            body = body.decode(json.detect_encoding(body), "surrogatepass")
        value = _DECODER.decode(body)
    except RecursionError:
        raise JsonRefused(f"nested deeper than {MAX_DEPTH} levels") from None
    except JsonRefused:
        raise
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
        raise JsonRefused("the body is not JSON") from None
    # a body with fewer brackets than the limit cannot nest deeper: no walk needed
    if (
        isinstance(value, (dict, list))
        and body.count("[") + body.count("{") > MAX_DEPTH
        and _too_deep(value, MAX_DEPTH)
    ):
        raise JsonRefused(f"nested deeper than {MAX_DEPTH} levels")
    return value


def _dump_reply(reply: Any) -> str:
    """One reply object as JSON text; a :class:`BigNumber` id is written as its digits."""
    req_id = reply.get("id") if isinstance(reply, dict) else None
    if not isinstance(req_id, BigNumber):
        return json.dumps(reply, separators=_SEPARATORS, allow_nan=False)
    rest = json.dumps(
        {k: v for k, v in reply.items() if k != "id"}, separators=_SEPARATORS, allow_nan=False
    )
    return '{"id":' + req_id.text + ("," + rest[1:] if rest != "{}" else "}")


def dumps(reply: Any) -> bytes:
    """A reply (one object or a batch's list of them) as the bytes of a JSON body.

    A result that is not JSON (NaN, a value of an unknown type) is replaced by a -1
    error for that one reply, so the body is always valid JSON.
    """
    replies = reply if isinstance(reply, list) else [reply]
    parts = []
    for one in replies:
        try:
            parts.append(_dump_reply(one))
        except (TypeError, ValueError):
            req_id = one.get("id") if isinstance(one, dict) else None
            parts.append(
                _dump_reply(
                    {
                        "jsonrpc": "2.0",
                        "error": {
                            "code": -1,
                            "message": "internal error: the reply could not be encoded as JSON",
                        },
                        "id": req_id if isinstance(req_id, (str, int, BigNumber)) else None,
                    }
                )
            )
    text = "[" + ",".join(parts) + "]" if isinstance(reply, list) else parts[0]
    return text.encode()
