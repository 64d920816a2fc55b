"""The hook implementations of the ``rbd`` plugin."""

from __future__ import annotations

from targetd_core.plugin import ConfigError, Declare, Register, impl

from .cluster import Cluster
from .config import GATEWAY_KEY, OPTIONS, cluster_spec, gateway_id, pool_specs
from .pools import RbdPool


@impl
def targetd_declare(declare: Declare) -> None:
    declare.config_options(OPTIONS)


@impl
def targetd_register(register: Register) -> None:
    specs = pool_specs(register.config)
    if not specs:
        return  # no cluster is contacted unless an RBD pool is configured
    try:
        gateway = gateway_id(register.config)
    except ValueError as exc:
        raise ConfigError(GATEWAY_KEY, str(exc)) from None
    cluster = Cluster(cluster_spec(register.config))
    register.block_pool(*(RbdPool(s, cluster, gateway) for s in specs))
