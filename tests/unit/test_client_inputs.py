"""What the Python client accepts as images and documents, and how it streams uploads."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image

from vlmgrpc_client import errors, submissions
from vlmgrpc_client.inputs import Upload, classify, image_input


def test_images_from_every_kind_of_source(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(b"\x89PNG fake")
    assert image_input(path).data == b"\x89PNG fake"
    assert image_input(str(path)).data == b"\x89PNG fake"
    assert image_input(b"raw").data == b"raw"
    assert image_input("https://example.com/a.png").url == "https://example.com/a.png"
    assert image_input("data:image/png;base64,AAAA").url.startswith("data:")
    assert image_input("file-0123abcd").file_id == "file-0123abcd"
    pil = Image.new("RGB", (8, 4), "white")
    decoded = Image.open(io.BytesIO(image_input(pil).data))
    assert decoded.format == "PNG" and decoded.size == (8, 4)


def test_bad_sources_fail_before_anything_is_sent(tmp_path):
    with pytest.raises(errors.InputError) as info:
        classify(tmp_path / "missing.png")
    assert info.value.reason == "FILE_NOT_FOUND"
    with pytest.raises(errors.InputError):
        classify(12)
    with pytest.raises(errors.InputError):
        submissions.document_source(None, None)
    with pytest.raises(errors.InputError) as info:
        submissions.image_request([], None, stream=False, batch=None, domain="document.ocr", model=None,
                                  config=None, metadata=None, callback_url=None, request_id=None)
    assert info.value.reason == "NO_IMAGES"


def test_requests_carry_the_callers_request_id_or_a_fresh_one():
    kwargs = dict(stream=False, batch=True, model=None, config={"prompt": "p", "page_indices": [0]},
                  metadata=None, callback_url=None)
    given = submissions.document_request("url", "https://x/doc.pdf", domain="document.ocr", request_id="r1", **kwargs)
    assert given.id == "r1" and given.batch and given.document.url == "https://x/doc.pdf"
    assert given.config.prompt == "p" and list(given.config.page_indices) == [0] and given.HasField("created_at")
    fresh = [submissions.document_request("file_id", "file-1", domain="d", request_id=None, **kwargs).id
             for _ in range(2)]
    assert fresh[0] and fresh[0] != fresh[1]


def test_an_upload_sends_size_and_sha256_first_then_chunks_with_progress(tmp_path):
    data = bytes(range(256)) * 40  # 10240 bytes
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    upload = Upload.of(path, chunk_size=4096)
    seen = []
    messages = list(upload.messages(chunk_size=4096, progress=lambda sent, total: seen.append((sent, total))))
    meta = messages[0].metadata
    assert meta.filename == "doc.pdf" and meta.size_bytes == len(data) and meta.content_type == "application/pdf"
    assert meta.sha256 == hashlib.sha256(data).hexdigest()
    assert b"".join(m.chunk for m in messages[1:]) == data
    assert [len(m.chunk) for m in messages[1:]] == [4096, 4096, 2048]
    assert seen == [(0, 10240), (4096, 10240), (8192, 10240), (10240, 10240)]
    again = Upload.of(data, filename="x.bin")
    assert again.sha256 == meta.sha256 and again.content_type == "application/octet-stream"
