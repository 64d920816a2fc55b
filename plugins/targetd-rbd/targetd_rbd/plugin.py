"""The hook implementations of the ``rbd`` plugin."""

from __future__ import annotations

from targetd_core.plugin import Declare, Register, impl

from .cluster import Cluster
from .config import OPTIONS, cluster_spec, pool_specs
from .pools import RbdPool


@impl
def targetd_declare(declare: Declare) -> None:
    declare.config_options(OPTIONS)


@impl
def targetd_register(register: Register) -> None:
    specs = pool_specs(register.config)
    if not specs:
        return  # no cluster is contacted unless an RBD pool is configured
    cluster = Cluster(cluster_spec(register.config))
    register.block_pool(*(RbdPool(s, cluster) for s in specs))
