"""The key-value engine behind hld-store, sans-IO.

How the pieces fit (each module's docstring has the details):

* ``table``: the command table as data. ``@command(name, arity=, flags=, keys=)``
  registers a handler ``handler(client, argv) -> bytes | Block``; COMMAND answers from it.
  Handlers live in ``hld.store.commands.<family>`` (strings, keys, hashes, lists, sets,
  zsets, hll, pubsub, transactions, server, throttle; streams and replication/persistence
  commands from the durability side) and use only this package, so they run in-process.
* ``keyspace``: ``Keyspace`` holds values (types documented there), expiry (absolute
  Unix ms), memory accounting, WATCH and blocking signals, and the write listeners.
  ``items()``/``restore()`` are the snapshot interface.
* ``engine``: ``Engine.execute(client, argv)``: checks, handler, propagation of writes
  (``add_write_listener``), maxmemory enforcement, MULTI/EXEC.
* ``client``: ``Client`` (per-connection state; ``c.server`` reaches the shell) and
  ``Block`` (what a blocking handler returns).
* ``info``: INFO sections registry. ``evict``: maxmemory policies. ``pubsub``: channels
  and patterns. ``zset``, ``hll``, ``glob``: data structures.
"""
