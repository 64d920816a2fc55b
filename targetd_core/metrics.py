"""Prometheus metrics, correct with several gunicorn workers.

Counters and histograms use prometheus_client's multiprocess mode: each worker writes
its samples into files under ``<state_dir>/metrics`` and a scrape, answered by any
worker, adds them up. Call :func:`prepare` in the master before any worker starts
(it must set ``PROMETHEUS_MULTIPROC_DIR`` before prometheus_client is imported).
Pool sizes and counts of volumes, exports and file systems are read from the
storage at scrape time.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from . import __version__
from .core import Core, RegisteredCode
from .errors import Code

ENV = "PROMETHEUS_MULTIPROC_DIR"
# Labels of the per-call metrics: outcome is "ok" or "error"; an error also has its code
# ("-110") and that code's name ("INVALID_POOL"); both are empty on success.
LABELS = ["method", "outcome", "code", "error"]
# JSON-RPC's own codes; targetd's are the names of errors.Code.
_JSONRPC_ERRORS = {
    -32700: "PARSE_ERROR",
    -32600: "INVALID_REQUEST",
    -32601: "METHOD_NOT_FOUND",
    -32603: "INTERNAL_ERROR",
}


_CORE_NAMES = {int(c): c.name for c in Code}


def error_name(code: int, codes: Mapping[int, RegisteredCode] | None = None) -> str:
    """The readable name of an error code ("INVALID_POOL" for -110), from the core's
    table ``codes`` (plugins declare codes too); "OTHER" if unknown."""
    if codes and code in codes:
        return codes[code].code.name
    return _CORE_NAMES.get(code) or _JSONRPC_ERRORS.get(code, "OTHER")


def outcome_labels(
    outcome: str, codes: Mapping[int, RegisteredCode] | None = None
) -> tuple[str, str, str]:
    """(outcome, code, error) labels of a call that ended with ``outcome``."""
    if outcome == "ok":
        return "ok", "", ""
    try:
        code = int(outcome)
    except ValueError:
        return "error", "", "OTHER"
    return "error", str(code), error_name(code, codes)


def prepare(state_dir: Path) -> Path:
    """Create an empty multiprocess directory and point prometheus_client at it."""
    path = state_dir / "metrics"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, mode=0o700)
    os.environ[ENV] = str(path)
    # Imported now, in the main process: gunicorn calls worker_exit from its SIGCHLD
    # handling, which can run again while a first import inside it is half done
    # ("partially initialized module"), and that crashed the arbiter.
    import prometheus_client.multiprocess  # noqa: F401

    return path


_pid = [os.getpid()]  # this process's id, kept up to date across fork()
os.register_at_fork(after_in_child=lambda: _pid.__setitem__(0, os.getpid()))


def _cached_pid() -> int:
    return _pid[0]


class Metrics:
    def __init__(self, core: Core) -> None:
        from prometheus_client import Counter, Histogram, values

        if os.environ.get(ENV):
            # prometheus_client asks the kernel for the pid at every inc/observe (to
            # notice a fork); the fork hook above tells us instead: no syscall per call.
            values.ValueClass = values.MultiProcessValue(process_identifier=_cached_pid)

        self.core = core
        self.requests = Counter(
            "targetd_requests",
            "JSON-RPC calls by method and outcome (ok or error, with the error's code and name)",
            LABELS,
        )
        self.latency = Histogram(
            "targetd_request_duration_seconds",
            "JSON-RPC call duration",
            LABELS,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
        )
        self._series: dict[tuple[str, str], tuple[Any, Any]] = {}
        self.failed_logins = Counter("targetd_failed_logins", "Failed HTTP Basic logins")

    def observe(self, method: str | None, outcome: str, seconds: float) -> None:
        """``outcome``: "ok", or the JSON-RPC error code the call ended with."""
        name = method if method is not None and method in self.core.methods else "(invalid)"
        key = (name, outcome)
        series = self._series.get(key)
        if series is None:  # labels() is slow: look each pair of series up once
            labels = outcome_labels(outcome, self.core.error_codes)
            series = self._series[key] = (
                self.requests.labels(name, *labels),
                self.latency.labels(name, *labels),
            )
        series[0].inc()
        series[1].observe(seconds)

    def login_failed(self) -> None:
        self.failed_logins.inc()

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        registry.register(_StorageCollector(self.core))
        registry.register(_BuildInfo(self.core))
        with self.core.lock.hold(exclusive=False):
            return generate_latest(registry), CONTENT_TYPE_LATEST


def worker_exit(pid: int) -> None:
    """gunicorn child_exit hook: forget a dead worker's live gauges."""
    if os.environ.get(ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


class _StorageCollector:
    def __init__(self, core: Core) -> None:
        self.core = core

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        size = GaugeMetricFamily("targetd_pool_size_bytes", "Pool size", labels=["pool", "type"])
        free = GaugeMetricFamily(
            "targetd_pool_free_bytes", "Pool free space", labels=["pool", "type"]
        )
        vols = GaugeMetricFamily("targetd_volumes", "Volumes per block pool", labels=["pool"])
        fss = GaugeMetricFamily("targetd_filesystems", "File systems per fs pool", labels=["pool"])
        exports = GaugeMetricFamily(
            "targetd_exports", "Exports per export handler", labels=["handler"]
        )
        errors = GaugeMetricFamily("targetd_scrape_errors", "Pools that could not be read")
        failed = 0
        pools: list[tuple[str, Any, GaugeMetricFamily]] = [
            *(("block", p, vols) for p in self.core.block_pools.values()),
            *(("fs", p, fss) for p in self.core.fs_pools.values()),
        ]
        for kind, pool, count in pools:
            try:
                info = pool.info()
                items = pool.list_volumes() if kind == "block" else pool.list_filesystems()
            except Exception:
                failed += 1
                continue
            size.add_metric([pool.name, kind], info.size)
            free.add_metric([pool.name, kind], info.free_size)
            count.add_metric([pool.name], len(items))
        for handler in self.core.export_handlers:
            try:
                exported = handler.export_count()
            except Exception:
                failed += 1
                continue
            if exported is not None:
                exports.add_metric([handler.name], exported)
        errors.add_metric([], failed)
        yield from (size, free, vols, fss, exports, errors)


class _BuildInfo:
    """targetd_build_info (targetd's version and the Python and libraries it runs on) and
    targetd_plugin_info (each loaded plugin and its version); always 1."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def collect(self) -> Iterator[Any]:
        import platform
        from importlib.metadata import PackageNotFoundError, version

        from prometheus_client.core import GaugeMetricFamily

        def dist_version(name: str) -> str:
            try:
                return version(name)
            except PackageNotFoundError:
                return ""

        build = GaugeMetricFamily(
            "targetd_build_info",
            "targetd's version and what it runs on",
            labels=["version", "python", "gunicorn", "jsonrpcserver"],
        )
        build.add_metric(
            [
                __version__,
                platform.python_version(),
                dist_version("gunicorn"),
                dist_version("jsonrpcserver"),
            ],
            1,
        )
        plugins = GaugeMetricFamily(
            "targetd_plugin_info",
            "Loaded plugins and their versions",
            labels=["plugin", "version", "distribution"],
        )
        for info in self.core.plugins.values():
            plugins.add_metric([info.name, info.version, info.distribution], 1)
        yield from (build, plugins)
