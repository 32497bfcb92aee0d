"""The render pool tells a document's fault from the server's: a crash is blamed only on the document that
crashes alone too, the pool is replaced once per crash, and memory or a missing file is INTERNAL."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

import pymupdf
import pytest

from vlmgrpc.errors import Code, ServiceError
from vlmgrpc.pipeline.render import Renderer


def crash(marker: str) -> None:
    os._exit(70)  # a worker dying the way MuPDF's segfault would end it


def slow_echo(value: int) -> int:
    time.sleep(0.5)
    return value


def out_of_memory() -> None:
    raise MemoryError


@pytest.fixture
def pdf(tmp_path: Path) -> str:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "hello")
    path = tmp_path / "doc.pdf"
    doc.save(path)
    return str(path)


def _run(coro):
    return asyncio.run(coro)


def test_a_crash_is_blamed_on_its_document_only(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> list:
        renderer = Renderer(2)
        try:
            await renderer.warm_up()
            bystanders = [asyncio.ensure_future(renderer._call(slow_echo, i)) for i in range(3)]
            await asyncio.sleep(0.1)
            hostile = asyncio.ensure_future(renderer._call(crash, "x"))
            return await asyncio.gather(*bystanders, hostile, return_exceptions=True)
        finally:
            renderer.close()

    with caplog.at_level(logging.WARNING, logger="vlmgrpc.pipeline.render"):
        *answers, blamed = _run(main())
    assert answers == [0, 1, 2]
    assert isinstance(blamed, ServiceError) and blamed.reason == "INVALID_PDF"
    # Four callers saw the same broken pool; it was replaced once.
    assert sum("starting a new pool" in r.message for r in caplog.records) == 1


def test_the_pool_works_after_a_crash(pdf: str) -> None:
    async def main() -> tuple:
        renderer = Renderer(1)
        try:
            with pytest.raises(ServiceError):
                await renderer._call(crash, "x")
            return await renderer.render(pdf, 0, 72, 10_000_000)
        finally:
            renderer.close()

    image, text = _run(main())
    assert image and "hello" in text


def test_server_faults_are_internal(pdf: str) -> None:
    async def main() -> list:
        renderer = Renderer(1)
        try:
            return await asyncio.gather(renderer._call(out_of_memory),
                                        renderer.render("/nonexistent/doc.pdf", 0, 72, 10_000_000),
                                        renderer.inspect("/nonexistent/doc.pdf", 10, "file"),
                                        return_exceptions=True)
        finally:
            renderer.close()

    memory, render_missing, inspect_missing = _run(main())
    assert (memory.code, memory.reason) == (Code.INTERNAL, "RENDER_OUT_OF_MEMORY")
    for exc in (render_missing, inspect_missing):
        assert (exc.code, exc.reason) == (Code.INTERNAL, "RENDER_INPUT_UNREADABLE")


def test_a_broken_pdf_is_still_the_callers_fault(tmp_path: Path) -> None:
    path = tmp_path / "bad.pdf"
    path.write_bytes(b"%PDF-1.4 not really")

    async def main() -> None:
        renderer = Renderer(1)
        try:
            await renderer.inspect(str(path), 10, "file")
        finally:
            renderer.close()

    with pytest.raises(ServiceError) as caught:
        _run(main())
    assert (caught.value.code, caught.value.reason) == (Code.INVALID_ARGUMENT, "INVALID_PDF")
