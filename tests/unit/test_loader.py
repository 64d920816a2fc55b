"""Loading plugins in-process: hooks through pluggy, the registry, start-up errors."""

from __future__ import annotations

import inspect
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pluggy
import pytest

from targetd_core import testing
from targetd_core.config import Config
from targetd_core.core import Core, FrozenError
from targetd_core.errors import Code, ConfigError, ErrorCode, TargetdError
from targetd_core.locking import StorageLock
from targetd_core.plugin import (
    ConfigOption,
    Declare,
    FileSystem,
    FsPool,
    PoolInfo,
    Register,
    Snapshot,
    impl,
    rpc_method,
)

OWN = ErrorCode(-7100, "OWN_CODE", "a code of the test plugin")


@rpc_method(changes_storage=False, errors=(OWN,))
def fails(kind: str) -> None:
    """Fail in the way asked."""
    if kind == "own":
        raise TargetdError(OWN, "own failure")
    raise RuntimeError("internal detail")


class Good:
    @impl
    def targetd_declare(self, declare: Declare) -> None:
        assert declare.plugin == "good"
        declare.config_option(ConfigOption("good_key", int, 3, "a key"))
        declare.error_code(OWN)

    @impl
    def targetd_register(self, register: Register) -> None:
        assert register.plugin == "good" and register.config["good_key"] == 3
        register.rpc_method(fails)


def test_contributions_are_recorded_with_the_plugin(tmp_path: Path) -> None:
    t = testing.build({}, {"good": Good()}, tmp_path)
    assert t.core.methods["fails"].plugin == "good"
    assert fails.plugin == ""  # the core keeps its own copy; the plugin's is untouched
    info = t.core.plugins["good"]
    assert (info.methods, info.config_keys, info.error_codes) == (["fails"], ["good_key"], [-7100])
    assert t.core.plugins["core"].methods and "vol_create" in t.core.plugins["core"].methods
    testing.assert_error(-7100, t.call, "fails", kind="own")
    e = testing.assert_error(-1, t.call, "fails", kind="other")
    assert "internal detail" not in e.message and "reference" in e.message


def test_core_is_read_only(tmp_path: Path) -> None:
    core = testing.build({}, {"good": Good()}, tmp_path).core
    with pytest.raises(FrozenError):
        core.hook = None  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        core.methods["x"] = core.methods["fails"]  # type: ignore[index]
    with pytest.raises(TypeError):
        core.block_pools["p"] = None  # type: ignore[index]
    assert isinstance(core.export_handlers, tuple)


def test_a_direct_core_is_frozen_with_what_it_was_given(tmp_path: Path) -> None:
    core = Core(Config({}), StorageLock(tmp_path / "lock"))
    with pytest.raises(FrozenError):
        core._frozen = False
    assert dict(core.block_pools) == {}
    testing.assert_error(Code.INVALID_POOL, core.block_pool, "p")


def test_config_remembers_what_was_written() -> None:
    cfg = Config({"a": 1, "b": 2}, given=["a"])
    assert cfg.raw_has("a") and not cfg.raw_has("b")


class Raises:
    def __init__(self, exc: BaseException, hook: str = "targetd_register") -> None:
        self.exc = exc
        self.hook = hook

    @impl
    def targetd_declare(self, declare: Declare) -> None:
        if self.hook == "targetd_declare":
            raise self.exc

    @impl
    def targetd_register(self, register: Register) -> None:
        if self.hook == "targetd_register":
            raise self.exc


@pytest.mark.parametrize("hook", ["targetd_declare", "targetd_register"])
def test_any_exception_names_the_plugin(tmp_path: Path, hook: str) -> None:
    problems = testing.startup_problems({}, {"broken": Raises(KeyError("oops"), hook)}, tmp_path)
    assert problems == [f"plugin 'broken': {hook} failed: KeyError: 'oops'"]


def test_config_and_targetd_errors_are_collected_from_every_plugin(tmp_path: Path) -> None:
    problems = testing.startup_problems(
        {},
        {
            "a": Raises(ConfigError("some_key", "is wrong")),
            "b": Raises(TargetdError(-1, "tool missing")),
        },
        tmp_path,
    )
    assert problems == ["some_key: is wrong", "plugin 'b': targetd_register: tool missing"]


