"""hld: the high-level-design roadmap made real.

Three faces, one codebase: ``hld.core`` holds sans-IO building blocks (caches, hashing,
sharding, balancing, rate limiting, resilience, the Redis protocol, ...); ``hld up`` runs
them as a real system on loopback; ``hld lab`` and ``hld bench`` measure every trade-off.
"""

__version__ = "0.1.0"
