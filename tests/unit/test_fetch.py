"""URL inputs: size and time caps, redirects re-checked, non-public addresses refused (real local server)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from vlmgrpc.errors import ServiceError
from vlmgrpc.pipeline import fetch

HITS: list[str] = []


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server API
        HITS.append(self.path)
        if self.path == "/big":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"x" * 5000)
        elif self.path == "/slow":
            time.sleep(2)
            self.send_response(200)
            self.end_headers()
        elif self.path.startswith("/loop"):
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
        elif self.path == "/to-ftp":
            self.send_response(302)
            self.send_header("Location", "ftp://example.com/x")
            self.end_headers()
        elif self.path == "/host":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(self.headers["Host"].encode())
        elif self.path == "/missing":
            self.send_response(404)
            self.end_headers()
        else:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"hello")

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def base():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


async def get(url: str, *, max_bytes: int = 1000, timeout_s: float = 5, allow_private: bool = True) -> bytes:
    return await fetch.fetch(url, max_bytes=max_bytes, timeout_s=timeout_s, allow_private=allow_private,
                             field_path="images[0].url")


async def reason(coro) -> str:
    with pytest.raises(ServiceError) as info:
        await coro
    return info.value.reason


async def test_fetches_within_the_caps(base):
    assert await get(f"{base}/ok") == b"hello"


async def test_size_cap(base):
    assert await reason(get(f"{base}/big")) == "INPUT_TOO_LARGE"


async def test_time_cap(base):
    assert await reason(get(f"{base}/slow", timeout_s=0.5)) == "URL_FETCH_FAILED"


async def test_redirect_loops_end(base):
    assert await reason(get(f"{base}/loop")) == "URL_FETCH_FAILED"


async def test_every_redirect_is_checked(base):
    assert await reason(get(f"{base}/to-ftp")) == "INVALID_URL"


async def test_http_errors_are_reported(base):
    assert await reason(get(f"{base}/missing")) == "URL_FETCH_FAILED"


async def test_loopback_is_refused_unless_allowed(base):
    assert await reason(get(f"{base}/ok", allow_private=False)) == "URL_NOT_ALLOWED"
    assert await reason(get(base.replace("127.0.0.1", "localhost") + "/ok", allow_private=False)) == "URL_NOT_ALLOWED"


async def test_data_urls(base):
    assert await get("data:image/png;base64,aGVsbG8=") == b"hello"
    assert await reason(get("data:image/png,hello")) == "INVALID_URL"
    assert await reason(get("data:image/png;base64,!!!")) == "INVALID_URL"


def test_literal_addresses_are_refused_at_submission():
    for url in ("http://127.0.0.1/x", "http://10.0.0.1/x", "http://[::1]/x", "http://169.254.169.254/",
                "http://localhost/x", "http://0.0.0.0/x"):
        with pytest.raises(ServiceError) as info:
            fetch.check_literal_address(url, "images[0].url")
        assert info.value.reason == "URL_NOT_ALLOWED"
    fetch.check_literal_address("http://example.com/x", "images[0].url")
    fetch.check_literal_address("http://93.184.216.34/x", "images[0].url")


def _rebinding_dns(monkeypatch: pytest.MonkeyPatch, *answers: str) -> list[str]:
    """A resolver that gives each lookup the next answer (the last one from then on), as a rebinding DNS
    server does with a zero TTL; returns the names looked up."""
    asked: list[str] = []

    async def resolve(host: str):
        asked.append(host)
        return [fetch.ipaddress.ip_address(answers[min(len(asked), len(answers)) - 1])]

    monkeypatch.setattr(fetch, "resolve", resolve)
    return asked


async def test_the_checked_address_is_the_one_connected_to(base, monkeypatch):
    # The check sees a public address; a second lookup would say loopback. The fetch must not reach the local
    # server (the old code checked, then let httpx resolve "localhost" again and connected to it).
    port = base.rsplit(":", 1)[1]
    asked = _rebinding_dns(monkeypatch, "1.1.1.1", "127.0.0.1")
    HITS.clear()
    got = await reason(get(f"http://localhost:{port}/host", timeout_s=1, allow_private=False))
    assert got == "URL_FETCH_FAILED"  # nothing answers outside this machine (or within 1 s)
    assert HITS == [] and asked == ["localhost"]


async def test_a_pinned_request_keeps_the_name(base, monkeypatch):
    # Only the checked lookup knows this name (the system resolver does not): the answer proves the request
    # went to that address, and the server saw the name in Host.
    port = base.rsplit(":", 1)[1]
    _rebinding_dns(monkeypatch, "127.0.0.1")
    monkeypatch.setattr(fetch, "_not_public", lambda addr: False)
    assert await get(f"http://rebind.example:{port}/host", allow_private=False) == f"rebind.example:{port}".encode()


async def test_pinning_an_https_url(monkeypatch):
    _rebinding_dns(monkeypatch, "2001:db8::1")
    monkeypatch.setattr(fetch, "_not_public", lambda addr: False)
    target = await fetch.pin("https://user@files.example.com:8443/a.pdf?x=1", "url")
    assert target.url == "https://user@[2001:db8::1]:8443/a.pdf?x=1"
    assert target.headers == {"Host": "files.example.com:8443"}
    assert target.extensions == {"sni_hostname": "files.example.com"}
