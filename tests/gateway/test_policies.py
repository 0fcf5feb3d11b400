"""Authorization rules, the response cache, TLS termination and metrics, through one
gateway: RBAC/ABAC rules on routes (deny by default, 401 without identity, 403 with the
wrong role), cache hits/304/Vary/no-store/private, a dev CA on a TLS listener, and the
Prometheus families the dashboard reads.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import jwt
import pytest

from tests.gateway.conftest import (
    GatewayProcess,
    Upstream,
    metric_value,
    running_gateway,
    running_upstream,
    start,
)
from tests.support import free_port

pytestmark = pytest.mark.blackbox

SECRET = "policy-test-secret-of-at-least-32-bytes"  # noqa: S105 - a test key


def bearer(sub: str, *roles: str, **claims: object) -> dict[str, str]:
    token = jwt.encode({"sub": sub, "roles": list(roles), "exp": time.time() + 600, **claims},
                       SECRET, "HS256", headers={"kid": "k"})
    return {"authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def app(processes: ExitStack) -> Upstream:
    return start(processes, running_upstream("app"))


@pytest.fixture(scope="module")
def tls_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def gw(processes: ExitStack, app: Upstream, tls_port: int,
       tmp_path_factory: pytest.TempPathFactory) -> GatewayProcess:
    config = f"""
[[listeners]]
address = "127.0.0.1:{tls_port}"
tls = "dev"

[gateway]
header_timeout_s = 2.0

[upstreams.app]
servers = ["{app.url}"]

[auth.jwt]
hmac_secrets = {{ k = "{SECRET}" }}

[[routes]]
name = "admin"
prefix = "/admin/"
rewrite = "/echo/"
upstream = "app"
auth = "jwt"
role_parents = {{ editor = ["reader"] }}
[[routes.rules]]
name = "admins"
subjects = ["role:admin"]
[[routes.rules]]
name = "readers"
subjects = ["role:reader"]
actions = ["GET"]
resources = ["/admin/reports/**"]
[[routes.rules]]
name = "eng"
subjects = ["*"]
actions = ["GET"]
resources = ["/admin/eng/**"]
condition = 'subject.department == "eng"'
[[routes.rules]]
name = "banned"
effect = "deny"
subjects = ["user:mallory"]

[[routes]]
name = "public"
prefix = "/public/"
rewrite = "/echo/"
upstream = "app"
rules = [{{ effect = "allow", subjects = ["*"], actions = ["GET"], resources = ["/public/**"] }}]

[[routes]]
name = "cached"
prefix = "/cached/"
rewrite = "/"
upstream = "app"
cache = {{ size = 100, ttl_s = 30 }}

