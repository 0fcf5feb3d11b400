"""Hash functions shared by the hashing schemes.

Two kinds of hashing happen in a scheme, with different needs:

* **Build time** (a node's ring points, Maglev's offset and skip, rendezvous seeds) runs
  once per membership change, so quality matters and cost does not: blake2b.
* **Lookup time** (the key) runs on every request, so cost matters: ``zlib.crc32`` is a
  C call without a hash object to allocate, about a seventh of the cost of
  ``hashlib.md5(...).digest()`` here. It is 32 bits; where a scheme needs 64 (jump hash,
  rendezvous scores) ``mix64`` spreads it with murmur3's finaliser. crc32 is linear, so
  it must never be compared against points made by crc32 as well: points come from
  blake2b, and the lab's load figures show keys land on arcs in proportion to arc length.

The ketama and md5 helpers reproduce the placements of the ketama convention (and of
uhashring's default mode) so rings built here can stand in for those clients. For md5 they
prefer CPython's built-in implementation (``_md5``) over ``hashlib.md5``: both compute the
same digest, but ``hashlib.md5`` goes through OpenSSL's EVP layer, whose per-call set-up
costs about three times the hashing of a short key here.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from hashlib import blake2b
from typing import Protocol
from zlib import crc32


class _Digest(Protocol):
    def digest(self) -> bytes: ...


def _pick_md5() -> Callable[[bytes], _Digest]:
    try:
        import _md5  # type: ignore[import-not-found]  # CPython's built-in md5
    except ImportError:  # a build without it: OpenSSL's, same digests
        from hashlib import md5 as openssl_md5

        return openssl_md5
    return _md5.md5  # type: ignore[no-any-return]


md5: Callable[[bytes], _Digest] = _pick_md5()

# The first 4 bytes of a digest as a little-endian unsigned int (ketama's reading).
first_u32_le: Callable[[bytes], tuple[int]] = struct.Struct("<I").unpack_from

MASK64 = (1 << 64) - 1
MASK32 = (1 << 32) - 1

# murmur3 fmix64 constants (shared with the schemes that inline the finaliser).
FMIX_C1 = 0xFF51AFD7ED558CCD
FMIX_C2 = 0xC4CEB9FE1A85EC53


def key_bytes(key: str | bytes) -> bytes:
    """The bytes a key is hashed as: UTF-8 for ``str``, unchanged for ``bytes``."""
    if isinstance(key, str):
        return key.encode()
    if isinstance(key, bytes):
        return key
    raise TypeError(f"keys are str or bytes, not {type(key).__name__}")


def key_hash32(key: str | bytes) -> int:
    """The 32-bit lookup hash of a key (crc32 of its bytes)."""
    return crc32(key_bytes(key))


def mix64(value: int) -> int:
    """murmur3's 64-bit finaliser: every input bit affects every output bit."""
    value &= MASK64
    value ^= value >> 33
    value = (value * FMIX_C1) & MASK64
    value ^= value >> 33
    value = (value * FMIX_C2) & MASK64
    value ^= value >> 33
    return value


def key_hash64(key: str | bytes) -> int:
    """The 64-bit lookup hash of a key: crc32 spread over 64 bits."""
    return mix64(crc32(key_bytes(key)))


def label_hash32(label: str, salt: bytes = b"") -> int:
    """A build-time 32-bit hash of a label (a ring point's name)."""
    return int.from_bytes(blake2b(label.encode(), digest_size=4, salt=salt).digest(), "big")


def label_hash64(label: str, salt: bytes = b"") -> int:
    """A build-time 64-bit hash of a label (Maglev offset/skip, rendezvous seed)."""
    return int.from_bytes(blake2b(label.encode(), digest_size=8, salt=salt).digest(), "big")


def ketama_points(label: str, replicas: int) -> list[int]:
    """The ketama points of one label: 4-byte little-endian slices of its md5 digest."""
    digest = md5(label.encode()).digest()  # ketama is defined on md5; not used for security
    return [int.from_bytes(digest[4 * i: 4 * i + 4], "little") for i in range(replicas)]


def ketama_key(key: str | bytes) -> int:
    """The ketama position of a key: the first 4 md5 bytes, little-endian."""
    return first_u32_le(md5(key_bytes(key)).digest())[0]


def md5_digest(label: str | bytes) -> bytes:
    """The md5 digest; compared as bytes it orders like md5 read as a big-endian integer."""
    return md5(key_bytes(label)).digest()
