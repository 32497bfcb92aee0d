"""Shared test helpers: real documents and images, and the real server in a subprocess."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pymupdf
import pytest
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent


def text_png(lines: list[str], size: tuple[int, int] = (900, 320), font_size: int = 40) -> bytes:
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=font_size)
    for i, line in enumerate(lines):
        draw.text((40, 40 + i * int(font_size * 2)), line, fill="black", font=font)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def pdf(pages: int, *, password: str = "") -> bytes:
    doc = pymupdf.open()
    for i in range(pages):
        page = doc.new_page(width=420, height=300)  # small pages: fast to render and to OCR
        page.insert_text((40, 80), f"Page {i + 1} heading", fontsize=22)
        page.insert_text((40, 140), f"Body line number {i + 1}", fontsize=14)
    kwargs = {}
    if password:
        kwargs = {"encryption": pymupdf.PDF_ENCRYPT_AES_256, "owner_pw": password, "user_pw": password}
    data = doc.tobytes(**kwargs)
    doc.close()
    return data


class ServerProcess:
    """`python -m vlmgrpc serve` with its embedded Triton, on a free port, as a user would run it."""

    def __init__(self, data_dir: Path, **settings: object):
        self.data_dir = data_dir
        self.settings = {"port": 0, "data_dir": data_dir, "heartbeat_s": 0.5, "shutdown_grace_s": 5,
                         "allow_private_urls": True, **settings}
        self.proc: subprocess.Popen | None = None
        self.target = ""
        self.log = data_dir / "server.log"

    def start(self, timeout_s: float = 120) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "vlmgrpc", "serve"]
        for key, value in self.settings.items():
            args += ["--" + key.replace("_", "-"), str(value)]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout_s
        offset = self.log.stat().st_size if self.log.exists() else 0
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            match = re.search(r"vlm-grpc is serving on (\S+):(\d+)", text[offset:] if offset else text)
            if match:
                self.target = f"{match.group(1)}:{match.group(2)}"
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}:\n{text[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError("server did not start:\n" + self.log.read_text(errors="replace")[-3000:])

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 60) -> int:
        assert self.proc
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout_s)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """One shared server for tests that don't restart it."""
    srv = ServerProcess(tmp_path_factory.mktemp("server"), max_upload_bytes=4 * 1024 * 1024,
                        callback_secret="test-secret", workers=2).start()
    yield srv
    srv.stop()