[[routes]]
name = "app"
prefix = "/"
upstream = "app"
"""
    return start(processes, running_gateway(config, tmp_path_factory.mktemp("gw")))


@pytest.fixture(scope="module")
def client(gw: GatewayProcess) -> httpx.Client:
    with gw.client() as c:
        yield c


# -- authorization -------------------------------------------------------------------------


def test_no_identity_on_a_route_with_rules_is_401(client: httpx.Client, app: Upstream) -> None:
    before = app.hits()
    reply = client.get("/admin/reports/1")
    assert (reply.status_code, app.hits()) == (401, before)


@pytest.mark.parametrize(("who", "method", "path", "expected"), [
    (("ann", "admin"), "DELETE", "/admin/users/7", 200),
    (("rita", "reader"), "GET", "/admin/reports/q3", 200),
    (("rita", "reader"), "POST", "/admin/reports/q3", 403),
    (("rita", "reader"), "GET", "/admin/users/7", 403),
    (("ed", "editor"), "GET", "/admin/reports/q3", 200),  # editor inherits reader
    (("nobody",), "GET", "/admin/reports/q3", 403),        # deny by default
    (("mallory", "admin"), "GET", "/admin/reports/q3", 403),  # deny overrides allow
])
def test_rbac_rules(client: httpx.Client, who: tuple[str, ...], method: str, path: str,
                    expected: int) -> None:
    reply = client.request(method, path, headers=bearer(who[0], *who[1:]))
    assert reply.status_code == expected
    if expected == 403:
        assert reply.json()["error"].startswith("forbidden")


def test_abac_condition_over_token_claims(client: httpx.Client) -> None:
    eng = client.get("/admin/eng/wiki", headers=bearer("eve", department="eng"))
    sales = client.get("/admin/eng/wiki", headers=bearer("sam", department="sales"))
    assert (eng.status_code, sales.status_code) == (200, 403)


def test_anonymous_rules_allow_only_what_they_name(client: httpx.Client) -> None:
    assert client.get("/public/page").status_code == 200
    assert client.post("/public/page", content=b"x").status_code == 401


def test_denied_requests_never_reach_the_upstream(client: httpx.Client, app: Upstream) -> None:
    before = app.hits()
    client.get("/admin/users/7", headers=bearer("rita", "reader"))
    assert app.hits() == before


# -- response cache ------------------------------------------------------------------------


def test_second_get_is_a_cache_hit(client: httpx.Client, app: Upstream) -> None:
    before = app.hits("/cache")
    first = client.get("/cached/cache?max_age=30&tag=hit")
    second = client.get("/cached/cache?max_age=30&tag=hit")
    assert (first.headers.get("x-cache"), second.headers.get("x-cache")) == (None, "hit")
    assert second.json() == first.json()
    assert second.headers["etag"] == '"hit"'
    assert app.hits("/cache") == before + 1


def test_if_none_match_on_a_cached_entry_is_304(client: httpx.Client, app: Upstream) -> None:
    client.get("/cached/cache?max_age=30&tag=etag")
    before = app.hits("/cache")
    reply = client.get("/cached/cache?max_age=30&tag=etag", headers={"if-none-match": '"etag"'})
    assert (reply.status_code, reply.headers.get("x-cache"), reply.content) == (304, "hit", b"")
    assert app.hits("/cache") == before


def test_vary_keeps_variants_apart(client: httpx.Client) -> None:
    path = "/cached/cache?max_age=30&tag=vary&vary=Accept-Language"
    langs = ["en", "fr", "en", "fr"]
    replies = [client.get(path, headers={"accept-language": lang}) for lang in langs]
    assert [r.json()["lang"] for r in replies] == langs
    assert [r.headers.get("x-cache") for r in replies] == [None, None, "hit", "hit"]


@pytest.mark.parametrize("cache_control", ["no-store", "private, max-age=30", "no-cache"])
def test_uncacheable_responses_are_not_stored(client: httpx.Client, app: Upstream,
                                              cache_control: str) -> None:
    path = f"/cached/cache?cc={cache_control}&tag={cache_control.partition(',')[0]}"
    before = app.hits("/cache")
    replies = [client.get(path) for _ in range(2)]
    assert [r.headers.get("x-cache") for r in replies] == [None, None]
    assert app.hits("/cache") == before + 2


def test_requests_with_credentials_bypass_the_cache(client: httpx.Client) -> None:
    path = "/cached/cache?max_age=30&tag=creds"
    client.get(path)
    reply = client.get(path, headers={"authorization": "Bearer x"})
    assert reply.headers.get("x-cache") is None


# -- TLS -----------------------------------------------------------------------------------


def ca_file(gw: GatewayProcess) -> Path:
    return gw.directory / ".hld" / "gateway" / "tls" / "ca.pem"


def test_tls_with_the_development_ca(gw: GatewayProcess, tls_port: int) -> None:
    context = ssl.create_default_context(cafile=str(ca_file(gw)))
    with httpx.Client(verify=context) as tls:
        reply = tls.get(f"https://127.0.0.1:{tls_port}/echo")
    assert reply.status_code == 200
    assert reply.json()["headers"]["x-forwarded-proto"] == "https"


def test_tls_with_curl_and_the_ca_file(gw: GatewayProcess, tls_port: int) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    out = subprocess.run([curl, "-sS", "--cacert", str(ca_file(gw)),
                          f"https://localhost:{tls_port}/echo"],
                         capture_output=True, text=True, timeout=20, check=True)
    assert '"name": "app"' in out.stdout


def test_tls_refuses_clients_that_do_not_trust_the_ca(tls_port: int) -> None:
    with httpx.Client(verify=ssl.create_default_context()) as strict, \
            pytest.raises(httpx.ConnectError):
        strict.get(f"https://127.0.0.1:{tls_port}/echo")


# -- metrics ---------------------------------------------------------------------------------


def test_metrics_show_requests_latency_breakers_rejections_and_cache(
        gw: GatewayProcess, client: httpx.Client) -> None:
    client.get("/echo")
    client.get("/admin/users/1", headers=bearer("rita", "reader"))
    client.get("/cached/cache?max_age=30&tag=metrics")
    client.get("/cached/cache?max_age=30&tag=metrics")
    text = gw.metrics()
    assert metric_value(text, "hld_gateway_requests_total", route="app", status="200") >= 1
    assert metric_value(text, "hld_gateway_requests_total", route="admin", status="403") >= 1
    assert metric_value(text, "hld_gateway_request_duration_seconds_bucket", route="app",
                        le="+Inf") >= 1
    assert metric_value(text, "hld_gateway_request_duration_seconds_count", route="app") >= 1
    assert metric_value(text, "hld_gateway_rejections_total", scope="admin",
                        reason="forbidden") >= 1
    assert metric_value(text, "hld_gateway_cache_lookups_total", route="cached",
                        result="hit") >= 1
    assert "hld_gateway_breaker_open{upstream=\"app\"} 0.0" in text
    assert metric_value(text, "hld_gateway_upstream_server_up", upstream="app") == 1.0
    assert metric_value(text, "hld_gateway_upstream_attempts_total", upstream="app",
                        outcome="ok") >= 1


def test_admin_status_and_healthz(gw: GatewayProcess) -> None:
    status = gw.status()
    assert status["upstreams"]["app"]["breaker"] == "closed"
    assert status["metrics"]["requests"] >= 1


def admin_post(gw: GatewayProcess, path: str) -> tuple[int, dict[str, object]]:
    import http.client
    import json

    conn = http.client.HTTPConnection("127.0.0.1", gw.admin_port, timeout=5)
    try:
        conn.request("POST", path)
        reply = conn.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        conn.close()


@pytest.mark.parametrize("algorithm", ["p2c", "least_conn", "peak_ewma", "ip_hash",
                                       "round_robin"])
def test_balancing_algorithm_switches_live(gw: GatewayProcess, client: httpx.Client,
                                           algorithm: str) -> None:
    status, body = admin_post(gw, f"/upstreams/app/balance?algorithm={algorithm}")
    assert (status, body["balance"]) == (200, algorithm)
    assert [client.get("/echo").status_code for _ in range(3)] == [200] * 3


def test_admin_refuses_unknown_algorithms_and_upstreams(gw: GatewayProcess) -> None:
    assert admin_post(gw, "/upstreams/app/balance?algorithm=fastest")[0] == 400
    assert admin_post(gw, "/upstreams/nope/balance?algorithm=p2c")[0] == 404
