"""The Redis protocol (RESP2 and RESP3), sans-IO.

``parser.RespParser`` turns bytes into values (requests or replies, RESP2 and RESP3 types,
inline commands) under explicit limits; ``serializer`` turns values into bytes. Neither
touches a socket: the store's shell feeds bytes in and writes bytes out. The shell uses
hiredis's C reader on its hot path and this parser for everything hiredis cannot do
(inline commands, header validation, RESP3 replies in tests and replication clients).
"""

from hld.core.resp.parser import (
    NEED_DATA,
    ProtocolError,
    RespParser,
    check_request_headers,
    split_inline,
)
from hld.core.resp.serializer import (
    Attribute,
    BigNumber,
    Double,
    ErrorReply,
    Map,
    Null,
    Push,
    RespSet,
    SimpleString,
    Verbatim,
    encode,
)

__all__ = [
    "NEED_DATA", "Attribute", "BigNumber", "Double", "ErrorReply", "Map", "Null",
    "ProtocolError", "Push", "RespParser", "RespSet", "SimpleString", "Verbatim",
    "check_request_headers", "encode", "split_inline",
]
