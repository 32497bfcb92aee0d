"""The one place where errors become HTTP answers (the REST twin of servicers/status.py).

A ServiceError's canonical code gives the HTTP status (google.rpc.Code's documented HTTP mapping), and the body
is what the vlmrun SDK parses: {"error": {"message", "type", "id"}} (it raises ValidationError on 400,
AuthenticationError on 401, ResourceNotFoundError on 404, RateLimitError on 429, ServerError on 5xx), with the
stable reason, field violations and metadata beside them, and "detail" for clients that read FastAPI's shape.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid

from aiohttp import web

from vlmgrpc.errors import Code, ServiceError

log = logging.getLogger(__name__)

HTTP_STATUS: dict[Code, int] = {
    Code.CANCELLED: 499,
    Code.UNKNOWN: 500,
    Code.INVALID_ARGUMENT: 400,
    Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400,
    Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503,
    Code.DATA_LOSS: 500,
    Code.UNAUTHENTICATED: 401,
}
# What the framework itself refuses (no route, wrong method, body too large, ...): (code name, reason).
FRAMEWORK_REASONS: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "BAD_REQUEST"),
    404: ("NOT_FOUND", "ROUTE_NOT_FOUND"),
    405: ("INVALID_ARGUMENT", "METHOD_NOT_ALLOWED"),
    413: ("INVALID_ARGUMENT", "REQUEST_TOO_LARGE"),
    415: ("INVALID_ARGUMENT", "UNSUPPORTED_CONTENT_TYPE"),
}
RETRY_AFTER_S = "1"  # 429 and 503: the SDK backs off by itself; other clients get a hint
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
REQUEST_ID = web.RequestKey("request_id", str)  # the id errors and answers carry (X-Request-Id)


def http_status(code: Code) -> int:
    return HTTP_STATUS.get(code, 500)


def error_body(status_name: str, reason: str, message: str, request_id: str, *, code: int,
               metadata: dict[str, str] | None = None, violations: list[tuple[str, str]] | None = None) -> dict:
    return {
        "error": {
            "message": f"{reason}: {message}",
            "type": reason,
            "id": request_id,
            "code": code,
            "status": status_name,
            "reason": reason,
            "metadata": metadata or {},
            "violations": [{"field": f, "description": d} for f, d in violations or ()],
        },
        "detail": f"{reason}: {message}",
    }


def service_error_response(err: ServiceError, request_id: str) -> web.Response:
    status = http_status(err.code)
    body = error_body(err.code.name, err.reason, err.message, request_id, code=int(err.code),
                      metadata=err.metadata, violations=err.violations)
    return _response(status, body)


def framework_error_response(exc: web.HTTPException, request_id: str) -> web.Response:
    name, reason = FRAMEWORK_REASONS.get(exc.status, ("UNKNOWN", f"HTTP_{exc.status}"))
    message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
    body = error_body(name, reason, message, request_id, code=int(Code[name]))
    response = _response(exc.status, body)
    if "Allow" in exc.headers:
        response.headers["Allow"] = exc.headers["Allow"]
    return response


def _response(status: int, body: dict) -> web.Response:
    response = web.json_response(body, status=status)
    if status in (429, 503):
        response.headers["Retry-After"] = RETRY_AFTER_S
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="vlm-grpc"'
    return response


def request_id(request: web.Request) -> str:
    """The caller's X-Request-Id when it is a sane one, else a new id: echoed in the answer and its errors."""
    given = request.headers.get("X-Request-Id", "")
    return given if REQUEST_ID_RE.match(given) else uuid.uuid4().hex


@web.middleware
async def errors_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Every failure of a handler (or of routing) answered as the JSON error body; a bug becomes 500."""
    rid = request[REQUEST_ID] = request_id(request)
    try:
        response = await handler(request)
    except ServiceError as err:
        response = service_error_response(err, rid)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = framework_error_response(exc, rid)
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - any bug becomes INTERNAL, with a log line
        log.exception("unexpected error in REST handler %s %s", request.method, request.path)
        err = ServiceError(Code.INTERNAL, "INTERNAL", "internal error; the server logged the details")
        response = service_error_response(err, rid)
    if not response.prepared:
        response.headers["X-Request-Id"] = rid
    return response
