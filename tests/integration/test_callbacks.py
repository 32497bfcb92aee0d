"""callback_url: the terminal prediction is POSTed as signed JSON."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import text_png
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
