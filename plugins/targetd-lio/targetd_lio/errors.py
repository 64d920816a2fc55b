"""The error codes the LIO plugin declares (numbers of the wire contract), and ``E``:
the core's codes and these under one name, for the plugin's modules."""

from __future__ import annotations

from targetd_core.plugin import Code, ErrorCode

INITIATOR_IN_USE = ErrorCode(-52, "INITIATOR_IN_USE", "initiator already in use")
ACCESS_GROUP_NOT_FOUND = ErrorCode(-200, "ACCESS_GROUP_NOT_FOUND", "access group not found")

CODES = (INITIATOR_IN_USE, ACCESS_GROUP_NOT_FOUND)


class E:
    """``E.X``: the core's :class:`Code` members and the LIO plugin's codes."""

    UNEXPECTED = Code.UNEXPECTED
    INVALID_ARGUMENT = Code.INVALID_ARGUMENT
    NAME_CONFLICT = Code.NAME_CONFLICT
    VOLUME_NOT_FOUND = Code.VOLUME_NOT_FOUND
    INVALID_POOL = Code.INVALID_POOL
    NOT_SUPPORTED = Code.NOT_SUPPORTED
    INITIATOR_IN_USE = INITIATOR_IN_USE
    EXPORT_NOT_FOUND = Code.EXPORT_NOT_FOUND
    ACCESS_GROUP_NOT_FOUND = ACCESS_GROUP_NOT_FOUND
    NO_FREE_LUN = Code.NO_FREE_LUN
