"""Office documents through the real server: converted to PDF by the real LibreOffice when accepted, then read page
by page by the real embedded Triton's `ocr` model; bad ones refused at once with a reason."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest

from tests import office_samples as samples
from tests.conftest import TEST_SETTINGS, ServerProcess
from tests.integration.helpers import rpc_error, status_name
from vlmgrpc.api.vlm.v1 import document_service_pb2 as doc_pb
from vlmgrpc.api.vlm.v1 import file_service_pb2 as file_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc.errors import Code, ServiceError
from vlmgrpc.pipeline.libreoffice import OfficeConverter
from vlmgrpc_client import Client, response, upload_messages

pytestmark = pytest.mark.integration
INVALID = grpc.StatusCode.INVALID_ARGUMENT
MiB = 1024 * 1024


@pytest.fixture
async def client(server):
    samples.soffice()  # LibreOffice missing fails here, with the packages to install
    async with Client(server.target) as c:
        yield c


def request(data: bytes = b"", domain: str = "document.ocr", file_id: str = "",
            ) -> doc_pb.DocumentServiceGenerateRequest:
    document = pb.DocumentInput(file_id=file_id) if file_id else pb.DocumentInput(data=data)
    return doc_pb.DocumentServiceGenerateRequest(domain=domain, document=document, batch=False)


async def completed(client: Client, req: doc_pb.DocumentServiceGenerateRequest) -> tuple[pb.Prediction, dict]:
    pred = (await client.documents.Generate(req, timeout=180)).prediction
    assert status_name(pred.status) == "completed", pred.error.message
    return pred, response(pred)


async def test_docx_is_converted_and_read(client, server):
    data = samples.word(["The quick zebra jumps over the fence.", "Invoice total 4321 euros."],
                        heading="Quarterly report alpha")
    pred, answer = await completed(client, request(data))
    assert pred.progress.total == 1 and pred.usage.elements_processed == 1
    for words in ("Quarterly report alpha", "quick zebra", "4321"):
        assert words in answer["text"], answer["text"]
    # Kept as the PDF: a restart or a re-run reads it without converting again.
    assert (server.data_dir / "inputs" / pred.id / "0").read_bytes().startswith(b"%PDF-")


async def test_pptx_answers_slide_by_slide_in_order(client):
    titles = ["First slide apple", "Second slide banana", "Third slide cherry"]
    pred, answer = await completed(client, request(samples.slides(titles), domain="document.markdown"))
    assert pred.progress.total == 3
    pages = answer["pages"]
    assert [p["page_index"] for p in pages] == [0, 1, 2]
    for page, title in zip(pages, titles, strict=True):
        assert title in page["content"], page


async def test_xlsx_is_printed_and_read(client):
    data = samples.sheet([["Inventory", "Count"], ["widgets", 42], ["gadgets", 7]])
    pred, answer = await completed(client, request(data))
    assert pred.progress.total == 1
    for words in ("Inventory", "widgets", "42", "gadgets"):
        assert words in answer["text"], answer["text"]


async def test_uploaded_docx_is_inspected_whole(client):
    """An upload is typed from its first bytes (a ZIP); used as a document, the whole file says docx."""
    data = samples.word(["Uploaded paragraph kiwi"])
    record = (await client.files.UploadFile(upload_messages(data, "notes.docx", "application/octet-stream", 4096))).file
    _, answer = await completed(client, request(file_id=record.id))
    assert "Uploaded paragraph kiwi" in answer["text"]
    # The uploaded file itself is untouched (the prediction keeps its own converted copy).
    chunks = [m.chunk async for m in client.files.DownloadFile(file_pb.DownloadFileRequest(id=record.id))]
    assert b"".join(chunks) == data


@contextlib.contextmanager
def serving(data: bytes):
    """A local HTTP server answering every GET with `data` (the test servers allow private URLs)."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # the name http.server calls
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/deck.pptx"
    finally:
        httpd.shutdown()
        httpd.server_close()


async def test_pptx_by_url_is_converted_when_fetched(client, server):
    titles = ["Fetched slide one", "Fetched slide two"]
    with serving(samples.slides(titles)) as url:
        req = doc_pb.DocumentServiceGenerateRequest(domain="document.ocr", document=pb.DocumentInput(url=url),
                                                    batch=False)
        pred, answer = await completed(client, req)
    assert pred.progress.total == 2
    for page, title in zip(answer["pages"], titles, strict=True):  # every page, also those only known once fetched
        assert title in page["text"], page
    assert (server.data_dir / "inputs" / pred.id / "0").read_bytes().startswith(b"%PDF-")


async def test_legacy_and_opendocument_formats_convert_side_by_side(client):
    made = samples.legacy_and_opendocument()
    exts = ("doc", "xls", "odp")  # one per family of import filters; all six are told apart in the unit tests
    results = await asyncio.gather(*(completed(client, request(made[ext])) for ext in exts))  # office_workers at once
    for ext, (pred, answer) in zip(exts, results, strict=True):
        assert pred.progress.total == 1 and "Legacy" in answer["text"], (ext, answer["text"])


