"""Shared test helpers: real documents and images, and the real server in a subprocess."""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path

import pymupdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from vlmgrpc_client.process import ServerProcess as _ServerProcess

pytest_plugins = ["tests.pg_server"]  # a real PostgreSQL for the tests that need one

ROOT = Path(__file__).resolve().parent.parent
__all__ = ["ServerProcess", "pdf", "text_png"]
# Fast heartbeats and drains for tests; loopback callbacks are allowed for the local receivers.
TEST_SETTINGS = {"heartbeat_s": 0.5, "shutdown_grace_s": 5, "allow_private_urls": True}


class ServerProcess(_ServerProcess):
    """The real server, on the store the run asks for: VLM_TEST_STORE=postgres gives each server (and its
    restarts) a PostgreSQL database of its own on the session's test server; otherwise its embedded SQLite.
    On PostgreSQL a server keeps its replica_id across restarts (as a StatefulSet's pod keeps its name), so a
    restart takes its own work back at once, as the embedded store's does."""

    def __init__(self, data_dir: Path, **settings: object):
        if os.environ.get("VLM_TEST_STORE") == "postgres" and "database_url" not in settings:
            from tests import pg_server  # here: imported first as the plugin, so pytest rewrites its asserts

            settings["database_url"] = pg_server.shared().new_database()
        if settings.get("database_url") and "replica_id" not in settings:
            settings["replica_id"] = "test-" + uuid.uuid4().hex[:8]
        super().__init__(data_dir, **settings)


def text_png(lines: list[str], size: tuple[int, int] = (900, 320), font_size: int = 40) -> bytes:
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=font_size)
    for i, line in enumerate(lines):
        draw.text((40, 40 + i * int(font_size * 2)), line, fill="black", font=font)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def pdf(pages: int, *, password: str = "", scanned: bool = False) -> bytes:
    """Small text pages. `scanned`: each page is only a picture of its text (no text layer), so the engine
    reads it by OCR (tens of ms a page) instead of from its text layer (about a millisecond)."""
    doc = pymupdf.open()
    for i in range(pages):
        page = doc.new_page(width=420, height=300)  # small pages: fast to render and to OCR
        page.insert_text((40, 80), f"Page {i + 1} heading", fontsize=22)
        page.insert_text((40, 140), f"Body line number {i + 1}", fontsize=14)
        if scanned:
            picture = page.get_pixmap(dpi=150).tobytes("jpeg")
            page.add_redact_annot(page.rect)
            page.apply_redactions()
            page.insert_image(page.rect, stream=picture)
    kwargs = {}
    if password:
        kwargs = {"encryption": pymupdf.PDF_ENCRYPT_AES_256, "owner_pw": password, "user_pw": password}
    data = doc.tobytes(**kwargs)
    doc.close()
    return data


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """One shared server for tests that don't restart it."""
    srv = ServerProcess(tmp_path_factory.mktemp("server"), **TEST_SETTINGS, max_upload_bytes=4 * 1024 * 1024,
                        callback_secret="test-secret",
                        credit_prices='{"document.markdown": 2.5, "*": 1}').start()
    yield srv
    srv.stop()
