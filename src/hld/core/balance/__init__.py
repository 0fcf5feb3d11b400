"""Load balancing: choose a backend for each request, sans-IO.

Every policy is a ``Balancer`` over a ``Pool`` of ``Backend`` values with a shared
``HealthTracker``; see ``base`` for the request lifecycle (pick, on_start, on_finish).
"""

from hld.core.balance.attempt import Attempt, attempt
from hld.core.balance.base import (
    EMPTY_REQUEST,
    Backend,
    Balancer,
    BalancerStatistics,
    NoBackendAvailable,
    Pool,
    Request,
)
from hld.core.balance.hashing import IpHash, KeyHash
from hld.core.balance.health import HealthStatistics, HealthTracker, OutlierDetection
from hld.core.balance.latency import LeastResponseTime
from hld.core.balance.least import LeastConnections, WeightedLeastConnections
from hld.core.balance.p2c import PowerOfTwoChoices
from hld.core.balance.random_ import RandomBalancer
from hld.core.balance.resource import ResourceBased
from hld.core.balance.round_robin import RoundRobin
from hld.core.balance.weighted import SmoothWeightedRoundRobin

__all__ = [
    "EMPTY_REQUEST",
    "Attempt",
    "Backend",
    "Balancer",
    "BalancerStatistics",
    "HealthStatistics",
    "HealthTracker",
    "IpHash",
    "KeyHash",
    "LeastConnections",
    "LeastResponseTime",
    "NoBackendAvailable",
    "OutlierDetection",
    "Pool",
    "PowerOfTwoChoices",
    "RandomBalancer",
    "Request",
    "ResourceBased",
    "RoundRobin",
    "SmoothWeightedRoundRobin",
    "WeightedLeastConnections",
    "attempt",
]
