"""callback_url delivery (jobs/callbacks.py) against a real local HTTP server."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from vlmgrpc.jobs import callbacks
from vlmgrpc.jobs.model import Kind, Prediction, Status

SECRET = "webhook-secret"


class _Hook:
    """A webhook receiver: answers with the scripted statuses (then 200) and records every request."""

    def __init__(self, statuses: list[int]):
        self.statuses = list(statuses)
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hook.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/vlm"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01},
                                       daemon=True)

    def __enter__(self) -> _Hook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch) -> Iterator[None]:
    # httpx honours proxy variables; the receiver is on loopback.
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    yield


def _pred(url: str) -> Prediction:
    pred = Prediction(id="pred-cb", owner="alice", kind=Kind.DOCUMENT, domain="document.ocr", batch=True,
                      callback_url=url, created_at=datetime(2025, 3, 1, 12, 0, tzinfo=UTC), status=Status.RUNNING)
    pred.done, pred.steps, pred.credits = 3, 4, 6
    pred.run_seconds = 1.2
    pred.response = {"pages": [{"text": "héllo"}]}
    pred.transition(Status.COMPLETED)
    return pred


def test_sign_matches_hmac_sha256():
    body = b'{"id":"pred-1","status":"completed"}'
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert callbacks.sign(SECRET, body) == "sha256=" + expected
    assert callbacks.sign(SECRET, body + b" ") != callbacks.sign(SECRET, body)
    assert callbacks.sign("other", body) != callbacks.sign(SECRET, body)


def test_prediction_json_shape():
    pred = _pred("http://x")
    data = callbacks.prediction_json(pred)
    assert data == {
        "id": "pred-cb", "created_at": "2025-03-01T12:00:00+00:00", "completed_at": pred.completed_at.isoformat(),
        "status": "completed", "domain": "document.ocr", "response": {"pages": [{"text": "héllo"}]},
        "usage": {"elements_processed": 3, "element_type": "page", "credits_used": 6, "steps": 4,
                  "duration_seconds": 2},
        "message": "", "error": None,
    }
    json.dumps(data)  # serialisable as is


async def test_deliver_posts_signed_json():
    with _Hook([200]) as hook:
        pred = _pred(hook.url)
        assert await callbacks.deliver(pred, secret=SECRET, attempts=3, timeout_s=5) is True
    assert len(hook.requests) == 1
    path, headers, body = hook.requests[0]
    assert path == "/hooks/vlm"
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "vlm-grpc"
    # The signature is over the exact bytes received.
    assert headers["x-vlmrun-signature"] == "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert json.loads(body) == callbacks.prediction_json(pred)


async def test_deliver_retries_after_a_server_error():
    with _Hook([500, 200]) as hook:
        assert await callbacks.deliver(_pred(hook.url), secret=SECRET, attempts=3, timeout_s=5) is True
    assert len(hook.requests) == 2
    # Both attempts carry the same body and signature.
    assert hook.requests[0][2] == hook.requests[1][2]
    assert hook.requests[0][1]["x-vlmrun-signature"] == hook.requests[1][1]["x-vlmrun-signature"]


async def test_deliver_retries_after_429():
    with _Hook([429, 204]) as hook:
        assert await callbacks.deliver(_pred(hook.url), secret=SECRET, attempts=2, timeout_s=5) is True
    assert len(hook.requests) == 2


async def test_deliver_gives_up_after_the_last_attempt():
    with _Hook([503, 502, 500]) as hook:
        assert await callbacks.deliver(_pred(hook.url), secret=SECRET, attempts=2, timeout_s=5) is False
    assert len(hook.requests) == 2


@pytest.mark.parametrize("status", [400, 404, 410])
async def test_client_error_is_not_retried(status):
    with _Hook([status]) as hook:
        assert await callbacks.deliver(_pred(hook.url), secret=SECRET, attempts=3, timeout_s=5) is False
    assert len(hook.requests) == 1


@pytest.mark.parametrize("status", [302, 307])
async def test_redirects_are_not_followed(status):
    with _Hook([status]) as hook:
        assert await callbacks.deliver(_pred(hook.url), secret=SECRET, attempts=3, timeout_s=5) is False
    # Neither followed to /elsewhere nor retried.
    assert [path for path, _, _ in hook.requests] == ["/hooks/vlm"]


async def test_unreachable_receiver_is_a_failed_delivery():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Nothing listens on the port any more: connection refused, reported as False (no exception).
    assert await callbacks.deliver(_pred(f"http://127.0.0.1:{port}/x"), secret=SECRET, attempts=1,
                                   timeout_s=2) is False
