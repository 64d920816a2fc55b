from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from .daemon import Daemon, start_daemon


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def tls_files(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("tls")
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path, ca_path = d / "cert.pem", d / "key.pem", d / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    for pem in cert.cert_chain_pems[1:]:
        pem.write_to_path(str(cert_path), append=True)
    cert.private_key_pem.write_to_path(str(key_path))
    os.chmod(key_path, 0o600)
    ca.cert_pem.write_to_path(str(ca_path))
    return {"cert": str(cert_path), "key": str(key_path), "ca": str(ca_path)}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A real targetd over HTTP, 2 workers, with the example plugin and a file pool."""
    tmp = tmp_path_factory.mktemp("daemon")
    pool = tmp / "pool"
    pool.mkdir()
    d = start_daemon(tmp, example_file_pools=[str(pool)])
    yield d
    d.stop()


@pytest.fixture(scope="module")
def tls_daemon(
    tmp_path_factory: pytest.TempPathFactory, tls_files: dict[str, str]
) -> Iterator[Daemon]:
    """The same over HTTPS with a trustme certificate."""
    tmp = tmp_path_factory.mktemp("tlsdaemon")
    d = start_daemon(tmp, ssl_files=(tls_files["cert"], tls_files["key"]), ca=tls_files["ca"])
    yield d
    d.stop()


@pytest.fixture(params=["http", "https"])
def any_daemon(request: pytest.FixtureRequest) -> Daemon:
    """Each transport test runs over HTTP and over HTTPS."""
    return request.getfixturevalue("daemon" if request.param == "http" else "tls_daemon")


@pytest.fixture()
def fresh_tmp(tmp_path: Path) -> Path:
    return tmp_path
