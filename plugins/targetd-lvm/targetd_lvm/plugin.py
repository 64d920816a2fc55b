"""The hook implementations of the ``lvm`` plugin."""

from __future__ import annotations

from targetd_core.plugin import Core, Declare, Register, impl

from .config import OPTIONS, pool_specs
from .pools import LvmPool, ThinPool, VgPool


@impl
def targetd_declare(declare: Declare) -> None:
    declare.config_options(OPTIONS)


def make_pools(core: Core) -> list[LvmPool]:
    """The pool objects for the configuration (ConfigError if it is inconsistent)."""
    given = {key for key in ("block_pools", "pool_name") if core.config.raw_has(key)}
    pools: list[LvmPool] = []
    for spec in pool_specs(core.config, given):
        if spec.thin_pool is None:
            zero = bool(core.config.get("lvm_zero_new_volumes", True))
            pools.append(VgPool(spec.name, spec.vg, core.lock, spec.key, zero_new=zero))
        else:
            pools.append(ThinPool(spec.name, spec.vg, spec.thin_pool, core.lock, spec.key))
    return pools


@impl
def targetd_register(register: Register) -> None:
    register.block_pool(*make_pools(register.core))
