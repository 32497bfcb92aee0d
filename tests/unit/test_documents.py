"""PDF inspection and rendering (pipeline/documents.py, pipeline/render.py) on PDFs made with pymupdf."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pymupdf
import pytest
from PIL import Image

from vlmgrpc.errors import Code, ServiceError
from vlmgrpc.pipeline import sniff
from vlmgrpc.pipeline.documents import inspect_pdf, render_page
from vlmgrpc.pipeline.render import Renderer

FIELD = "document"


def _make_pdf(path: Path, pages: int, *, size: tuple[float, float] = (595, 842), **save_kw) -> str:
    doc = pymupdf.open()
    for i in range(pages):
        page = doc.new_page(width=size[0], height=size[1])
        page.insert_text((72, 72), f"Hello from page {i + 1}", fontsize=14)
    doc.save(path, **save_kw)
    doc.close()
    return str(path)


def _fails(path: str, max_pages: int, reason: str) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        inspect_pdf(path, max_pages, FIELD)
    err = info.value
    assert err.code is Code.INVALID_ARGUMENT
    assert err.reason == reason, err
    assert [f for f, _ in err.violations] == [FIELD]
    return err


@pytest.mark.parametrize("pages", [1, 3, 12])
def test_page_count(tmp_path, pages):
    assert inspect_pdf(_make_pdf(tmp_path / "doc.pdf", pages), 100, FIELD) == pages


def test_exactly_max_pages_passes(tmp_path):
    assert inspect_pdf(_make_pdf(tmp_path / "doc.pdf", 5), 5, FIELD) == 5


def test_too_many_pages(tmp_path):
    err = _fails(_make_pdf(tmp_path / "doc.pdf", 6), 5, "TOO_MANY_PAGES")
    assert err.metadata == {"pages": "6", "max_pages": "5"}


@pytest.mark.parametrize("data", [b"", b"this is plain text, not a PDF\n" * 20, b"%PDF-1.7\n" + b"garbage " * 50],
                         ids=["empty", "text", "pdf-header-then-junk"])
def test_non_pdf_bytes(tmp_path, data):
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    _fails(str(path), 100, "INVALID_PDF")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_image_bytes_are_not_a_pdf(tmp_path, fmt):
    buf = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buf, fmt)
    path = tmp_path / "doc.pdf"
    path.write_bytes(buf.getvalue())
    _fails(str(path), 100, "INVALID_PDF")


def test_pdf_without_pages(tmp_path):
    path = tmp_path / "empty.pdf"
    path.write_bytes(b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
                     b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
    _fails(str(path), 100, "PDF_EMPTY")


def test_missing_file_is_the_servers_fault(tmp_path):
    # The service lost its own copy of the input: not something the caller can fix.
    with pytest.raises(ServiceError) as info:
        inspect_pdf(str(tmp_path / "absent.pdf"), 100, FIELD)
    assert (info.value.code, info.value.reason) == (Code.INTERNAL, "RENDER_INPUT_UNREADABLE")


def test_encrypted_pdf(tmp_path):
    path = _make_pdf(tmp_path / "enc.pdf", 2, encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="owner-secret",
                     user_pw="user-secret")
    _fails(path, 100, "PDF_ENCRYPTED")


def test_pdf_with_only_an_owner_password_opens_without_one(tmp_path):
    # Readable by anyone (no user password): nothing to refuse.
    path = _make_pdf(tmp_path / "owner.pdf", 2, encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="owner-secret")
    assert inspect_pdf(path, 100, FIELD) == 2


def test_render_page_returns_lossless_tiff_and_text(tmp_path):
    path = _make_pdf(tmp_path / "render.pdf", 3, size=(200, 100))
    png, text = render_page(path, 1, 144, 10_000_000)
    assert sniff.media_type(png) == "image/tiff"
    with Image.open(io.BytesIO(png)) as img:
        img.load()
        assert img.size == (400, 200)  # 144 dpi is twice the PDF's 72 points per inch
        assert img.mode == "RGB"
        # Not blank: the text was drawn.
        assert img.convert("L").getextrema()[0] < 128
    layer = json.loads(text)
    assert layer["text"].strip() == "Hello from page 2"
    [line] = layer["lines"]
    assert line["text"] == "Hello from page 2"
    x0, y0, x1, y1 = line["bbox"]  # normalised to the page, where the text was inserted
    assert 0 < x0 < x1 <= 1 and 0 < y0 < y1 <= 1
    _, first = render_page(path, 0, 72, 10_000_000)
    assert json.loads(first)["text"].strip() == "Hello from page 1"


def test_a_page_without_text_has_no_text_layer(tmp_path):
    doc = pymupdf.open()
    doc.new_page(width=100, height=100).draw_rect(pymupdf.Rect(10, 10, 50, 50), fill=(0, 0, 0))
    doc.save(tmp_path / "blank.pdf")
    assert render_page(str(tmp_path / "blank.pdf"), 0, 72, 10_000_000)[1] == ""


def test_huge_page_is_rendered_smaller_not_refused(tmp_path):
    path = _make_pdf(tmp_path / "huge.pdf", 1, size=(5000, 5000))
    png, text = render_page(path, 0, 300, 250_000)
    with Image.open(io.BytesIO(png)) as img:
        width, height = img.size
    # Unscaled it would be 20833 x 20833 pixels; scaled to the limit, give or take rounding.
    assert abs(width - 500) <= 2 and abs(height - 500) <= 2
    assert "Hello from page 1" in text


def test_rendered_page_never_exceeds_max_pixels(tmp_path):
    path = _make_pdf(tmp_path / "a4.pdf", 1)
    for max_pixels in (10_000, 12_345, 99_999):
        png, _ = render_page(path, 0, 300, max_pixels)
        with Image.open(io.BytesIO(png)) as img:
            assert img.size[0] * img.size[1] <= max_pixels, (max_pixels, img.size)


def test_a_page_is_fitted_to_max_pixels_in_one_render(tmp_path, monkeypatch):
    """The zoom is chosen so MuPDF's rounding stays within the limit: one pixmap per page, not a retry loop."""
    path = _make_pdf(tmp_path / "a4.pdf", 1)
    calls = []
    original = pymupdf.Page.get_pixmap
    monkeypatch.setattr(pymupdf.Page, "get_pixmap", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    for max_pixels in (1_003_520, 250_000, 77_777):
        calls.clear()
        png, _ = render_page(path, 0, 150, max_pixels)
        with Image.open(io.BytesIO(png)) as img:
            assert 0.98 * max_pixels <= img.size[0] * img.size[1] <= max_pixels, (max_pixels, img.size)
        assert len(calls) == 1


def test_the_text_layer_is_skipped_when_not_wanted(tmp_path):
    path = _make_pdf(tmp_path / "text.pdf", 1)
    image, text = render_page(path, 0, 72, 10_000_000, text=False)
    assert text == "" and sniff.media_type(image) == "image/tiff"
    assert "Hello from page 1" in render_page(path, 0, 72, 10_000_000)[1]


async def test_errors_cross_the_render_process_boundary(tmp_path):
    """Renderer runs inspect_pdf in spawned processes: the ServiceError must arrive whole."""
    good = _make_pdf(tmp_path / "good.pdf", 2)
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"not a pdf")
    renderer = Renderer(1)
    try:
        assert await renderer.inspect(good, 10, FIELD) == 2
        with pytest.raises(ServiceError) as info:
            await renderer.inspect(str(junk), 10, FIELD)
        assert info.value.code is Code.INVALID_ARGUMENT
        assert info.value.reason == "INVALID_PDF"
        assert [f for f, _ in info.value.violations] == [FIELD]
        with pytest.raises(ServiceError) as info:
            await renderer.inspect(good, 1, FIELD)
        assert info.value.reason == "TOO_MANY_PAGES"
        assert info.value.metadata == {"pages": "2", "max_pages": "1"}
        png, text = await renderer.render(good, 1, 72, 10_000_000)
        assert sniff.media_type(png) == "image/tiff" and "page 2" in text
    finally:
        renderer.close()


