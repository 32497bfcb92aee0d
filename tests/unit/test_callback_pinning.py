"""Callbacks go to the address their check saw (DNS rebinding reaches nothing), with the name in Host."""

from __future__ import annotations

import ipaddress
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from vlmgrpc.jobs import callbacks
from vlmgrpc.jobs.model import Kind, Prediction, Status
from vlmgrpc.pipeline import fetch

SEEN: list[str] = []


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server API
        self.rfile.read(int(self.headers["Content-Length"]))
        SEEN.append(self.headers["Host"])
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def port():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1]
    httpd.shutdown()


def _dns(monkeypatch: pytest.MonkeyPatch, *answers: str) -> None:
    asked: list[str] = []

    async def resolve(host: str):
        asked.append(host)
        return [ipaddress.ip_address(answers[min(len(asked), len(answers)) - 1])]

    monkeypatch.setattr(fetch, "resolve", resolve)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


def _prediction(url: str) -> Prediction:
    pred = Prediction(id="p1", owner="t", kind=Kind.DOCUMENT, domain="document.ocr", batch=True, callback_url=url,
                      created_at=datetime.now(UTC), status=Status.RUNNING)
    pred.transition(Status.COMPLETED)
    return pred


async def _deliver(url: str) -> bool:
    return await callbacks.deliver(_prediction(url), secret="s", attempts=1, timeout_s=1, allow_private=False)


async def test_a_rebinding_name_reaches_nothing(port, monkeypatch):
    _dns(monkeypatch, "1.1.1.1", "127.0.0.1")
    SEEN.clear()
    assert await _deliver(f"http://localhost:{port}/hook") is False
    assert SEEN == []


async def test_the_callback_keeps_its_name(port, monkeypatch):
    _dns(monkeypatch, "127.0.0.1")
    monkeypatch.setattr(fetch, "_not_public", lambda addr: False)
    SEEN.clear()
    assert await _deliver(f"http://hooks.example:{port}/hook") is True
    assert SEEN == [f"hooks.example:{port}"]