class Declares:
    def __init__(self, *codes: ErrorCode) -> None:
        self.codes = codes

    @impl
    def targetd_declare(self, declare: Declare) -> None:
        declare.error_code(*self.codes)


def test_an_error_code_declared_twice_names_both_plugins(tmp_path: Path) -> None:
    problems = testing.startup_problems(
        {},
        {"one": Declares(ErrorCode(-7200, "A", "a")), "two": Declares(ErrorCode(-7200, "B", "b"))},
        tmp_path,
    )
    assert problems == ["error code -7200 is declared by two plugins: 'one' (A) and 'two' (B)"]


def test_a_plugin_cannot_redeclare_a_core_code(tmp_path: Path) -> None:
    problems = testing.startup_problems(
        {}, {"one": Declares(ErrorCode(-303, "MINE", "x"))}, tmp_path
    )
    assert problems == [
        "error code -303 is declared by two plugins: 'core' (VOLUME_MASKED) and 'one' (MINE)"
    ]


def test_a_method_listing_an_undeclared_code_is_refused(tmp_path: Path) -> None:
    class Undeclared:
        @impl
        def targetd_register(self, register: Register) -> None:
            register.rpc_method(fails)

    problems = testing.startup_problems({}, {"u": Undeclared()}, tmp_path)
    assert len(problems) == 1 and "'u'" in problems[0] and "[-7100]" in problems[0]


def test_error_code_values_are_checked() -> None:
    with pytest.raises(ValueError):
        ErrorCode(-1, "lower", "x")
    with pytest.raises(ValueError):
        ErrorCode(-1, "OK\n", "x")
    with pytest.raises(ValueError):
        ErrorCode(-1, "OK", " ")
    with pytest.raises(TypeError):
        ErrorCode(True, "OK", "x")  # type: ignore[arg-type]
    assert ErrorCode(-9, "NINE", "nine") == -9 and repr(ErrorCode(-9, "NINE", "x"))


def test_a_method_registered_twice_names_both_plugins(tmp_path: Path) -> None:
    class Again:
        @impl
        def targetd_register(self, register: Register) -> None:
            register.rpc_method(rpc_method("vol_list")(lambda: None))

    problems = testing.startup_problems({}, {"again": Again()}, tmp_path)
    assert problems == ["method 'vol_list' is registered by two plugins: 'core' and 'again'"]


def test_a_hook_of_the_first_api_is_refused_with_guidance(tmp_path: Path) -> None:
    class Old:
        @impl
        def targetd_rpc_methods(self, core: Any) -> list[Any]:
            return []

    with pytest.raises(testing.StartupError) as info:
        testing.build({}, {"old": Old()}, tmp_path)
    (problem,) = info.value.problems
    assert problem.startswith("plugin 'old': ") and "targetd_register" in problem


def test_wrong_objects_are_refused_naming_the_plugin(tmp_path: Path) -> None:
    class Wrong:
        @impl
        def targetd_register(self, register: Register) -> None:
            register.block_pool("not a pool")  # type: ignore[arg-type]

    (problem,) = testing.startup_problems({}, {"wrong": Wrong()}, tmp_path)
    assert problem.startswith("plugin 'wrong': targetd_register failed: TypeError")


class OldStyleWrapper:
    def __init__(self, seen: list[tuple[str, str]]) -> None:
        self.seen = seen

    @impl(hookwrapper=True)
    def targetd_register(self, register: Register) -> Generator[None, Any, None]:
        self.seen.append(("before", register.plugin))
        yield
        self.seen.append(("after", register.plugin))


# new-style wrappers exist from pluggy 1.1 (Debian 12 ships 1.0)
NEW_STYLE = "wrapper" in inspect.signature(pluggy.HookimplMarker.__call__).parameters
WRAPPERS: list[type] = [OldStyleWrapper]
if NEW_STYLE:  # (defined only where pluggy has them: the marker refuses wrapper=True)

    class NewStyleWrapper:
        def __init__(self, seen: list[tuple[str, str]]) -> None:
            self.seen = seen

        @impl(wrapper=True)  # type: ignore[call-overload,misc,untyped-decorator,unused-ignore]
        def targetd_register(self, register: Register) -> Generator[None, None, None]:
            self.seen.append(("before", register.plugin))
            result = yield
            self.seen.append(("after", register.plugin))
            return result

    WRAPPERS.append(NewStyleWrapper)


