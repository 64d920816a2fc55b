"""Test-only plugin: claims the pools named in ``clash_pools`` (which the example plugin
may claim too) and, when ``clash_methods`` is true, registers ``example_echo`` again."""

from __future__ import annotations

from targetd_example.plugin import FilePool

from targetd_core.plugin import ConfigOption, Core, RpcMethod, impl, rpc_method


@rpc_method(changes_storage=False)
def example_echo(text: str) -> str:
    return text


@impl
def targetd_config_options() -> list[ConfigOption]:
    return [
        ConfigOption("clash_pools", list[str], []),
        ConfigOption("clash_methods", bool, False),
    ]


@impl
def targetd_block_pools(core: Core) -> list[FilePool]:
    return [FilePool(d) for d in core.config["clash_pools"]]


@impl
def targetd_rpc_methods(core: Core) -> list[RpcMethod]:
    return [example_echo] if core.config["clash_methods"] else []
