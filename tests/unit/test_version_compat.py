"""What targetd needs from its dependencies, on the oldest versions it supports
(Debian 12's packages: structlog 22.3, gunicorn 20.1) and on the newest; the same
tests run on both (contrib/packaging/test-on-debian-packages runs them on Debian's)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog
from gunicorn.config import Config as GunicornConfig

from targetd_core import logs
from targetd_core.config import Config
from targetd_core.server import WORKER_CLASS, gunicorn_options
from targetd_core.worker import ConnectionThreadWorker


@pytest.fixture
def restore_logging() -> Iterator[None]:
    saved, level = structlog.get_config(), logs._min_level
    yield
    structlog.configure(**saved)
    logs._min_level = level


class _NoLevelCheck:
    """A logger as old structlog makes them: no is_enabled_for."""


@pytest.mark.parametrize("level", ["debug", "info", "warning", "error"])
def test_enabled_for_follows_the_configured_level(restore_logging: None, level: str) -> None:
    logs.configure(level, "json")
    wanted = logging.getLevelName(level.upper())
    bound = structlog.get_logger("test").bind()  # what rpc.Dispatcher checks
    for lvl in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR):
        assert logs.enabled_for(bound, lvl) is (lvl >= wanted)
        assert logs.enabled_for(_NoLevelCheck(), lvl) is (lvl >= wanted)


def test_enabled_for_asks_the_logger_when_it_can(restore_logging: None) -> None:
    logs.configure("debug", "json")

    class Quiet:
        def is_enabled_for(self, level: int) -> bool:
            return level >= logging.ERROR

    assert not logs.enabled_for(Quiet(), logging.WARNING)
    assert logs.enabled_for(Quiet(), logging.ERROR)


def test_a_disabled_level_is_dropped_and_an_enabled_one_written(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure("info", "json")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory())  # to capsys
    log = structlog.get_logger("test").bind()
    log.debug("not-written")
    log.info("written")
    out = capsys.readouterr().out
    assert "written" in out and "not-written" not in out


def test_gunicorn_loads_the_worker_class_by_name() -> None:
    opts = gunicorn_options(
        Config(
            {"bind": "127.0.0.1:1", "workers": 1, "threads": 1, "log_level": "info", "ssl": False}
        )
    )
    assert opts["worker_class"] == WORKER_CLASS
    cfg = GunicornConfig()
    cfg.set("worker_class", opts["worker_class"])
    assert cfg.worker_class is ConnectionThreadWorker
