"""A corpus of hostile files, each sent the ways a caller would: ImageService.Generate with the bytes,
DocumentService.Generate with the bytes, and UploadFile then Generate by file_id (image and document).

Every outcome is a completed prediction or a clear status (never INTERNAL or UNKNOWN) with an
ErrorInfo reason, whether the refusal comes at once or later as a FAILED prediction; the server
logs no bug and keeps serving; at the end its peak RSS is bounded and it is still alive."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import random
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import pymupdf
import pytest
from google.rpc import error_details_pb2
from PIL import Image

from tests.conftest import pdf, text_png
from tests.hostile.conftest import (
    NEVER,
    TERMINAL,
    assert_alive,
    assert_no_disk_leaks,
    assert_still_serving,
    begin_stop,
    bug_lines,
    failure,
    fresh_stats,
    log_excerpt,
    log_offset,
    start_server,
)
from vlmgrpc.api.vlm.v1 import document_service_pb2 as doc_pb
from vlmgrpc.api.vlm.v1 import file_service_pb2 as file_pb
from vlmgrpc.api.vlm.v1 import image_service_pb2 as img_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc.api.vlm.v1 import prediction_service_pb2 as ps
from vlmgrpc_client import Client, error_reason, upload_messages

pytestmark = pytest.mark.integration
INVALID = grpc.StatusCode.INVALID_ARGUMENT
MAX_PEAK_RSS_MB = 1500


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory, "corpus")
    yield srv
    begin_stop(srv)


@pytest.fixture(scope="module")
async def client(server):
    async with Client(server.target) as c:
        yield c


# --- building hostile bytes by hand (never allocating the pixels they claim)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width: int, height: int, *, rows: int | None = None, idat: bytes | None = None) -> bytes:
    """An 8-bit grayscale PNG declaring width x height, with pixel data for `rows` rows only."""
    if idat is None:
        idat = zlib.compress(b"\x00" * ((width + 1) * (height if rows is None else rows)), 9)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b""))


def encoded(fmt: str, mode: str = "RGB", size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "white").save(out, format=fmt)
    return out.getvalue()


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small real JPEG whose SOF marker is rewritten to claim width x height."""
    data = bytearray(encoded("JPEG"))
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            struct.pack_into(">HH", data, i + 5, height, width)
            return bytes(data)
        i += 2 + length
    raise AssertionError("no SOF marker")


def gif_claiming(width: int, height: int) -> bytes:
    """A small real GIF whose screen and image descriptors claim width x height."""
    data = bytearray(encoded("GIF", "P", (8, 8)))
    struct.pack_into("<HH", data, 6, width, height)
    descriptor = data.index(b",", 13)
    struct.pack_into("<HH", data, descriptor + 5, width, height)
    return bytes(data)


def bad_crc_png() -> bytes:
    data = bytearray(text_png(["bad crc"], size=(300, 100)))
    data[29] ^= 0xFF  # the IHDR chunk's CRC (8 signature + 4 length + 4 type + 13 body)
    return bytes(data)


def truncated_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (400, 300), "red").save(out, format="JPEG")
    return out.getvalue()[:700]


def raw_pdf(objects: list[bytes]) -> bytes:
    """A PDF of the given object bodies (numbered from 1, object 1 the catalog) with a correct xref."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"


def many_pages_pdf(pages: int) -> bytes:
    """`pages` empty pages, written by hand (pymupdf's new_page takes seconds for 10,000)."""
    kids = b" ".join(b"%d 0 R" % (3 + i) for i in range(pages))
    tree = b"<< /Type /Pages /Kids [%s] /Count %d /MediaBox [0 0 200 200] >>" % (kids, pages)
    return raw_pdf([CATALOG, tree, *[b"<< /Type /Page /Parent 2 0 R >>"] * pages])


def huge_page_pdf() -> bytes:
    doc = pymupdf.open()
    page = doc.new_page(width=14400, height=14400)  # 200 x 200 inches: 900 Mpx at 150 dpi
    page.insert_text((400, 1200), "HUGE PAGE", fontsize=600)
    data = doc.tobytes()
    doc.close()
    return data


def image_bomb_pdf() -> bytes:
    """One page drawing a Flate image XObject that declares 50,000 x 50,000 gray pixels."""
    width = 50_000
    stream = zlib.compress(b"\x00" * width * 4, 9)
    content = b"q 300 0 0 300 0 0 cm /Im0 Do Q"
    return raw_pdf([
        CATALOG, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 300] /Resources << /XObject << /Im0 5 0 R >> >> "
        b"/Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 "
        b"/Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream" % (width, width, len(stream), stream),
    ])


