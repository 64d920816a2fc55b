"""targetd-client: a Python client library for targetd, and the ``targetd-cli`` tool.

>>> from targetd_client import Client
>>> with Client("https://array:18700", "admin", password, ca="ca.pem") as c:
...     c.vol_create("vg-targetd/thin_pool", "data", 10 * 2**30)
"""

from .client import Client
from .errors import (
    AuthenticationError,
    ClientError,
    ErrorCode,
    HTTPStatusError,
    LoginThrottledError,
    ProtocolError,
    RequestTooLargeError,
    TargetdError,
    TLSError,
    TransportError,
)
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
from .sizes import format_size, parse_size

__version__ = "0.1.0"

__all__ = [
    "AccessGroup",
    "AccessGroupMap",
    "AuthenticationError",
    "Client",
    "ClientError",
    "ErrorCode",
    "Export",
    "FileSystem",
    "HTTPStatusError",
    "Initiator",
    "LoginThrottledError",
    "NfsExport",
    "NfsExportRef",
    "NvmeExport",
    "NvmeExportRef",
    "NvmeHost",
    "Pool",
    "ProtocolError",
    "RequestTooLargeError",
    "Snapshot",
    "TLSError",
    "TargetdError",
    "TransportError",
    "Volume",
    "format_size",
    "parse_size",
]
