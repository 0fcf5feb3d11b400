"""Attacks on the gateway, each refused with a clear 4xx (501 for an unknown transfer
coding) and never forwarded: the upstream's hit counter stays where it was.

Raw sockets send the bytes exactly as an attacker would; JWTs are forged with PyJWT and
hmac by hand; X-Forwarded-For rotation comes from an untrusted address (127.0.0.1) and
honest forwarding from a trusted proxy address (127.0.0.2, also loopback on Linux).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
from contextlib import ExitStack

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.gateway.conftest import (
    GatewayProcess,
    Upstream,
    running_gateway,
    running_upstream,
    start,
)

pytestmark = pytest.mark.blackbox

SECRET = "attack-test-secret-of-at-least-32-bytes"  # noqa: S105 - a test key
ISSUER, AUDIENCE = "hld-test", "api"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def victim(processes: ExitStack) -> Upstream:
    return start(processes, running_upstream("victim"))


@pytest.fixture(scope="module")
def gw(processes: ExitStack, victim: Upstream, rsa_key: rsa.RSAPrivateKey,
       tmp_path_factory: pytest.TempPathFactory) -> GatewayProcess:
    directory = tmp_path_factory.mktemp("gw")
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    (directory / "jwks.json").write_text(json.dumps(
        {"keys": [{**jwk, "kid": "rs", "alg": "RS256"}]}))
    config = f"""
[gateway]
header_timeout_s = 1.0
body_idle_timeout_s = 1.0
body_timeout_s = 3.0
trusted_proxies = ["127.0.0.2"]

[upstreams.victim]
servers = ["{victim.url}"]

[auth.jwt]
jwks_file = "{directory / 'jwks.json'}"
hmac_secrets = {{ hs = "{SECRET}" }}
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
leeway_s = 5

[[routes]]
name = "private"
prefix = "/private/"
rewrite = "/echo/"
upstream = "victim"
auth = "jwt"

[[routes]]
name = "limited"
prefix = "/limited/"
rewrite = "/echo/"
upstream = "victim"
rate_limit = {{ rate = 3, per_s = 60, burst = 3, key = "ip" }}