def truncated_at_xref() -> bytes:
    good = pdf(3)
    return good[:good.rindex(b"xref") + 30]


def random_after_header() -> bytes:
    return b"%PDF-1.7\n" + random.Random(7).randbytes(4000)


# --- the corpus


@dataclass(frozen=True)
class Expect:
    """ok: completes; code/reason: refused exactly so; neither: completes or fails clearly."""

    ok: bool = False
    code: grpc.StatusCode | None = None
    reason: str = ""


OK = Expect(ok=True)
CLEAR = Expect()


def refused(reason: str, code: grpc.StatusCode = INVALID) -> Expect:
    return Expect(code=code, reason=reason)


ROUTES = ("image", "document", "file-image", "file-document")


@dataclass(frozen=True)
class Case:
    build: Callable[[], bytes]
    image: Expect
    document: Expect
    file_image: Expect | None = None  # defaults to `image`
    file_document: Expect | None = None  # defaults to `document`
    upload: Expect = OK
    declared: str = "application/octet-stream"

    def expect(self, route: str) -> Expect:
        return {"image": self.image, "document": self.document,
                "file-image": self.file_image or self.image,
                "file-document": self.file_document or self.document}[route]


def same(expect: Expect, **kw) -> dict:
    return {"image": expect, "document": expect, **kw}


NOT_AN_IMAGE = refused("UNSUPPORTED_MEDIA_TYPE")
INVALID_IMAGE = refused("INVALID_IMAGE")
TOO_LARGE = refused("IMAGE_TOO_LARGE")
INVALID_PDF = refused("INVALID_PDF")

