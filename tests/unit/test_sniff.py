"""Media type detection from the first bytes (pipeline/sniff.py), on real encoded files."""

from __future__ import annotations

import io

import pymupdf
import pytest
from PIL import Image

from vlmgrpc.pipeline import sniff


def _image(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (17, 9), (30, 120, 200)).save(buf, fmt)
    return buf.getvalue()


def _pdf() -> bytes:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "hello")
    data = doc.tobytes()
    doc.close()
    return data


@pytest.mark.parametrize("fmt,expected", [
    ("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("WEBP", "image/webp"),
    ("TIFF", "image/tiff"), ("BMP", "image/bmp"),
])
def test_images(fmt, expected):
    data = _image(fmt)
    assert sniff.media_type(data) == expected
    assert sniff.is_image(sniff.media_type(data))


def test_big_endian_tiff():
    assert sniff.media_type(b"MM\x00*" + b"\x00" * 20) == "image/tiff"


def test_gif87a_and_gif89a():
    assert sniff.media_type(b"GIF87a" + b"\x00" * 10) == "image/gif"
    assert sniff.media_type(b"GIF89a" + b"\x00" * 10) == "image/gif"


def test_pdf():
    data = _pdf()
    assert sniff.media_type(data) == sniff.PDF == "application/pdf"
    assert not sniff.is_image(sniff.media_type(data))


def test_only_the_head_matters():
    assert sniff.media_type(_image("PNG")[:16]) == "image/png"
    assert sniff.media_type(b"%PDF-") == "application/pdf"


@pytest.mark.parametrize("data", [
    b"",
    b"hello world, just text",
    b"%PD",  # too short to be a PDF
    b" %PDF-1.7",  # not at the start
    b"\x89PNG\r\n\x1a",  # signature cut short
    b"\xff\xd8",  # JPEG SOI without the next marker
    b"RIFF\x24\x00\x00\x00WAVEfmt ",  # RIFF, but audio
    b"GIF90a",
    b"PK\x03\x04" + b"\x00" * 12,  # zip
    b"\x00" * 64,
], ids=["empty", "text", "short-pdf", "late-pdf", "short-png", "short-jpeg", "wav", "gif90", "zip", "zeros"])
def test_junk_is_octet_stream(data):
    assert sniff.media_type(data) == "application/octet-stream"
    assert not sniff.is_image(sniff.media_type(data))


def test_is_image():
    assert set(sniff.IMAGE_TYPES) == {"image/png", "image/jpeg", "image/gif", "image/webp", "image/tiff",
                                      "image/bmp"}
    assert not sniff.is_image("image/svg+xml")
    assert not sniff.is_image("")
