"""chirp: the reference application (the roadmap's Twitter practice design) and its workers.

``hld app`` serves the JSON API (``web``), ``hld worker`` fans posts out to home timelines
(``worker``). Users, follows and posts live in SQL (``sql``); timelines, counters, sessions,
the fan-out stream and live channels live in the store; profiles and posts are cached in
the cache node (``service``). Key names are in ``keys``, every bound in ``limits``.

By hand, on one store server (hld-store or redis-server) used as store and cache::

    hld store --port 7379 --dir /tmp/chirp &
    hld app --port 8101 --store redis://127.0.0.1:7379 --cache redis://127.0.0.1:7379 \\
        --data-dir /tmp/chirp &
    hld worker --index 1 --store redis://127.0.0.1:7379 --cache redis://127.0.0.1:7379 \\
        --data-dir /tmp/chirp &
    curl -X POST localhost:8101/api/signup -d '{"username":"ada","password":"lovelace1"}'

(``python -m hld.app.cli`` and ``python -m hld.app.worker_cli`` take the same flags.)
"""
