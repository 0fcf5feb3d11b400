"""hld-gateway: the HTTP/1.1 reverse proxy and API gateway at the edge of the system.

The shell is callback-driven asyncio protocols over httptools (llhttp) on uvloop: a
request that needs no waiting runs from ``data_received`` to the upstream write without
creating a task. Decisions come from the sans-IO blocks: ``core.balance`` picks the
backend, ``core.resilience`` breaks circuits, budgets retries and bounds concurrency,
``core.limit`` rate-limits, ``core.auth`` verifies tokens and authorises, ``core.cache``
holds cached responses.
"""
