"""Test-only plugin: claims the pools named in ``clash_pools`` (which the example plugin
may claim too) and, when ``clash_methods`` is true, registers ``example_echo`` again."""

from __future__ import annotations

from targetd_example.plugin import FilePool

from targetd_core.plugin import ConfigOption, Declare, Register, impl, rpc_method


@rpc_method(changes_storage=False)
def example_echo(text: str) -> str:
    return text


@impl
def targetd_declare(declare: Declare) -> None:
    declare.config_option(
        ConfigOption("clash_pools", list[str], []),
        ConfigOption("clash_methods", bool, False),
    )


@impl
def targetd_register(register: Register) -> None:
    register.block_pool(*(FilePool(d) for d in register.config["clash_pools"]))
    if register.config["clash_methods"]:
        register.rpc_method(example_echo)
