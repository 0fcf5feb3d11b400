"""The control plane of the reference system: start it, watch it, break it.

``system`` reads ``system.toml`` (or embedded defaults); ``supervisor`` runs each
component as its own process; ``faults`` puts a fault-injecting TCP proxy in front of
every service; ``plane`` ties them together (failover, live policy switches, metrics
scraping, the event log) and ``up`` is the ``hld up`` command.
"""