@pytest.mark.parametrize("case", ["truncated docx", "random bytes after an OLE2 header", "encrypted docx",
                                  "encrypted pptx"])
async def test_bad_office_documents_are_refused_at_once(client, case):
    docx = samples.word(["secret"])
    data, reason = {
        "truncated docx": (docx[: len(docx) // 2], "INVALID_OFFICE_DOCUMENT"),
        "random bytes after an OLE2 header": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + os.urandom(8192),
                                              "INVALID_OFFICE_DOCUMENT"),
        "encrypted docx": (samples.encrypted(docx), "OFFICE_ENCRYPTED"),
        "encrypted pptx": (samples.encrypted(samples.slides(["locked"])), "OFFICE_ENCRYPTED"),
    }[case]
    started = time.monotonic()
    code, got, violations = await rpc_error(client.documents.Generate(request(data), timeout=60))
    assert (code, got) == (INVALID, reason)
    assert "document.data" in [f for f, _ in violations]
    assert time.monotonic() - started < 5  # told from the container: LibreOffice never started


async def test_an_unconvertible_type_lists_what_is_accepted(client):
    code, reason, violations = await rpc_error(client.documents.Generate(request(b"just some text" * 10)))
    assert (code, reason) == (INVALID, "UNSUPPORTED_MEDIA_TYPE")
    assert any("docx" in description and "pptx" in description for _, description in violations)


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, pgrp, ...
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def _hanging_soffice(tmp_path: Path) -> Path:
    """A soffice stand-in that hangs, with a child of its own; it writes its process group, pid and child's pid."""
    fake = tmp_path / "soffice"
    fake.write_text(f"#!/bin/sh\nawk '{{print $5}}' /proc/$$/stat > {tmp_path}/group.part\n"  # field 5: the group
                    f"echo $$ > {tmp_path}/leader\nsleep 300 &\necho $! > {tmp_path}/child\n"
                    f"mv {tmp_path}/group.part {tmp_path}/group\nwait\n")
    fake.chmod(0o755)
    return fake


async def _gone(group: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while _group_members(group) and time.monotonic() < deadline:  # killed at once; reaped by init soon after
        await asyncio.sleep(0.1)
    return not _group_members(group)


async def test_hung_conversion_is_killed_at_the_limit_with_its_process_group(tmp_path):
    srv = ServerProcess(tmp_path / "svc", **TEST_SETTINGS, soffice_path=_hanging_soffice(tmp_path),
                        office_timeout_s=1).start()
    try:
        async with Client(srv.target) as client:
            started = time.monotonic()
            code, reason, _ = await rpc_error(client.documents.Generate(request(samples.word(["x"])), timeout=60))
            took = time.monotonic() - started
            assert (code, reason) == (INVALID, "OFFICE_CONVERSION_TIMEOUT")
            assert 1 <= took < 10, took
            group, leader, child = (int((tmp_path / name).read_text()) for name in ("group", "leader", "child"))
            assert child != leader and group not in (0, os.getpgrp())  # a session of its own
            assert await _gone(group, 5)
            assert not any(p.name.startswith(".office-") for p in (srv.data_dir / "inputs").rglob("*"))

            # The server killed mid-conversion: the sandbox's own `timeout` still ends the group, a little later.
            (tmp_path / "group").unlink()
            call = asyncio.ensure_future(client.documents.Generate(request(samples.word(["y"])), timeout=60))
            while not (tmp_path / "group").exists():
                await asyncio.sleep(0.05)
            orphaned = int((tmp_path / "group").read_text())
            srv.stop(signal.SIGKILL)
            await asyncio.gather(call, return_exceptions=True)
            assert _group_members(orphaned), "the conversion should outlive the server for a moment"
            assert await _gone(orphaned, 1 + 5 + 5)  # office_timeout_s + ORPHAN_GRACE_S + slack
    finally:
        srv.stop()


async def test_missing_libreoffice_is_a_failed_precondition(tmp_path):
    converter = OfficeConverter(str(tmp_path / "no-soffice"), 5, 2048 * MiB, 1, True)
    path = tmp_path / "doc"
    path.write_bytes(samples.word(["x"]))
    with pytest.raises(ServiceError) as err:
        await converter.to_pdf(path, "document.data")
    assert (err.value.code, err.value.reason) == (Code.FAILED_PRECONDITION, "OFFICE_CONVERTER_MISSING")


async def test_libreoffice_starts_under_the_smallest_memory_limit(tmp_path):
    converter = OfficeConverter(samples.soffice(), 60, 256 * MiB, 1, True)
    path = tmp_path / "deck"
    path.write_bytes(samples.slides(["a", "b"]))
    assert await converter.to_pdf(path, "document.data") == "application/vnd.openxmlformats-officedocument." \
                                                            "presentationml.presentation"
    assert path.read_bytes().startswith(b"%PDF-")
    assert [p.name for p in tmp_path.iterdir()] == ["deck"]  # its profile, HOME and TMPDIR are gone
