"""Auth: every route but the health check needs the token; refusals leak nothing."""

from __future__ import annotations

import logging

import httpx
import pytest
from served import TOKEN, Served

from podium import ConfigError
from podium.server import ServerConfig, check_bind, create_app
from podium.server.auth import is_loopback

OPEN = {"/v1/health"}


def _api_routes() -> list[tuple[str, str]]:
    """Every documented route, and the schema's own."""
    schema = create_app(ServerConfig(token=TOKEN)).openapi()
    routes = [(m.upper(), path) for path, item in schema["paths"].items() for m in item]
    assert len(routes) >= 15  # every resource is covered below
    return [r for r in [*routes, ("GET", "/v1/openapi.json")] if r[1] not in OPEN]


@pytest.mark.parametrize(("method", "path"), _api_routes())
@pytest.mark.parametrize("token", [None, "wrong-token"], ids=["no token", "wrong token"])
async def test_every_route_refuses_a_missing_or_wrong_token(
    served: Served, method: str, path: str, token: str | None
) -> None:
    url = path.replace("{run_id}", "r1").replace("{task_id}", "t1")
    async with served.client(token) as client:
        reply = await client.request(method, url, json={})
    assert reply.status_code == 401
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.headers["www-authenticate"] == "Bearer"
    problem = reply.json()
    assert problem["status"] == 401
    assert "token" in problem["detail"]


async def test_the_health_check_needs_no_token(served: Served) -> None:
    async with served.client(None) as client:
        reply = await client.get("/v1/health")
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok"}


async def test_the_dashboard_page_needs_no_token_but_its_data_does(served: Served) -> None:
    async with served.client(None) as client:
        page = await client.get("/")
        script = await client.get("/static/js/app.js")
        data = await client.get("/v1/runs")
    assert page.status_code == 200 and '<div id="app">' in page.text
    assert script.status_code == 200 and "render(" in script.text
    assert data.status_code == 401


async def test_refused_requests_log_no_token(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "a-guess-that-must-not-be-logged"
    async with served.client(secret) as client:
        assert (await client.get("/v1/runs")).status_code == 401
    async with served.client() as client:
        assert (await client.get("/v1/runs")).status_code == 200
    logged = caplog.text
    assert "refused GET /v1/runs" in logged  # the refusal is logged...
    assert secret not in logged  # ...without what was sent
    assert TOKEN not in logged


async def test_the_openapi_schema_documents_every_route(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/v1/openapi.json")).json()
    assert schema["info"]["title"] == "podium"
    paths = set(schema["paths"])
    assert {"/v1/runs", "/v1/runs/{run_id}", "/v1/runs/{run_id}/events/stream"} <= paths
    assert {"/v1/approvals", "/v1/metrics", "/v1/metrics/series", "/v1/metrics/routing"} <= paths
    decide = schema["paths"]["/v1/runs/{run_id}/approvals/{task_id}"]["post"]
    assert "409" in decide["responses"]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_addresses_may_be_bound_without_a_token(host: str) -> None:
    assert is_loopback(host)
    check_bind(host, has_token=False)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.org"])
def test_other_addresses_need_a_token(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(ConfigError, match=f"refusing to listen on {host} without a token"):
        check_bind(host, has_token=False)
    check_bind(host, has_token=True)
