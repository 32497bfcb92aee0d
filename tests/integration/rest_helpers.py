"""Helpers of the REST tests: the server's REST URL, the official vlmrun SDK in a venv of its own (it pins
exact versions of pydantic, Pillow, requests, ... that the service's venv must not be downgraded to), a
callback receiver, and a Server-Sent Events reader."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from tests.conftest import ROOT, ServerProcess

SDK_VERSION = "0.9.2"  # the latest vlmrun on PyPI when this was written: the SDK a migrating team has
SDK_VENV = ROOT / "var" / "vlmrun-sdk"


def rest_url(srv: ServerProcess) -> str:
    """http://host:port/v1 of a started server, from the line it logs."""
    url = srv.rest_url()
    assert url, "the server printed no REST API address"
    return url


def sdk_python() -> Path:
    """The python of a venv with the official SDK (made once, under var/; `make clean` removes it)."""
    python = SDK_VENV / "bin" / "python"
    check = [str(python), "-c", f"import vlmrun.version as v; assert v.__version__ == {SDK_VERSION!r}"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(SDK_VENV)], check=True, timeout=120)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    f"vlmrun=={SDK_VERSION}"], check=True, timeout=900)
    subprocess.run(check, check=True, timeout=60)
    return python


def run_sdk(python: Path, home: Path, script: str, timeout_s: float = 240, **env: str) -> dict:
    """Run `script` with the SDK; it prints one JSON object as its last line, returned here. $HOME is `home`
    (importing vlmrun makes ~/.vlmrun); no proxy, no network beyond the loopback server."""
    environ = {"HOME": str(home), "PATH": "/usr/bin:/bin", "NO_PROXY": "*", **env}
    done = subprocess.run([str(python), "-c", script], capture_output=True, text=True, timeout=timeout_s,
                          env=environ, cwd=home)
    assert done.returncode == 0, f"SDK script failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


class CallbackReceiver:
    """An HTTP server on the loopback that records every POST (raw body and headers)."""

    def __init__(self):
        self.received: list[tuple[bytes, dict[str, str]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.received.append((body, dict(self.headers)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, count: int = 1, timeout_s: float = 60) -> list[tuple[bytes, dict[str, str]]]:
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(self.received) >= count, "no callback arrived"
        return self.received

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def sse_events(response: httpx.Response, stop_after: int | None = None) -> list[dict]:
    """The events of a text/event-stream answer: {"id", "event", "data"} each (comments left out)."""
    events, current = [], {}
    for line in response.iter_lines():
        if line == "":
            if current:
                events.append(current)
                current = {}
                if stop_after is not None and len(events) >= stop_after:
                    break
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        current[name] = current.get(name, "") + ("\n" if name == "data" and name in current else "") + value
    return events
