"""TLS hygiene checks done before the daemon starts."""

from __future__ import annotations

import ssl
from pathlib import Path

from .config import Config
from .filecheck import private_file_problems

MIN_TLS = ssl.TLSVersion.TLSv1_2


def check_tls_files(config: Config) -> list[str]:
    """Problems with the certificate and key (empty if TLS is off or all is well)."""
    if not config["ssl"]:
        return []
    problems = []
    cert, key = Path(config["ssl_cert"]), Path(config["ssl_key"])
    if not cert.is_file():
        problems.append(f"ssl_cert: certificate file {cert} does not exist")
    if not key.exists():
        problems.append(f"ssl_key: key file {key} does not exist")
        return problems
    problems += private_file_problems(key, "ssl_key", "key file")
    if problems:
        return problems
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
    except (ssl.SSLError, OSError) as exc:
        problems.append(f"ssl_cert/ssl_key: cannot load the certificate and key: {exc}")
    return problems


def make_server_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    """A server context with modern protocol versions only (TLS 1.2+)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = MIN_TLS
    ctx.load_cert_chain(certfile, keyfile)
    return ctx
