"""The REST error mapping (rest/errors.py): every canonical code has an HTTP status, the SDK's error classes get
the statuses they are raised for, and the body is the one the vlmrun SDK parses; checked over real HTTP through
the middleware (aiohttp's test server on the loopback)."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from vlmgrpc.errors import Code, ServiceError, exhausted, internal, invalid, not_found, unavailable
from vlmgrpc.rest.errors import HTTP_STATUS, errors_middleware, http_status

# What vlmrun's APIRequestor raises for each status (client/base_requestor.py).
SDK_CLASSES = {400: "ValidationError", 401: "AuthenticationError", 404: "ResourceNotFoundError",
               429: "RateLimitError"}


def sdk_class(status: int) -> str:
    return SDK_CLASSES.get(status, "ServerError" if 500 <= status < 600 else "APIError")


def test_every_code_but_ok_has_an_error_status():
    assert set(HTTP_STATUS) == set(Code) - {Code.OK}
    assert all(400 <= status < 600 for status in HTTP_STATUS.values())


@pytest.mark.parametrize(("code", "status", "raised"), [
    (Code.INVALID_ARGUMENT, 400, "ValidationError"),
    (Code.FAILED_PRECONDITION, 400, "ValidationError"),
    (Code.OUT_OF_RANGE, 400, "ValidationError"),
    (Code.UNAUTHENTICATED, 401, "AuthenticationError"),
    (Code.PERMISSION_DENIED, 403, "APIError"),
    (Code.NOT_FOUND, 404, "ResourceNotFoundError"),
    (Code.ALREADY_EXISTS, 409, "APIError"),
    (Code.RESOURCE_EXHAUSTED, 429, "RateLimitError"),
    (Code.INTERNAL, 500, "ServerError"),
    (Code.UNIMPLEMENTED, 501, "ServerError"),
    (Code.UNAVAILABLE, 503, "ServerError"),
    (Code.DEADLINE_EXCEEDED, 504, "ServerError"),
])
def test_codes_map_to_the_statuses_the_sdk_classes_expect(code, status, raised):
    assert http_status(code) == status
    assert sdk_class(status) == raised


FAILURES = {
    "invalid": invalid("UNKNOWN_DOMAIN", "domain 'x' is not known", "domain", domain="x"),
    "missing": not_found("prediction", "p1"),
    "full": exhausted("QUEUE_FULL", "256 predictions are waiting"),
    "down": unavailable("MODEL_NOT_READY", "model 'ocr' is not ready"),
    "fault": internal("BROKEN", "the store failed"),
    "token": ServiceError(Code.UNAUTHENTICATED, "INVALID_TOKEN", "the bearer token is not valid"),
}


@pytest.fixture
async def client():
    async def fail(request: web.Request) -> web.Response:
        raise FAILURES[request.match_info["name"]]

    async def bug(request: web.Request) -> web.Response:
        raise KeyError("a bug")

    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"ok": len(await request.read())})

    app = web.Application(middlewares=[errors_middleware], client_max_size=1024)
    app.router.add_get("/fail/{name}", fail)
    app.router.add_get("/bug", bug)
    app.router.add_post("/ok", ok)
    async with TestClient(TestServer(app)) as c:
        yield c


async def test_a_service_error_is_the_body_the_sdk_parses(client):
    resp = await client.get("/fail/invalid", headers={"X-Request-Id": "req-123"})
    assert resp.status == 400
    body = await resp.json()
    error = body["error"]
    assert error["message"] == "UNKNOWN_DOMAIN: domain 'x' is not known" == body["detail"]
    assert (error["type"], error["id"], error["reason"]) == ("UNKNOWN_DOMAIN", "req-123", "UNKNOWN_DOMAIN")
    assert (error["code"], error["status"]) == (3, "INVALID_ARGUMENT")
    assert error["violations"] == [{"field": "domain", "description": "domain 'x' is not known"}]
    assert error["metadata"] == {"domain": "x"}
    assert resp.headers["X-Request-Id"] == "req-123"


@pytest.mark.parametrize(("name", "status"), [("missing", 404), ("full", 429), ("down", 503), ("fault", 500),
                                              ("token", 401)])
async def test_statuses_and_their_headers(client, name, status):
    resp = await client.get(f"/fail/{name}")
    assert resp.status == status
    body = await resp.json()
    assert body["error"]["type"] == FAILURES[name].reason
    assert len(body["error"]["id"]) == 32 == len(resp.headers["X-Request-Id"])  # made up: none was sent
    assert ("Retry-After" in resp.headers) == (status in (429, 503))
    assert resp.headers.get("WWW-Authenticate", "").startswith("Bearer") == (status == 401)


async def test_a_bug_is_a_500_without_its_details(client):
    resp = await client.get("/bug")
    assert resp.status == 500
    body = await resp.json()
    assert body["error"]["type"] == "INTERNAL" and "a bug" not in body["error"]["message"]


async def test_framework_refusals_get_the_same_body(client):
    cases = [(client.get("/nowhere"), 404, "ROUTE_NOT_FOUND"), (client.delete("/ok"), 405, "METHOD_NOT_ALLOWED"),
             (client.post("/ok", data=b"x" * 5000), 413, "REQUEST_TOO_LARGE")]
    for request, status, kind in cases:
        resp = await request
        assert resp.status == status
        assert (await resp.json())["error"]["type"] == kind
    resp = await client.delete("/ok")
    assert "POST" in resp.headers["Allow"]


async def test_an_insane_request_id_is_replaced(client):
    resp = await client.get("/fail/missing", headers={"X-Request-Id": "a b\tc" * 100})
    assert (await resp.json())["error"]["id"] == resp.headers["X-Request-Id"] != "a b\tc" * 100
