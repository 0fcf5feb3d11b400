"""chirp behind the real hld-gateway: the gateway verifies chirp's tokens with the same
key file and passes the identity in headers that clients cannot forge."""

from __future__ import annotations

import contextlib
import time

import httpx
import pytest

from tests.app.conftest import START_TIMEOUT_S, Chirp, Proc, bearer
from tests.support import free_port

pytestmark = pytest.mark.blackbox


def start_gateway(chirp: Chirp) -> httpx.Client:
    """An app server and a real hld-gateway in front of it; a client of the gateway."""
    app_client = chirp.app()
    secret = (chirp.dir / "data" / "jwt.key").read_text().strip()
    port = free_port()
    config = chirp.dir / "gateway.toml"
    config.write_text(f"""
[[listeners]]
address = "127.0.0.1:{port}"

[upstreams.chirp]
servers = ["{app_client.base_url}"]

[auth.jwt]
hmac_secrets = {{ chirp = "{secret}" }}
issuer = "chirp"
audience = "chirp"

[[routes]]
name = "signup"
prefix = "/api/signup"
upstream = "chirp"

[[routes]]
name = "login"
prefix = "/api/login"
upstream = "chirp"

[[routes]]
name = "api"
prefix = "/api/"
upstream = "chirp"
auth = "jwt"
""")
    gateway = Proc(["gateway", "--config", str(config)], chirp.dir / "gateway.log")
    chirp.procs.append(gateway)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10.0)
    chirp.clients.append(client)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        assert gateway.proc.poll() is None, gateway.log_path.read_text()[-2000:]
        with contextlib.suppress(httpx.TransportError):
            client.get("/api/trending")
            break
        assert time.monotonic() < deadline, "gateway did not start"
        time.sleep(0.1)
    return client


def test_requests_through_the_gateway_carry_the_verified_identity(chirp: Chirp) -> None:
    client = start_gateway(chirp)
    alice = client.post("/api/signup", json={"username": "gwalice", "password": "password1"})
    assert alice.status_code == 201, alice.text
    assert client.get("/api/timeline").status_code == 401  # refused at the gateway
    # a forged identity header is stripped by the gateway: the token decides who posts
    reply = client.post("/api/posts", json={"text": "through the gateway"},
                        headers={**bearer(alice.json()["token"]), "x-auth-subject": "mallory",
                                 "x-request-id": "req-gw-1"})
    assert reply.status_code == 201, reply.text
    assert reply.json()["author"] == "gwalice"
    logged = [r for r in chirp.app_proc.events("request") if r["request_id"] == "req-gw-1"]
    assert [(r["route"], r["status"], r["user"], r["auth"]) for r in logged] \
        == [("/api/posts", 201, "gwalice", "gateway")]


def test_a_logged_out_token_is_refused_through_the_gateway(chirp: Chirp) -> None:
    """The gateway still finds the token's signature good; the app finds its session gone."""
    client = start_gateway(chirp)
    token = client.post("/api/signup", json={"username": "gwbye", "password": "password1"}
                        ).json()["token"]
    other = client.post("/api/login", json={"username": "gwbye", "password": "password1"}
                        ).json()["token"]
    assert client.get("/api/timeline", headers=bearer(token)).status_code == 200

    reply = client.post("/api/logout", headers=bearer(token))
    assert (reply.status_code, reply.json()) == (200, {"logged_out": "gwbye"})
    for method, path in (("GET", "/api/timeline"), ("POST", "/api/logout")):
        refused = client.request(method, path, headers=bearer(token))
        assert (refused.status_code, refused.json()) \
            == (401, {"error": "session revoked or expired: log in again", "status": 401})
    assert client.get("/api/timeline", headers=bearer(other)).status_code == 200
    sessions = [k for k in chirp.store.keys("chirp:session:*") if chirp.store.get(k) == "gwbye"]
    assert len(sessions) == 1  # the other login's
