"""chirp: the reference application (the roadmap's Twitter practice design) and its workers.

``hld app`` serves the JSON API (``web``), ``hld worker`` fans posts out to home timelines
(``worker``). Users, follows and posts live in SQL (``sql``); timelines, counters, sessions,
the fan-out stream and live channels live in the store; profiles and posts are cached in
the cache node (``service``). Key names are in ``keys``, every bound in ``limits``.
"""