[[routes]]
name = "open"
prefix = "/"
upstream = "victim"
"""
    return start(processes, running_gateway(config, directory))


def send_raw(gw: GatewayProcess, data: bytes, *, source: str = "127.0.0.1",
             timeout_s: float = 5.0) -> bytes:
    """Send ``data``, half-close, and read until the gateway closes (or times out)."""
    with socket.create_connection(("127.0.0.1", gw.port), timeout=timeout_s,
                                  source_address=(source, 0)) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
    return b"".join(chunks)


def status_of(response: bytes) -> int:
    assert response.startswith(b"HTTP/1.1 "), response[:200]
    return int(response[9:12])


@pytest.fixture(scope="module")
def client(gw: GatewayProcess) -> httpx.Client:
    with gw.client() as c:
        yield c


@pytest.fixture
def unforwarded(victim: Upstream) -> object:
    """Asserts after the test that the upstream saw no request at all."""
    before = victim.hits()
    yield None
    assert victim.hits() == before


# -- request smuggling and framing --------------------------------------------------------

SMUGGLING = {
    "cl_and_te": b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
    "duplicate_cl": b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    "conflicting_cl": b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "cl_list": b"Content-Length: 5, 5\r\n\r\nhello",
    "cl_sign": b"Content-Length: +5\r\n\r\nhello",
    "te_space_before_colon": b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    "te_chunked_identity": b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    "te_identity": b"Transfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello",
    "te_twice": b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te_tab_with_cl": b"Transfer-Encoding:\tchunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    "te_folded": b"Transfer-Encoding: identity\r\n\tchunked\r\n\r\n0\r\n\r\n",
    "te_leading_space_line": b" Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "cr_in_value": b"X-Note: a\rb\r\n\r\n",
    "nul_in_value": b"X-Note: a\x00b\r\n\r\n",
    "bare_lf_line_end": b"X-Note: a\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "space_in_name": b"X Note: a\r\n\r\n",
    "bad_chunk_size": b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "chunk_size_overflow": b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nx\r\n",
    "two_hosts": b"Host: other\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(SMUGGLING))
@pytest.mark.usefixtures("unforwarded")
def test_smuggling_and_malformed_framing_are_refused(gw: GatewayProcess, name: str) -> None:
    response = send_raw(gw, b"POST /echo HTTP/1.1\r\nHost: x\r\n" + SMUGGLING[name])
    assert status_of(response) == 400
    assert b'"error"' in response
    assert response.count(b"HTTP/1.1") == 1  # nothing smuggled behind it was answered


@pytest.mark.parametrize("coding", [b"xchunked", b"gzip", b"compress"])
@pytest.mark.usefixtures("unforwarded")
def test_unknown_transfer_coding_is_501(gw: GatewayProcess, coding: bytes) -> None:
    response = send_raw(gw, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + coding
                        + b"\r\n\r\n")
    assert status_of(response) == 501


def test_a_legal_tab_before_chunked_is_read_as_chunked_and_reframed(
        gw: GatewayProcess, victim: Upstream) -> None:
    response = send_raw(gw, b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                            b"Transfer-Encoding:\tchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    assert status_of(response) == 200
    echoed = json.loads(response.partition(b"\r\n\r\n")[2])
    assert (echoed["body_bytes"], echoed["headers"].get("transfer-encoding"),
            echoed["headers"]["content-length"]) == (5, None, "5")


# -- sizes ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("unforwarded")
def test_oversized_uri_is_414(gw: GatewayProcess) -> None:
    response = send_raw(gw, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(response) == 414


@pytest.mark.usefixtures("unforwarded")
def test_oversized_headers_are_431(gw: GatewayProcess) -> None:
    response = send_raw(gw, b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 40_000
                        + b"\r\n\r\n")
    assert status_of(response) == 431


@pytest.mark.usefixtures("unforwarded")
def test_too_many_headers_are_431(gw: GatewayProcess) -> None:
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
    response = send_raw(gw, b"GET /echo HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert status_of(response) == 431


@pytest.mark.usefixtures("unforwarded")
def test_oversized_declared_body_is_413_before_it_is_sent(gw: GatewayProcess) -> None:
    response = send_raw(gw, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 9000000\r\n\r\n")
    assert status_of(response) == 413


@pytest.mark.usefixtures("unforwarded")
def test_oversized_chunked_body_is_413(gw: GatewayProcess) -> None:
    chunk = b"x" * (1 << 20)
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(12):
                sock.sendall(b"100000\r\n" + chunk + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = sock.recv(4096)
    assert status_of(response) == 413


# -- slow clients ---------------------------------------------------------------------------


@pytest.mark.usefixtures("unforwarded")
def test_slowloris_on_headers_is_cut_off(gw: GatewayProcess) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
        sock.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n")
        for _ in range(3):  # a header line every 0.3 s never completes the head
            time.sleep(0.3)
            sock.sendall(b"X-Slow: 1\r\n")
        response = sock.recv(4096)
        assert sock.recv(4096) == b""  # and the connection is closed
    assert status_of(response) == 408
    assert time.monotonic() - started < 4.0


@pytest.mark.usefixtures("unforwarded")
def test_slowloris_on_the_body_is_cut_off(gw: GatewayProcess) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        response = sock.recv(4096)
        assert sock.recv(4096) == b""
    assert status_of(response) == 408
    assert b"body" in response
    assert time.monotonic() - started < 4.0


def test_idle_keepalive_connections_are_closed(gw: GatewayProcess) -> None:
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
        started = time.monotonic()
        assert sock.recv(4096) == b""  # opened, nothing sent: the head timeout applies
    assert time.monotonic() - started < 4.0


# -- paths and hop-by-hop headers ------------------------------------------------------------

PATHS = [b"/%2e%2e/etc/passwd", b"/echo/%2E%2E/%2e%2e/x", b"/echo/..", b"/./echo",
         b"/a%2fb", b"/a%2Fb", b"/a%5cb", b"//echo", b"/echo//x", b"/a\\b", b"/a%00b",
         b"http://evil.example/echo", b"*"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.usefixtures("unforwarded")
def test_path_tricks_are_refused(gw: GatewayProcess, path: bytes) -> None:
    response = send_raw(gw, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(response) == 400


@pytest.mark.parametrize("token", [b"Authorization", b"X-Forwarded-For", b"keep-alive, Cookie",
                                   b"X-Auth-Subject"])
@pytest.mark.usefixtures("unforwarded")
def test_connection_header_may_not_name_end_to_end_headers(gw: GatewayProcess,
                                                           token: bytes) -> None:
    response = send_raw(gw, b"GET /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
                            b"Connection: " + token + b"\r\n\r\n")
    assert status_of(response) == 400


def test_hop_by_hop_headers_are_not_forwarded(client: httpx.Client) -> None:
    headers = client.get("/echo", headers={
        "te": "trailers", "keep-alive": "timeout=5", "proxy-authorization": "Basic x",
        "upgrade": "h2c", "trailer": "x"}).json()["headers"]
    assert [h for h in ("te", "keep-alive", "proxy-authorization", "upgrade", "trailer")
            if h in headers] == []


# -- JWT -------------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**extra: object) -> dict[str, object]:
    now = time.time()
    return {"sub": "mallory", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 600, **extra}


def forged_tokens(key: rsa.RSAPrivateKey) -> dict[str, str]:
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    head_none = b64(json.dumps({"alg": "none", "kid": "rs"}).encode())
    head_hs_rs = b64(json.dumps({"alg": "HS256", "kid": "rs", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims()).encode())
    confused = hmac.new(public_pem, f"{head_hs_rs}.{body}".encode(), hashlib.sha256).digest()
    rs = {"kid": "rs"}
    hs = {"kid": "hs"}
    return {
        "alg_none": f"{head_none}.{body}.",
        "alg_none_upper": b64(b'{"alg":"NONE"}') + f".{body}.",
        "hmac_with_rsa_public_key": f"{head_hs_rs}.{body}.{b64(confused)}",
        "expired": jwt.encode(claims(exp=time.time() - 3600), key, "RS256", headers=rs),
        "not_yet_valid": jwt.encode(claims(nbf=time.time() + 3600), key, "RS256", headers=rs),
        "wrong_audience": jwt.encode(claims(aud="other"), key, "RS256", headers=rs),
        "wrong_issuer": jwt.encode(claims(iss="evil"), key, "RS256", headers=rs),
        "no_exp": jwt.encode({k: v for k, v in claims().items() if k != "exp"}, key, "RS256",
                             headers=rs),
        "kid_path": jwt.encode(claims(), SECRET, "HS256", headers={"kid": "../../dev/null"}),
        "kid_sql": jwt.encode(claims(), SECRET, "HS256", headers={"kid": "x' OR '1'='1"}),
        "kid_unknown": jwt.encode(claims(), SECRET, "HS256", headers={"kid": "nope"}),
        "jku_header": jwt.encode(claims(), key, "RS256",
                                 headers={**rs, "jku": "http://evil/jwks"}),
        "wrong_secret": jwt.encode(claims(), "x" * 40, "HS256", headers=hs),
        "rs_key_as_hs_kid": jwt.encode(claims(), key, "RS256", headers=hs),
        "oversized": jwt.encode(claims(pad="p" * 9000), SECRET, "HS256", headers=hs),
        "garbage": "not.a.token",
    }


ATTACKS = ("alg_none", "alg_none_upper", "hmac_with_rsa_public_key", "expired",
           "not_yet_valid", "wrong_audience", "wrong_issuer", "no_exp", "kid_path", "kid_sql",
           "kid_unknown", "jku_header", "wrong_secret", "rs_key_as_hs_kid", "oversized",
           "garbage")


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.usefixtures("unforwarded")
def test_forged_or_invalid_jwt_is_401(client: httpx.Client, rsa_key: rsa.RSAPrivateKey,
                                      attack: str) -> None:
    token = forged_tokens(rsa_key)[attack]
    reply = client.get("/private/me", headers={"authorization": f"Bearer {token}"})
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"] == "Bearer"


@pytest.mark.usefixtures("unforwarded")
def test_missing_or_non_bearer_credentials_are_401(client: httpx.Client) -> None:
    statuses = [client.get("/private/me", headers=h).status_code
                for h in ({}, {"authorization": "Basic YTpi"}, {"authorization": "Bearer"})]
    assert statuses == [401, 401, 401]


def test_valid_tokens_of_both_keys_pass(client: httpx.Client,
                                        rsa_key: rsa.RSAPrivateKey) -> None:
    tokens = [jwt.encode(claims(sub="rs-user"), rsa_key, "RS256", headers={"kid": "rs"}),
              jwt.encode(claims(sub="hs-user"), SECRET, "HS256", headers={"kid": "hs"})]
    subjects = [client.get("/private/me", headers={"authorization": f"Bearer {t}"})
                .json()["headers"]["x-auth-subject"] for t in tokens]
    assert subjects == ["rs-user", "hs-user"]


# -- rate limits and X-Forwarded-For -----------------------------------------------------------


def limited(gw: GatewayProcess, source: str, forwarded_for: str) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=source, verify=False)
    with httpx.Client(transport=transport, verify=False) as client:  # noqa: S501 - plain HTTP
        return client.get(gw.url + "/limited/x", headers={"x-forwarded-for": forwarded_for})


def test_rotating_x_forwarded_for_does_not_dodge_the_per_ip_limit(gw: GatewayProcess) -> None:
    replies = [limited(gw, "127.0.0.1", f"10.0.0.{i}") for i in range(5)]
    assert [r.status_code for r in replies] == [200, 200, 200, 429, 429]
    refused = replies[3]
    assert int(refused.headers["retry-after"]) >= 1
    assert (refused.headers["ratelimit-limit"], refused.headers["ratelimit-remaining"]) == \
        ("3", "0")
    assert int(refused.headers["ratelimit-reset"]) >= 1


def test_trusted_proxy_forwarded_clients_are_counted_from_the_right(
        gw: GatewayProcess) -> None:
    # Through the trusted proxy 127.0.0.2, the client is the rightmost untrusted hop;
    # whatever the client itself put on the left does not matter.
    first = [limited(gw, "127.0.0.2", f"6.6.6.{i}, 9.9.9.1").status_code for i in range(4)]
    second = limited(gw, "127.0.0.2", "9.9.9.2")
    assert first == [200, 200, 200, 429]
    assert second.status_code == 200
    assert second.json()["headers"]["x-forwarded-for"] == "9.9.9.2, 127.0.0.2"


def test_refusals_are_logged_with_their_reason(gw: GatewayProcess) -> None:
    time.sleep(0.3)  # the access log is flushed by the sweep
    refused = [r for r in gw.log_records() if r.get("event") == "refused"]
    assert refused
    assert all(r["reason"] and r["status"] >= 400 for r in refused)


def test_a_bad_request_pipelined_behind_a_good_one_waits_for_its_answer(
        gw: GatewayProcess, victim: Upstream) -> None:
    before = victim.hits("/slow"), victim.hits("/echo")
    response = send_raw(gw, b"GET /slow?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n"
                            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nG")
    first, _, rest = response.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200")
    assert b'"slow": true' in rest
    assert b"HTTP/1.1 400" in rest
    assert (victim.hits("/slow"), victim.hits("/echo")) == (before[0] + 1, before[1])


def test_many_slow_clients_are_all_closed_and_others_still_served(
        gw: GatewayProcess, client: httpx.Client) -> None:
    slow = []
    try:
        for _ in range(200):
            sock = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
            sock.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            slow.append(sock)
        assert client.get("/echo").status_code == 200  # served while they hang
        for sock in slow:  # each is answered 408 and closed by the sweep
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
            assert data.startswith(b"HTTP/1.1 408")
    finally:
        for sock in slow:
            sock.close()
    # No connection leaked: only the test's own keep-alive client may remain.
    assert gw.status()["connections"] <= 2


@pytest.mark.usefixtures("unforwarded")
def test_unsupported_expectation_is_417_and_the_connection_closes(gw: GatewayProcess) -> None:
    response = send_raw(gw, b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n"
                            b"Content-Length: 2\r\n\r\nhi")
    assert status_of(response) == 417
    assert b"connection: close" in response.lower()
