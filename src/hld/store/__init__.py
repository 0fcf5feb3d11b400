"""hld-store: a Redis-protocol server (asyncio shell over ``hld.core.kv``).

``server`` is the shell (uvloop, hiredis reader, one ``asyncio.Protocol`` per client),
``config`` the settings and their parsing, ``limits`` every bound with its reason,
``commands`` the command families, ``cli`` the ``hld store`` command.
"""
