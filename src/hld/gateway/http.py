"""HTTP/1.1 request checks and the responses the gateway writes itself.

llhttp (through httptools) already refuses the grammar-level attacks: Content-Length
together with Transfer-Encoding, duplicate Content-Length, bad characters in names and
values, obsolete line folding, chunk-size overflow. ``check_head`` adds what a proxy
must refuse on top, because the upstream may parse differently (request smuggling) or
trust what the proxy passes on (hop-by-hop abuse, path tricks). Each refusal is a
``Refusal`` with the status to answer and a sentence naming the problem.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from hld.core.resilience import DEADLINE_HEADER
from hld.gateway import limits

# Headers that describe one connection, not the message: never forwarded (RFC 9110 7.6.1).
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer",
    b"transfer-encoding", b"upgrade", b"proxy-authorization", b"proxy-authenticate",
})
# Tokens a client may put in Connection; anything else would make a proxy drop an
# end-to-end header (Connection: Authorization, X-Forwarded-For ...).
CONNECTION_TOKENS = frozenset({b"keep-alive", b"close", b"upgrade", b"te"})
_SPECIAL_REQUEST_HEADERS = frozenset({b"host", b"content-length", b"transfer-encoding",
                                      b"connection", b"upgrade", b"expect", b"x-request-id",
                                      b"traceparent", DEADLINE_HEADER.encode(),
                                      b"authorization"})
_DEADLINE_NAME = DEADLINE_HEADER.encode()
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_ENCODED_SEPARATOR = re.compile(rb"%(2f|5c|00)", re.IGNORECASE)

REASONS = {
    100: "Continue", 101: "Switching Protocols", 200: "OK", 204: "No Content",
    304: "Not Modified", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
    413: "Content Too Large", 414: "URI Too Long", 417: "Expectation Failed",
    429: "Too Many Requests", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported",
}


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    message: str
    close: bool = True  # framing can no longer be trusted after most refusals
    headers: tuple[tuple[str, str], ...] = ()  # e.g. Retry-After on a 429


@dataclass(slots=True)
class RequestHead:
    method: bytes
    target: bytes
    version: str
    headers: list[tuple[bytes, bytes]]  # names lower-cased, in arrival order
    header_bytes: int
    path: bytes = b""  # the decoded, checked path used for routing and authorisation
    query: bytes = b""
    host: bytes = b""
    content_length: int | None = None
    chunked: bool = False
    upgrade: bytes = b""  # b"websocket" for a WebSocket handshake
    expect_continue: bool = False
    keep_alive: bool = True
    # First values of headers every request looks at, captured by check_head's one pass.
    request_id: bytes | None = None
    traceparent: bytes | None = None
    deadline: bytes | None = None
    authorization: bytes | None = None

    def get(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


def check_head(head: RequestHead) -> Refusal | None:
    """Refuse what a proxy must not pass on; fill in the derived fields otherwise."""
    if head.version not in ("1.1", "1.0"):
        return Refusal(505, f"HTTP/{head.version} is not supported; use HTTP/1.1")
    if len(head.target) > limits.URI_BYTES_MAX:
        return Refusal(414, f"request target longer than {limits.URI_BYTES_MAX} bytes")
    if len(head.headers) > limits.HEADER_COUNT_MAX:
        return Refusal(431, f"more than {limits.HEADER_COUNT_MAX} header fields")
    if head.header_bytes > limits.HEADER_BYTES_MAX:
        return Refusal(431, f"header fields larger than {limits.HEADER_BYTES_MAX} bytes")
    if head.method == b"CONNECT":
        return Refusal(405, "CONNECT is not supported by this gateway")
    hosts = 0
    lengths = 0
    encodings = 0
    headers = head.headers
    # One scan of all values (joined by a tab, which values may contain) instead of one
    # regex call per header; the slow loop below names the culprit.
    if _CONTROL.search(b"\t".join([value for _, value in headers])):
        for name, value in headers:
            if _CONTROL.search(value):
                return Refusal(400, f"control character in header {name.decode()!r}")
    for name, value in headers:
        if name not in _SPECIAL_REQUEST_HEADERS:
            continue
        if name == b"host":
            hosts += 1
            head.host = value.strip().lower()
        elif name == b"content-length":
            lengths += 1
            text = value.strip()
            if not text.isdigit():
                return Refusal(400, "Content-Length must be a non-negative decimal number")
            head.content_length = int(text)
        elif name == b"transfer-encoding":
            encodings += 1
            coding = value.strip().lower()
            if coding != b"chunked":
                if re.fullmatch(rb"[a-z0-9-]+", coding) and coding != b"identity":
                    return Refusal(501, f"Transfer-Encoding {coding.decode()!r} is not supported")
                return Refusal(400, "Transfer-Encoding must be exactly 'chunked'")
            head.chunked = True
        elif name == b"connection":
            for item in value.lower().split(b","):
                token = item.strip()
                if token and token not in CONNECTION_TOKENS:
                    return Refusal(400, f"Connection may not name {token.decode('latin-1')!r}; "
                                        "only keep-alive, close and upgrade are accepted")
        elif name == b"upgrade":
            head.upgrade = value.strip().lower()
        elif name == b"expect":
            if value.strip().lower() != b"100-continue":
                return Refusal(417, "only 'Expect: 100-continue' is supported", close=False)
            head.expect_continue = True
        elif name == b"x-request-id":
            if head.request_id is None:
                head.request_id = value
        elif name == b"traceparent":
            if head.traceparent is None:
                head.traceparent = value
        elif name == _DEADLINE_NAME:
            if head.deadline is None:
                head.deadline = value
        elif name == b"authorization" and head.authorization is None:
            head.authorization = value
    if hosts != 1 and (hosts or head.version == "1.1"):
        return Refusal(400, "exactly one Host header is required")
    if lengths > 1:
        return Refusal(400, "more than one Content-Length header")
    if encodings > 1:
        return Refusal(400, "more than one Transfer-Encoding header")
    if lengths and encodings:
        return Refusal(400, "Content-Length together with Transfer-Encoding")
    if head.content_length is not None and head.content_length > limits.BODY_BYTES_MAX:
        return Refusal(413, f"body larger than {limits.BODY_BYTES_MAX} bytes")
    if head.upgrade and head.upgrade != b"websocket":
        head.upgrade = b""  # h2c and friends: ignore the offer, answer in HTTP/1.1
    return _check_target(head)


def _check_target(head: RequestHead) -> Refusal | None:
    target = head.target
    if head.method == b"OPTIONS" and target == b"*":
        head.path = b"*"
        return None
    if not target.startswith(b"/"):
        return Refusal(400, "request target must be a path starting with '/'")
    raw_path, _, head.query = target.partition(b"?")
    if b"#" in raw_path or b"\\" in raw_path:
        return Refusal(400, "fragment or backslash in the request path")
    if b"%" in raw_path:
        if _ENCODED_SEPARATOR.search(raw_path):
            return Refusal(400, "encoded '/', '\\' or NUL in the request path")
        path = unquote_to_bytes(raw_path)
    else:
        path = raw_path  # the common case: nothing to decode
    if b"//" in path:
        return Refusal(400, "empty segment ('//') in the request path")
    if b"/." in path:
        for segment in path.split(b"/"):
            if segment in (b".", b".."):
                return Refusal(400, "dot segment ('.' or '..') in the request path")
    if _CONTROL.search(path) or b"\x09" in path:
        return Refusal(400, "control character in the request path")
    head.path = path
    return None


_STATUS_LINES = {code: f"HTTP/1.1 {code} {reason}\r\n".encode() for code, reason in REASONS.items()}


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    return line if line is not None else f"HTTP/1.1 {status} Unknown\r\n".encode()


def accepts_gzip(accept_encoding: bytes | None) -> bool:
    """Whether an Accept-Encoding value admits gzip: listed (or x-gzip) with a q-value
    above 0, or not listed while ``*`` is (RFC 9110 12.5.3); ``gzip;q=0`` refuses it."""
    if not accept_encoding:
        return False
    wildcard = False
    for item in accept_encoding.split(b","):
        coding, _, params = item.partition(b";")
        coding = coding.strip().lower()
        quality = 1.0
        for param in params.split(b";"):
            name, _, value = param.partition(b"=")
            if name.strip().lower() == b"q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0  # a malformed weight admits nothing
        if coding in (b"gzip", b"x-gzip"):
            return quality > 0.0
        if coding == b"*":
            wildcard = quality > 0.0
    return wildcard


def error_response(status: int, message: str, request_id: str, *, close: bool = False,
                   keep_alive: bool = False, extra: list[tuple[str, str]] | None = None,
                   head_only: bool = False) -> bytes:
    """A JSON error the gateway answers itself: ``{"error", "status", "request_id"}``;
    ``close`` or ``keep_alive`` (for an HTTP/1.0 client) add that Connection header."""
    body = json.dumps({"error": message, "status": status, "request_id": request_id}).encode()
    lines = [status_line(status),
             b"content-type: application/json\r\n",
             b"content-length: %d\r\n" % len(body),
             b"x-request-id: " + request_id.encode() + b"\r\n",
             b"cache-control: no-store\r\n"]
    for name, value in extra or ():
        lines.append(f"{name}: {value}\r\n".encode())
    if close:
        lines.append(b"connection: close\r\n")
    elif keep_alive:
        lines.append(b"connection: keep-alive\r\n")
    lines.append(b"\r\n")
    if not head_only:
        lines.append(body)
    return b"".join(lines)
