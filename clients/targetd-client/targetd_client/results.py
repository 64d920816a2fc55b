"""Typed shapes of the results of the targetd API (its contract: ``docs/contract.md`` in
targetd's repository).

They are :class:`~typing.TypedDict` s: at run time the results are the plain dicts decoded
from JSON, so ``--json`` output and library results are the same thing.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict


class Pool(TypedDict):
    name: str
    size: int
    free_size: int
    type: Literal["block", "fs"]
    uuid: NotRequired[str]


class Volume(TypedDict):
    name: str
    size: int
    uuid: str


class Export(TypedDict):
    initiator_wwn: str
    lun: int
    vol_name: str
    vol_size: int
    vol_uuid: str
    pool: str


class NvmeExport(TypedDict):
    host_nqn: str
    subsystem_nqn: str
    nsid: int
    pool: str | None
    vol_name: str | None
    vol_uuid: str | None
    vol_size: int
    ns_uuid: str
    enabled: bool


class NvmeExportRef(TypedDict):
    host_nqn: str
    subsystem_nqn: str
    nsid: int


class NvmeHost(TypedDict):
    host_nqn: str
    subsystem_nqn: str
    exports: int
    auth: Literal["none", "host", "bidirectional"]
    auth_enforced: bool


class Initiator(TypedDict):
    init_id: str
    init_type: str


class AccessGroup(TypedDict):
    name: str
    init_ids: list[str]
    init_type: str


class AccessGroupMap(TypedDict):
    ag_name: str
    h_lun_id: int
    pool_name: str
    vol_name: str


class FileSystem(TypedDict):
    name: str
    uuid: str
    total_space: int
    free_space: int
    pool: str
    full_path: str


class Snapshot(TypedDict):
    name: str
    uuid: str
    timestamp: int


class NfsExport(TypedDict):
    host: str
    path: str
    options: list[str]


class NfsExportRef(TypedDict):
    host: str
    path: str
