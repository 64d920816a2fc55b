"""Building filesystem and configfs paths from names that came from the network.

Every path that contains a client-supplied name is built here: each component must be one
plain directory entry name (no separator, not ``.`` or ``..``, no NUL, not empty, no
newline), so a name can never climb out of the directory it is meant to live in.
"""

from __future__ import annotations

import os

from .errors import Code, TargetdError
from .names import shown

#: Longest component accepted (Linux NAME_MAX).
COMPONENT_MAX = 255


def is_plain_component(value: object) -> bool:
    """True if ``value`` is a single plain directory entry name."""
    return (
        isinstance(value, str)
        and 0 < len(value.encode("utf-8", "surrogatepass")) <= COMPONENT_MAX
        and value not in (".", "..")
        and not any(c in value for c in ("/", "\0", "\n", "\r"))
    )


def check_component(value: object, what: str = "name") -> str:
    """Return ``value`` if it is a plain component, else raise -32602."""
    if not is_plain_component(value):
        raise TargetdError(
            Code.INVALID_ARGUMENT,
            f"invalid {what} {shown(value)}: it must be one plain name (no '/', '.', '..', "
            "NUL or newline)",
        )
    return value  # type: ignore[return-value]


def safe_join(base: str | os.PathLike[str], *components: str, what: str = "name") -> str:
    """Join ``base`` and ``components``, refusing any component that is not plain.

    ``base`` is trusted (it comes from the configuration or the code); every component is
    checked with :func:`check_component`.
    """
    path = os.fspath(base)
    for comp in components:
        path = os.path.join(path, check_component(comp, what))
    return path
