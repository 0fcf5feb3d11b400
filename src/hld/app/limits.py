"""Every bound of the chirp app and its workers, with the reason for it."""

from __future__ import annotations

BODY_BYTES_MAX = 4096            # the largest JSON body (a 280-character post is < 2 KB)
POST_TEXT_CHARS_MAX = 280        # the product rule
USERNAME_PATTERN = r"[a-z0-9_]{3,20}"  # lower-case, url-safe: usernames appear in paths
PASSWORD_CHARS_MIN = 8
PASSWORD_CHARS_MAX = 128         # scrypt cost is per byte hashed; refuse huge passwords
TIMELINE_LIMIT_DEFAULT = 20
TIMELINE_LIMIT_MAX = 100         # posts per read: one screen, bounded hydration work
CELEBRITIES_MERGED_MAX = 50      # followed celebrities merged per home-timeline read
USER_POSTS_KEPT = 200            # a user timeline list in the store keeps this many ids
TRENDING_WINDOW_MIN = 15         # trending = hashtags counted over the last 15 minutes
TRENDING_BUCKET_TOP = 100        # tags read per minute bucket (heavy hitters only)
TRENDING_BUCKET_TTL_S = 3600     # a minute bucket outlives the window, then expires
TRENDING_RESULTS_MAX = 10
HASHTAGS_PER_POST_MAX = 10       # a post cannot pump many tags at once
FANOUT_STREAM_MAXLEN = 100_000   # approximate trim: the stream never grows without bound
SSE_CLIENTS_MAX = 500            # each live client holds a pub/sub connection to the store
SSE_HEARTBEAT_S = 15.0           # keeps proxies from timing idle streams out
SSE_RETRY_MS = 2000              # EventSource reconnect delay after the stream ends
TOPOLOGY_POLL_S = 0.5            # failover: how often topology.json is checked
STORE_TIMEOUT_S = 2.0            # a store call that takes longer fails the request (503)
STORE_CONNECTIONS_MAX = 32       # per client pool; more concurrent calls wait for one
SQL_TIMEOUT_S = 5.0              # SQLite busy timeout across app processes and workers
# An idle keep-alive connection from the gateway is kept this long (uvicorn's default is
# 5 s). The side that reuses idle connections should be the one that closes them: when
# the app closes one just as the gateway picks it from its pool (a busy gateway has not
# read the FIN yet), the request on it fails and a POST cannot be retried: a 502.
KEEP_ALIVE_S = 120.0
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1  # ~16 MB, ~50 ms: the OWASP minimum for scrypt
WORKER_BATCH_MAX = 1000          # messages read per XREADGROUP/XAUTOCLAIM call
WORKER_BLOCK_MS = 1000           # XREADGROUP BLOCK: also the longest SIGTERM takes to act
FOLLOWERS_FANOUT_MAX = 10_000    # followers read per fan-out (above it: fan-out on read)
