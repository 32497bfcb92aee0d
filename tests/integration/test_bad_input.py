"""Bad input gets a clear error code and reason, and the server keeps serving."""

from __future__ import annotations

import hashlib
import io

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image

from tests.conftest import pdf, text_png
from tests.integration.helpers import rpc_error, status_name
from vlmgrpc.api.vlm.v1 import document_service_pb2 as doc_pb
from vlmgrpc.api.vlm.v1 import file_service_pb2 as file_pb
from vlmgrpc.api.vlm.v1 import image_service_pb2 as img_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc_client import Client, upload_messages

pytestmark = pytest.mark.integration
INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture
async def client(server):
    async with Client(server.target) as c:
        yield c


def image_request(data: bytes, domain: str = "document.ocr", **kw) -> img_pb.ImageServiceGenerateRequest:
    return img_pb.ImageServiceGenerateRequest(domain=domain, images=[pb.ImageInput(data=data)], **kw)


def document_request(data: bytes, domain: str = "document.ocr") -> doc_pb.DocumentServiceGenerateRequest:
    return doc_pb.DocumentServiceGenerateRequest(domain=domain, document=pb.DocumentInput(data=data))


def truncated_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (400, 300), "red").save(out, format="JPEG")
    return out.getvalue()[:700]


CASES = {
    "corrupt image": (lambda c: c.images.Generate(image_request(text_png(["x"])[:200])), INVALID, "INVALID_IMAGE",
                      "images[0].data"),
    "truncated jpeg": (lambda c: c.images.Generate(image_request(truncated_jpeg())), INVALID, "INVALID_IMAGE",
                       "images[0].data"),
    "text as an image": (lambda c: c.images.Generate(image_request(b"hello world")), INVALID,
                         "UNSUPPORTED_MEDIA_TYPE", "images[0].data"),
    "non-PDF bytes as a PDF": (lambda c: c.documents.Generate(document_request(b"%PDF-1.7 this is not a pdf")),
                               INVALID, "INVALID_PDF", "document.data"),
    "random bytes as a document": (lambda c: c.documents.Generate(document_request(b"\x00\x01garbage" * 50)),
                                   INVALID, "UNSUPPORTED_MEDIA_TYPE", "document.data"),
    "encrypted PDF": (lambda c: c.documents.Generate(document_request(pdf(1, password="secret"))), INVALID,
                      "PDF_ENCRYPTED", "document.data"),
    "unknown domain": (lambda c: c.images.Generate(image_request(text_png(["x"]), domain="no.such-domain")),
                       INVALID, "UNKNOWN_DOMAIN", "domain"),
    "domain the engine does not serve": (
        lambda c: c.images.Generate(image_request(text_png(["x"]), domain="image.caption")),
        grpc.StatusCode.FAILED_PRECONDITION, "DOMAIN_NOT_SERVED", None),
    "no images": (lambda c: c.images.Generate(img_pb.ImageServiceGenerateRequest(domain="document.ocr")),
                  INVALID, "MISSING_INPUT", "images"),
    "bad temperature": (lambda c: c.images.Generate(image_request(
        text_png(["x"]), config=pb.GenerationConfig(temperature=5))), INVALID, "INVALID_CONFIG", "config.temperature"),
    "page beyond the document": (lambda c: c.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
        domain="document.ocr", document=pb.DocumentInput(data=pdf(2)),
        config=pb.GenerationConfig(page_indices=[5]))), INVALID, "PAGE_OUT_OF_RANGE", "config.page_indices"),
    "unknown file id": (lambda c: c.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
        domain="document.ocr", document=pb.DocumentInput(file_id="file-missing"))),
        grpc.StatusCode.NOT_FOUND, "FILE_NOT_FOUND", None),
    "ftp url": (lambda c: c.images.Generate(img_pb.ImageServiceGenerateRequest(
        domain="document.ocr", images=[pb.ImageInput(url="ftp://example.com/x.png")])),
        INVALID, "INVALID_URL", "images[0].url"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
async def test_bad_request_is_refused_with_a_reason(client, case):
    call, code, reason, field = CASES[case]
    got_code, got_reason, violations = await rpc_error(call(client))
    assert (got_code, got_reason) == (code, reason)
    if field:
        assert field in [f for f, _ in violations]
    await assert_still_serving(client)


async def test_unserved_domain_names_what_is_served(client):
    try:
        await client.images.Generate(image_request(text_png(["x"]), domain="image.caption"))
    except grpc.aio.AioRpcError as err:
        assert "document.ocr" in err.details() and "document.markdown" in err.details()
    else:
        raise AssertionError("should fail")


async def test_oversized_upload_is_refused(client):
    big = 5 * 1024 * 1024  # the test server allows 4 MiB
    metadata = file_pb.UploadFileRequest(metadata=file_pb.UploadFileMetadata(
        filename="big.bin", size_bytes=big, sha256="0" * 64))
    code, reason, violations = await rpc_error(client.files.UploadFile(iter([metadata])))
    assert (code, reason) == (INVALID, "UPLOAD_TOO_LARGE")
    assert ("metadata.size_bytes" in [f for f, _ in violations])
    await assert_still_serving(client)


async def test_upload_checksum_and_size_mismatch(client):
    data = pdf(1)
    messages = list(upload_messages(data, "a.pdf", "application/pdf", 512))
    messages[0].metadata.sha256 = hashlib.sha256(b"other").hexdigest()
    code, reason, _ = await rpc_error(client.files.UploadFile(iter(messages)))
    assert (code, reason) == (INVALID, "CHECKSUM_MISMATCH")
    short = list(upload_messages(data, "a.pdf", "application/pdf", 512))[:-1]
    code, reason, _ = await rpc_error(client.files.UploadFile(iter(short)))
    assert (code, reason) == (INVALID, "SIZE_MISMATCH")
    chunk_first = [file_pb.UploadFileRequest(chunk=b"abc")]
    code, reason, _ = await rpc_error(client.files.UploadFile(iter(chunk_first)))
    assert (code, reason) == (INVALID, "METADATA_FIRST")
    listed = await client.files.ListFiles(file_pb.ListFilesRequest())
    assert all(f.filename != "a.pdf" for f in listed.files)  # nothing half-written was kept
    await assert_still_serving(client)


async def test_message_over_the_server_limit_is_refused(client, server):
    huge = b"\x89PNG\r\n\x1a\n" + b"0" * (65 * 1024 * 1024)  # the server accepts 64 MiB messages
    async with Client(server.target, max_message_bytes=128 * 1024 * 1024) as big_client:
        code, _, _ = await rpc_error(big_client.images.Generate(image_request(huge)))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    await assert_still_serving(client)


async def assert_still_serving(client: Client) -> None:
    health = health_pb2_grpc.HealthStub(client.channel)
    assert (await health.Check(health_pb2.HealthCheckRequest())).status == health_pb2.HealthCheckResponse.SERVING
    reply = await client.images.Generate(image_request(text_png(["still here"]), batch=True))
    assert status_name(reply.prediction.status) in ("enqueued", "running", "completed")
