"""Every bound the gateway enforces, with the reason for its value.

Requests that exceed a limit get a 4xx naming it; the connection that sent them is
closed when the framing can no longer be trusted.
"""

from __future__ import annotations

# -- client requests -----------------------------------------------------------------
# nginx's large_client_header_buffers default is 4 x 8k; a URI beyond 8 KiB is refused.
URI_BYTES_MAX = 8 * 1024
# All header lines together; more is an attack or a cookie accident.
HEADER_BYTES_MAX = 32 * 1024
# Browsers send ~20 headers; 100 leaves room for proxies and tracing.
HEADER_COUNT_MAX = 100
# Bodies are buffered before forwarding (so retries stay possible until sent); bound it.
BODY_BYTES_MAX = 8 * 1024 * 1024
# Slowloris: the whole request head must arrive within this time.
HEADER_TIMEOUT_S = 10.0
# ... and a body may not stall longer than this between two reads, nor take longer
# than BODY_TIMEOUT_S in total.
BODY_IDLE_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 60.0
# An idle keep-alive connection is closed after this long (nginx: 75 s).
KEEPALIVE_TIMEOUT_S = 75.0
# Pipelined requests parsed ahead of the one in progress; beyond it reading pauses.
PIPELINE_DEPTH_MAX = 16
# Bytes a client may send after an Upgrade request before the upstream's 101 arrives.
UPGRADE_EARLY_BYTES_MAX = 64 * 1024
# Client connections per worker process; beyond it new connections are closed at once.
CLIENT_CONNECTIONS_MAX = 20_000
# A connection remembers its last request, to skip parsing it when it comes again, only
# up to this size: an idle connection must not hold extra copies of a large head.
REPEAT_BYTES_MAX = 4 * 1024
# Response heads up to this size are remembered for the one-step path (at most
# upstream.WHOLE_HEADS_MAX of them, with what the proxy derives from each); larger ones
# always go through the parser.
KNOWN_HEAD_BYTES_MAX = 4 * 1024
# A client's write buffer: above HIGH the proxy stops reading the upstream's response,
# below LOW it reads on.
WRITE_BUFFER_HIGH_BYTES = 256 * 1024
WRITE_BUFFER_LOW_BYTES = 64 * 1024

# -- upstreams -----------------------------------------------------------------------
UPSTREAM_CONNECT_TIMEOUT_S = 2.0
# Request deadlines are checked by one timer per worker at this interval (a timer per
# request cost several microseconds); a 504 may come this much after the deadline.
DEADLINE_TICK_S = 0.02
# Default request deadline when neither the route nor the client sets one.
UPSTREAM_TIMEOUT_S = 30.0
# Idle keep-alive connections kept per backend.
UPSTREAM_IDLE_PER_BACKEND_MAX = 256
# An upstream response head larger than this is treated as a broken upstream (502).
UPSTREAM_HEADER_BYTES_MAX = 64 * 1024
# Attempts per request including the first, whatever the route says.
ATTEMPTS_MAX = 5

# -- response cache -----------------------------------------------------------------
CACHE_ENTRY_BYTES_MAX = 1024 * 1024

# -- tokens ----------------------------------------------------------------------------
AUTHORIZATION_BYTES_MAX = 8 * 1024
# A subject or role list passed upstream in x-auth-* headers is cut at this length.
IDENTITY_VALUE_BYTES_MAX = 1024
