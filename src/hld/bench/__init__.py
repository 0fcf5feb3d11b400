"""Benchmarks of each block against its best Python peer, side by side: ``hld bench NAME``.

Each module here is one benchmark (see ``hld.runtime.commands`` for the contract). Rows
name ``ours``, ``peer``, both figures and ``ratio`` = ours / peer for costs.
"""
