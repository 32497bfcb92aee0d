"""callback_url: the terminal prediction is POSTed as signed JSON."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import TEST_SETTINGS, ServerProcess, text_png
from tests.integration.helpers import terminal
from vlmgrpc.api.vlm.v1 import image_service_pb2 as img_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc_client import Client

pytestmark = pytest.mark.integration


class Hook(BaseHTTPRequestHandler):
    received: list[tuple[dict, bytes]] = []
    failures_left = 1  # the first delivery gets a 503: the service must retry

    def do_POST(self):  # noqa: N802 - http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if Hook.failures_left:
            Hook.failures_left -= 1
            self.send_response(503)
        else:
            Hook.received.append((dict(self.headers), body))
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def hook_url():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    httpd.shutdown()


async def test_terminal_prediction_is_posted_signed_with_retries(server, hook_url):
    async with Client(server.target) as client:
        reply = await client.images.Generate(img_pb.ImageServiceGenerateRequest(
            domain="document.ocr", batch=True, callback_url=hook_url,
            images=[pb.ImageInput(data=text_png(["Callback text"]))]))
        await terminal(client, reply.prediction.id)
    for _ in range(100):
        if Hook.received:
            break
        await asyncio.sleep(0.1)
    headers, body = Hook.received[0]
    expected = "sha256=" + hmac.new(b"test-secret", body, hashlib.sha256).hexdigest()
    assert headers["X-VLMRun-Signature"] == expected
    payload = json.loads(body)
    assert payload["id"] == reply.prediction.id and payload["status"] == "completed"
    assert "Callback text" in payload["response"]["text"]
    assert payload["usage"]["elements_processed"] == 1 and payload["usage"]["element_type"] == "image"


def _still_connected(conn: socket.socket) -> bool:
    try:
        return conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""  # b"": the peer closed
    except BlockingIOError:
        return True  # open, nothing sent: the peer is waiting
    except OSError:
        return False


class Receiver:
    """A webhook receiver whose answers the test scripts: `statuses` first (then 200), each after `delay_s`.
    Records every request, the prediction ids it answered 2xx, and those it answered while the sender was
    still connected (waiting for the answer, not gone)."""

    def __init__(self, statuses: list[int], delay_s: float = 0.0):
        self.statuses, self.delay_s = list(statuses), delay_s
        self.requests: list[str] = []
        self.accepted: list[str] = []
        self.answered_to_a_waiting_sender: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                pred_id = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["id"]
                receiver.requests.append(pred_id)
                time.sleep(receiver.delay_s)
                if _still_connected(self.connection):
                    receiver.answered_to_a_waiting_sender.append(pred_id)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                if status < 300:
                    receiver.accepted.append(pred_id)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


async def _until(condition, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def _submit_with_callback(srv: ServerProcess, url: str) -> str:
    async with Client(srv.target) as client:
        reply = await client.images.Generate(img_pb.ImageServiceGenerateRequest(
            domain="document.ocr", batch=True, callback_url=url, images=[pb.ImageInput(data=text_png(["Hook"]))]))
        await terminal(client, reply.prediction.id)
    return reply.prediction.id


async def test_a_callback_is_delivered_across_a_kill_9_restart(tmp_path):
    receiver = Receiver([503] * 3)  # the receiver is down for a while
    srv = ServerProcess(tmp_path / "svc", **TEST_SETTINGS, callback_secret="s", callback_attempts=10).start()
    try:
        pred_id = await _submit_with_callback(srv, receiver.url)
        await _until(lambda: len(receiver.requests) >= 1)  # the first attempt failed; the next waits its backoff
        srv.stop(signal.SIGKILL)
        assert receiver.accepted == []
        srv.start()
        await _until(lambda: receiver.accepted == [pred_id])
        await asyncio.sleep(1)
        assert receiver.accepted == [pred_id]  # delivered once
        assert len(receiver.requests) <= 10  # the attempts of both runs together stay within callback_attempts
    finally:
        srv.stop()
        receiver.close()


async def test_shutdown_waits_for_a_delivery_in_progress(tmp_path):
    receiver = Receiver([], delay_s=3.0)
    srv = ServerProcess(tmp_path / "svc", **TEST_SETTINGS, callback_secret="s").start()
    try:
        pred_id = await _submit_with_callback(srv, receiver.url)
        await _until(lambda: len(receiver.requests) == 1)  # being answered, slowly
        assert srv.stop() == 0  # SIGTERM: the drain waits for it (shutdown_grace_s is 5 s)
        assert receiver.answered_to_a_waiting_sender == [pred_id]
        srv.start()  # nothing is left in the outbox to send again
        await asyncio.sleep(1.5)
        assert receiver.requests == [pred_id]
    finally:
        srv.stop()
        receiver.close()