CORPUS: dict[str, Case] = {
    "truncated png": Case(lambda: text_png(["truncated"], size=(300, 100))[:300], **same(INVALID_IMAGE)),
    "truncated jpeg": Case(truncated_jpeg, **same(INVALID_IMAGE)),
    "png with a bad IHDR crc": Case(bad_crc_png, **same(INVALID_IMAGE)),
    "png with garbage IDAT": Case(lambda: png(64, 64, idat=random.Random(1).randbytes(300)), **same(INVALID_IMAGE)),
    "png bomb 50000x50000": Case(lambda: png(50_000, 50_000, rows=2), **same(TOO_LARGE)),
    "jpeg bomb 50000x50000": Case(lambda: jpeg_claiming(50_000, 50_000), **same(TOO_LARGE)),
    "gif bomb 50000x50000": Case(lambda: gif_claiming(50_000, 50_000), **same(TOO_LARGE)),
    "png just over the pixel limit": Case(lambda: png(5000, 4001, rows=1), **same(TOO_LARGE)),
    # The zlib stream ends cleanly after 4 of 300 rows: Pillow pads the rest, the model sees a blank page.
    "png whose pixel data stops early": Case(lambda: png(400, 300, rows=4), **same(CLEAR)),
    "text bytes": Case(lambda: b"just some text, not an image\n" * 20, **same(NOT_AN_IMAGE)),
    "random bytes": Case(lambda: random.Random(2).randbytes(5000), **same(NOT_AN_IMAGE)),
    "zero bytes": Case(lambda: b"", **same(refused("MISSING_INPUT")), upload=refused("INVALID_SIZE")),
    "encrypted pdf": Case(lambda: pdf(1, password="secret"), NOT_AN_IMAGE, refused("PDF_ENCRYPTED")),
    "random bytes after %PDF-": Case(random_after_header, NOT_AN_IMAGE, INVALID_PDF),
    # MuPDF repairs a broken xref by scanning the objects: either it reads, or it is refused clearly.
    "pdf truncated in its xref": Case(truncated_at_xref, NOT_AN_IMAGE, CLEAR),
    "pdf cut in half": Case(lambda: (whole := pdf(3))[:len(whole) // 2], NOT_AN_IMAGE, CLEAR),
    "pdf of 10000 pages": Case(lambda: many_pages_pdf(10_000), NOT_AN_IMAGE, refused("TOO_MANY_PAGES")),
    "pdf of 60 pages": Case(lambda: many_pages_pdf(60), NOT_AN_IMAGE, refused("TOO_MANY_PAGES")),
    "pdf of one 14400pt page": Case(huge_page_pdf, NOT_AN_IMAGE, CLEAR),
    "pdf drawing a 50000x50000 image": Case(image_bomb_pdf, NOT_AN_IMAGE, CLEAR),
    "pdf whose page tree is empty but counts 3": Case(
        lambda: raw_pdf([CATALOG, b"<< /Type /Pages /Kids [] /Count 3 >>"]), NOT_AN_IMAGE, INVALID_PDF),
    "pdf whose page count is 2^31-1": Case(lambda: raw_pdf([
        CATALOG, b"<< /Type /Pages /Kids [3 0 R] /Count 2147483647 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] >>"]), NOT_AN_IMAGE, INVALID_PDF),
    "pdf whose page tree is a cycle": Case(
        lambda: raw_pdf([CATALOG, b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>"]), NOT_AN_IMAGE, INVALID_PDF),
    "png declared application/pdf": Case(lambda: text_png(["declared pdf"], size=(300, 100)), OK, OK,
                                         declared="application/pdf"),
    "pdf declared image/png": Case(lambda: pdf(1), NOT_AN_IMAGE, OK, declared="image/png"),
    "jpeg as a document": Case(lambda: encoded("JPEG", size=(200, 120)), OK, OK, declared="image/jpeg"),
}


@functools.cache
def corpus_bytes(name: str) -> bytes:
    return CORPUS[name].build()


_uploads: dict[str, tuple[grpc.StatusCode | None, str, str]] = {}  # case -> (code, reason, file id)


async def upload(client: Client, name: str) -> tuple[grpc.StatusCode | None, str, str]:
    if name not in _uploads:
        data, case = corpus_bytes(name), CORPUS[name]
        try:  # no bytes: upload_messages sends the metadata alone
            reply = await client.files.UploadFile(upload_messages(data, f"{name}.bin", case.declared), timeout=30)
            assert reply.file.sha256 == hashlib.sha256(data).hexdigest()
            _uploads[name] = (None, "", reply.file.id)
        except grpc.aio.AioRpcError as err:
            _uploads[name] = (*failure(err), "")
    return _uploads[name]


async def send(client: Client, name: str, route: str) -> tuple[str, grpc.StatusCode | None, str]:
    """Send the case one way; ("ok"|"failed"|"refused", code, reason). A FAILED prediction's
    error counts as the outcome (a refusal that came after acceptance)."""
    if route.startswith("file-"):
        code, reason, file_id = await upload(client, name)
        if code is not None:
            return "upload refused", code, reason
        image, document = pb.ImageInput(file_id=file_id), pb.DocumentInput(file_id=file_id)
    else:
        data = corpus_bytes(name)
        image, document = pb.ImageInput(data=data), pb.DocumentInput(data=data)
    try:
        if route.endswith("image"):
            reply = await client.images.Generate(img_pb.ImageServiceGenerateRequest(
                domain="document.ocr", images=[image], batch=False), timeout=120)
        else:
            reply = await client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
                domain="document.ocr", document=document, batch=False), timeout=120)
    except grpc.aio.AioRpcError as err:
        return "refused", *failure(err)
    pred = reply.prediction
    if pred.status not in TERMINAL:  # the sync wait is capped by sync_wait_s; poll the rest
        pred = await terminal(client, pred.id)
    if pred.status == pb.PREDICTION_STATUS_COMPLETED:
        return "ok", None, ""
    return "failed", CODES[pred.error.code], _error_reason(pred.error)


CODES = {code.value[0]: code for code in grpc.StatusCode}


def _error_reason(status) -> str:
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""


async def terminal(client: Client, prediction_id: str, timeout_s: float = 120) -> pb.Prediction:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        pred = (await client.predictions.GetPrediction(ps.GetPredictionRequest(id=prediction_id))).prediction
        if pred.status in TERMINAL:
            return pred
        assert asyncio.get_running_loop().time() < deadline, f"prediction {prediction_id} never ended"
        await asyncio.sleep(0.1)


def _params():
    for name in CORPUS:
        for route in ROUTES:
            yield pytest.param(name, route, id=re.sub(r"[^A-Za-z0-9]+", "-", f"{name} {route}"))


OUTCOMES: dict[str, str] = {}  # for the report at the end of the module


@pytest.mark.parametrize(("name", "route"), list(_params()))
async def test_hostile_file(client, server, name, route):
    case = CORPUS[name]
    since = log_offset(server)
    kind, code, reason = await send(client, name, route)
    OUTCOMES[f"{name} / {route}"] = f"{kind} {code.name if code else ''} {reason}".strip()
    logged = bug_lines(server, since)
    assert code not in NEVER, f"{name} via {route}: {kind} {code} {reason}\n{log_excerpt(server, since)}"
    assert not logged, f"the server logged a bug for {name} via {route}:\n{log_excerpt(server, since)}"
    if kind != "ok":
        assert reason, f"{name} via {route}: {code} without an ErrorInfo reason"
    expect = case.upload if kind == "upload refused" else case.expect(route)
    if expect.ok:
        assert kind == "ok", f"{name} via {route} should complete, got {kind} {code} {reason}"
    elif expect.code is not None:
        assert (code, reason) == (expect.code, expect.reason), f"{name} via {route}: {kind}"
    await assert_still_serving(client)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


async def test_non_utf8_filename_is_malformed_not_internal(client, server):
    """UploadFileMetadata.filename (field 1) carrying invalid UTF-8, inside UploadFileRequest field 1,
    built by hand on the wire and sent through a generic method."""
    body = pdf(1)
    metadata = (_field(1, b"r\xe9sum\xe9\xff\xfe.pdf") + _varint(2 << 3) + _varint(len(body))
                + _field(3, hashlib.sha256(body).hexdigest().encode()) + _field(4, b"application/pdf"))
    messages = [_field(1, metadata), file_pb.UploadFileRequest(chunk=body).SerializeToString()]
    upload_call = client.channel.stream_unary("/vlm.v1.FileService/UploadFile", request_serializer=None,
                                              response_deserializer=file_pb.UploadFileResponse.FromString)
    before = len((await client.files.ListFiles(file_pb.ListFilesRequest(page_size=1000))).files)
    since = log_offset(server)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await upload_call(iter(messages), timeout=10)
    assert (info.value.code(), error_reason(info.value)[0]) == (INVALID, "MALFORMED_REQUEST")
    assert not bug_lines(server, since)
    after = len((await client.files.ListFiles(file_pb.ListFilesRequest(page_size=1000))).files)
    assert after == before  # nothing was kept
    await assert_still_serving(client)


@pytest.mark.parametrize(("filename", "reason"), [
    ("with\x00nul.png", "INVALID_FILENAME"), ("x" * 256, "INVALID_FILENAME"), ("", "INVALID_FILENAME"),
    ("../../../../etc/passwd", ""), ("名前 🖼️.png", ""), ("a\nb\r\tc.png", "")])
async def test_hostile_filenames(client, server, filename, reason):
    data = encoded("PNG")
    since = log_offset(server)
    try:
        reply = await client.files.UploadFile(upload_messages(data, filename, "image/png"), timeout=10)
    except grpc.aio.AioRpcError as err:
        assert failure(err) == (INVALID, reason)
    else:
        assert not reason, f"{filename!r} should be refused {reason}"
        assert reply.file.filename == filename and reply.file.detected_type == "image/png"
        # The name is a label only: the bytes live under the data directory by id.
        assert not any(p.name == "passwd" for p in server.data_dir.rglob("passwd"))
        got = b"".join([m.chunk async for m in client.files.DownloadFile(
            file_pb.DownloadFileRequest(id=reply.file.id), timeout=10)])
        assert got == data
    assert not bug_lines(server, since)
    await assert_still_serving(client)


async def test_zz_server_bounded_and_alive(client, server):
    """After the whole corpus: full requests still complete, peak RSS is bounded, the process lives."""
    image = await client.images.Generate(img_pb.ImageServiceGenerateRequest(
        domain="document.ocr", images=[pb.ImageInput(data=text_png(["after the corpus"]))], batch=False),
        timeout=60)
    assert image.prediction.status == pb.PREDICTION_STATUS_COMPLETED
    assert "corpus" in image.prediction.response.struct_value["text"]
    document = await client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
        domain="document.ocr", document=pb.DocumentInput(data=pdf(2)), batch=False), timeout=60)
    assert document.prediction.status == pb.PREDICTION_STATUS_COMPLETED
    await assert_no_disk_leaks(client, server)
    last = (await fresh_stats(server))[-1]
    print(f"\ncorpus server: {last}")
    for key, outcome in OUTCOMES.items():
        print(f"  {key}: {outcome}")
    assert last.peak_rss_mb < MAX_PEAK_RSS_MB, last
    assert_alive(server)