def _scan_pdf(path, jpeg: bytes, *, text: str = "", invisible: str = "") -> str:
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_image(page.rect, stream=jpeg)
    if text:
        page.insert_text((50, 50), text, fontsize=12)
    if invisible:
        page.insert_text((50, 80), invisible, fontsize=12, render_mode=3)  # an OCR layer
    doc.save(path)
    return str(path)


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (620, 877), "white").save(out, "JPEG", quality=80)
    return out.getvalue()


def test_a_scanned_page_gives_its_own_image_unchanged(tmp_path):
    jpeg = _jpeg()
    data, text = render_page(_scan_pdf(tmp_path / "scan.pdf", jpeg, invisible="Invoice 42"), 0, 150, 10_000_000)
    assert data == jpeg  # no render, no re-encoding
    assert "Invoice 42" in text  # the invisible OCR layer is still the text hint


def test_a_scan_with_visible_text_over_it_is_rendered(tmp_path):
    data, _ = render_page(_scan_pdf(tmp_path / "stamped.pdf", _jpeg(), text="PAID"), 0, 150, 10_000_000)
    assert sniff.media_type(data) == "image/tiff"


def test_a_scan_larger_than_the_pixel_limit_is_rendered_within_it(tmp_path):
    data, _ = render_page(_scan_pdf(tmp_path / "big.pdf", _jpeg()), 0, 72, 400_000)
    with Image.open(io.BytesIO(data)) as img:
        assert img.width * img.height <= 400_000
