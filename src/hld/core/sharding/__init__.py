"""Sharding routers and the tools to change them safely.

``RangeRouter`` (split points, split and merge), ``HashRouter`` (modulo or ring),
``DirectoryRouter`` (explicit table with moves); ``RebalancePlan`` lists what moves
where between two configurations; ``ShardLoad`` snapshots per-shard load and hotspots.
"""

from hld.core.sharding.base import (
    DuplicateShardError,
    Key,
    Router,
    SplitPointError,
    UnknownShardError,
    UnplacedKeyError,
)
from hld.core.sharding.directory import DirectoryRouter
from hld.core.sharding.hash import HashRouter
from hld.core.sharding.plan import HashRangeMove, KeyMove, RangeMove, RebalancePlan, plan_keys
from hld.core.sharding.range import RangeRouter
from hld.core.sharding.stats import LoadStatistics, ShardLoad, load_statistics

__all__ = [
    "DirectoryRouter",
    "DuplicateShardError",
    "HashRangeMove",
    "HashRouter",
    "Key",
    "KeyMove",
    "LoadStatistics",
    "RangeMove",
    "RangeRouter",
    "RebalancePlan",
    "Router",
    "ShardLoad",
    "SplitPointError",
    "UnknownShardError",
    "UnplacedKeyError",
    "load_statistics",
    "plan_keys",
]
