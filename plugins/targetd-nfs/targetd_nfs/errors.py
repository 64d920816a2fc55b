"""The error codes the NFS plugin declares (numbers of the wire contract)."""

from __future__ import annotations

from targetd_core.plugin import ErrorCode

NFS_EXPORT_NOT_FOUND = ErrorCode(-400, "NFS_EXPORT_NOT_FOUND", "NFS export not found")
NFS_NOT_SUPPORTED = ErrorCode(-401, "NFS_NOT_SUPPORTED", "NFS feature not supported")

CODES = (NFS_EXPORT_NOT_FOUND, NFS_NOT_SUPPORTED)