@pytest.mark.parametrize("wrapper", WRAPPERS)
def test_wrappers_wrap_each_plugins_registration(tmp_path: Path, wrapper: type) -> None:
    seen: list[tuple[str, str]] = []
    testing.build({}, {"good": Good(), "wrapper": wrapper(seen)}, tmp_path)
    assert seen == [("before", "core"), ("after", "core"), ("before", "good"), ("after", "good")]


def test_tracing_logs_every_hook_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from targetd_core import loader

    lines: list[str] = []
    monkeypatch.setattr(loader.log, "debug", lambda event, trace: lines.append(trace))
    pm = loader.new_plugin_manager({loader.TRACE_ENV: "1"})
    pm.register(Good(), name="good")
    loader.build_from(
        pm,
        {"core": loader.PluginInfo("core", "0"), "good": loader.PluginInfo("good", "0")},
        {"password": "x", "state_dir": str(tmp_path)},
    )
    assert any("targetd_register" in line for line in lines)


class FakeFsPool(FsPool):
    def __init__(self, name: str, fail: bool = False) -> None:
        super().__init__(name)
        self.fss = [FileSystem("fs1", "u1", 1, 1, name, f"{name}/fs1")]
        self.fail = fail

    def info(self) -> PoolInfo:
        return PoolInfo(self.name, 1, 1, "fs")

    def list_filesystems(self) -> list[FileSystem]:
        return list(self.fss)

    def create_fs(self, name: str, size_bytes: int) -> None:
        raise NotImplementedError

    def destroy_fs(self, fs: FileSystem) -> None:
        if self.fail:
            raise TargetdError(-1, "destroy failed")
        self.fss.remove(fs)

    def clone_fs(self, fs: FileSystem, dest_name: str, snapshot: Snapshot | None) -> None:
        raise NotImplementedError

    def list_snapshots(self, fs: FileSystem) -> list[Snapshot]:
        return []

    def snapshot_fs(self, fs: FileSystem, name: str) -> None:
        raise NotImplementedError

    def delete_snapshot(self, fs: FileSystem, snapshot: Snapshot) -> None:
        raise NotImplementedError


class Participant:
    """An fs pool, and a plugin that takes part in fs_destroy (as NFS does)."""

    def __init__(self, fail: bool) -> None:
        self.pool = FakeFsPool("/fs", fail)
        self.log: list[str] = []

    @impl
    def targetd_register(self, register: Register) -> None:
        register.fs_pool(self.pool)

        def step(paths: list[str]) -> Any:
            self.log.append(f"removed {paths}")
            return lambda: self.log.append("restored")

        register.on_fs_destroy(step)


@pytest.mark.parametrize("fail", [False, True])
def test_fs_destroy_participation_is_undone_when_the_destroy_fails(
    tmp_path: Path, fail: bool
) -> None:
    p = Participant(fail)
    t = testing.build({"fs_pools": ["/fs"]}, {"p": p}, tmp_path)
    if fail:
        testing.assert_error(-1, t.call, "fs_destroy", uuid="u1")
        assert p.log == ["removed ['/fs/fs1']", "restored"]
    else:
        assert t.call("fs_destroy", uuid="u1") is None
        assert p.log == ["removed ['/fs/fs1']"]


def test_assert_error_fails_on_a_result_or_another_code(tmp_path: Path) -> None:
    t = testing.build({}, {"good": Good()}, tmp_path)
    with pytest.raises(AssertionError, match="got -7100"):
        testing.assert_error(-1, t.call, "fails", kind="own")
    with pytest.raises(AssertionError, match="got the result"):
        testing.assert_error(-1, t.call, "pool_list")
    with pytest.raises(AssertionError, match="expected a start-up error"):
        testing.startup_problems({}, {"good": Good()}, tmp_path)
