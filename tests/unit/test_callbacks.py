"""callback_url delivery (jobs/callbacks.py) against a real local HTTP server."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from vlmgrpc.jobs import callbacks
from vlmgrpc.jobs.model import Kind, Prediction, Status
from vlmgrpc.jobs.records import EventType
from vlmgrpc.jobs.store import Store
from vlmgrpc.settings import Settings

SECRET = "webhook-secret"


class _Hook:
    """A webhook receiver: answers with the scripted statuses (then 200) and records every request."""

    def __init__(self, statuses: list[int], delay_s: float = 0.0):
        self.statuses = list(statuses)
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.delay_s, self.active, self.most_active = delay_s, 0, 0  # requests being answered at once
        lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    hook.active += 1
                    hook.most_active = max(hook.most_active, hook.active)
                time.sleep(hook.delay_s)
                with lock:
                    hook.active -= 1
                hook.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status = hook.statuses.pop(0) if hook.statuses else 200
                try:
                    self.send_response(status)
                    if 300 <= status < 400:
                        self.send_header("Location", "/elsewhere")
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except (BrokenPipeError, ConnectionResetError):  # the sender gave up waiting (shutdown)
                    pass

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


# --- the outbox: queued with the terminal save, delivered by a bounded set of deliverers, resumed after a restart


@pytest.fixture
async def store(tmp_path):
    s = Store(tmp_path / "vlmgrpc.sqlite3")
    await s.open()
    yield s
    await s.close()


def _outbox(tmp_path, store: Store, **settings) -> callbacks.CallbackOutbox:
    base = {"callback_secret": SECRET, "callback_timeout_s": 5, "allow_private_urls": True}
    return callbacks.CallbackOutbox(Settings(data_dir=tmp_path, **(base | settings)), store)


async def _ended_with_callback(store: Store, ident: str, url: str) -> Prediction:
    """A prediction saved terminal: the save itself queues its callback in the store's outbox."""
    pred = Prediction(id=ident, owner="alice", kind=Kind.IMAGE, domain="document.ocr", batch=True, callback_url=url)
    pred, _ = await store.create(pred, then=(Status.ENQUEUED, Status.RUNNING))
    pred.response = {"text": ident}
    pred.transition(Status.COMPLETED)
    await store.save(pred, EventType.STATUS_CHANGED)
    return pred


async def _until(condition, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_the_outbox_delivers_at_most_callback_concurrency_at_once_and_empties(tmp_path, store):
    with _Hook([], delay_s=0.3) as hook:
        outbox = _outbox(tmp_path, store, callback_concurrency=2)
        await outbox.start()
        for i in range(6):
            await _ended_with_callback(store, f"p{i}", hook.url)
            outbox.submit(f"p{i}")
        await _until(lambda: outbox.pending() == 0)
        await outbox.stop(1)
    assert len(hook.requests) == 6
    assert hook.most_active == 2
    assert {json.loads(body)["id"] for _, _, body in hook.requests} == {f"p{i}" for i in range(6)}
    assert await store.pending_callbacks() == []


async def test_pending_deliveries_are_resumed_at_start_up(tmp_path, store):
    with _Hook([]) as hook:
        await _ended_with_callback(store, "before-restart", hook.url)  # committed; its delivery never ran
        outbox = _outbox(tmp_path, store)
        await outbox.start()  # what a restart does
        await _until(lambda: len(hook.requests) == 1)
        await outbox.stop(1)
    assert json.loads(hook.requests[0][2])["id"] == "before-restart"
    assert await store.pending_callbacks() == []


async def test_attempts_made_before_a_restart_count(tmp_path, store):
    with _Hook([503, 503, 503, 503]) as hook:
        await _ended_with_callback(store, "p1", hook.url)
        for _ in range(4):
            await store.count_callback_attempt("p1")  # four of the five attempts made before the restart
        outbox = _outbox(tmp_path, store, callback_attempts=5)
        await outbox.start()
        await _until(lambda: outbox.pending() == 0)
        await outbox.stop(1)
    assert len(hook.requests) == 1  # only the fifth
    assert await store.pending_callbacks() == []  # given up: removed


async def test_each_attempt_is_counted_in_the_outbox_as_it_is_made(tmp_path, store):
    with _Hook([503, 503, 200], delay_s=0.2) as hook:
        await _ended_with_callback(store, "p1", hook.url)
        outbox = _outbox(tmp_path, store, callback_attempts=5)
        await outbox.start()
        await _until(lambda: len(hook.requests) == 2)
        assert await store.callback_attempts("p1") >= 2  # a crash now would not start again from zero
        await _until(lambda: outbox.pending() == 0)
        await outbox.stop(1)
    assert len(hook.requests) == 3


async def test_stop_waits_for_a_delivery_in_progress(tmp_path, store):
    with _Hook([], delay_s=0.5) as hook:
        outbox = _outbox(tmp_path, store)
        await outbox.start()
        await _ended_with_callback(store, "p1", hook.url)
        outbox.submit("p1")
        await _until(lambda: hook.active == 1)
        await outbox.stop(5)
        assert len(hook.requests) == 1
    assert await store.pending_callbacks() == []


async def test_a_delivery_cut_off_by_shutdown_stays_in_the_outbox(tmp_path, store):
    with _Hook([], delay_s=1.0) as hook:
        outbox = _outbox(tmp_path, store)
        await outbox.start()
        await _ended_with_callback(store, "p1", hook.url)
        outbox.submit("p1")
        await _until(lambda: hook.active == 1)
        await outbox.stop(0.1)
    assert await store.pending_callbacks() == ["p1"]  # resumed by the next start
