"""PDF inspection and page rendering with pymupdf. These functions run in worker processes
(see pipeline/render.py): MuPDF holds the GIL, and a process keeps the event loop free."""

from __future__ import annotations

import io
from functools import lru_cache

import pymupdf
from PIL import Image

from vlmgrpc.errors import ServiceError, internal, invalid
from vlmgrpc.pipeline.text_layer import text_layer


def server_fault(exc: BaseException) -> ServiceError | None:
    """The server's own failure (memory, its input file gone), which must not be blamed on the caller's PDF;
    None when the exception is about the document."""
    if isinstance(exc, MemoryError):
        return internal("RENDER_OUT_OF_MEMORY", "the renderer ran out of memory")
    if isinstance(exc, (OSError, pymupdf.FileNotFoundError)):
        return internal("RENDER_INPUT_UNREADABLE", f"the renderer could not read its input: {exc}")
    return None


def inspect_pdf(path: str, max_pages: int, field_path: str) -> int:
    """Open the PDF and return its page count, or raise a clear INVALID_ARGUMENT."""
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except Exception as exc:  # pymupdf raises its own FileDataError, RuntimeError, ...
        raise server_fault(exc) or invalid("INVALID_PDF", f"the bytes are not a readable PDF: {exc}",
                                           field_path) from None
    with doc:
        if not doc.is_pdf:  # MuPDF opens images too, whatever filetype says
            raise invalid("INVALID_PDF", "the bytes are not a PDF", field_path)
        if doc.needs_pass or doc.is_encrypted:
            raise invalid("PDF_ENCRYPTED", "the PDF is encrypted; send it without a password", field_path)
        try:
            pages = doc.page_count
        except Exception as exc:  # a broken page tree
            raise invalid("INVALID_PDF", f"the PDF's page tree is broken: {exc}", field_path) from None
    if pages == 0:
        raise invalid("PDF_EMPTY", "the PDF has no pages", field_path)
    if pages > max_pages:
        raise invalid("TOO_MANY_PAGES", f"the PDF has {pages} pages; at most {max_pages} are accepted",
                      field_path, pages=str(pages), max_pages=str(max_pages))
    return pages


def ready() -> bool:
    """Nothing: calling it in a worker process imports this module (and MuPDF) there."""
    return True


@lru_cache(maxsize=4)
def _open(path: str) -> pymupdf.Document:
    # A worker renders many pages of the same document in a row: keep it open.
    return pymupdf.open(path, filetype="pdf")


def render_page(path: str, index: int, dpi: int, max_pixels: int, text: bool = True) -> tuple[bytes, str]:
    """Render one page (lossless TIFF, or its own scan) and return it with its text layer (text_layer.py; ""
    unless `text`). MuPDF's own errors become INVALID_PDF here: they cannot cross back from the worker process
    (not picklable)."""
    try:
        image, page = _render(path, index, dpi, max_pixels)
        return image, text_layer(page) if text else ""
    except Exception as exc:
        raise server_fault(exc) or invalid(
            "INVALID_PDF", f"page {index} cannot be rendered: {type(exc).__name__}: {exc}", "document",
            page=str(index)) from None


def _render(path: str, index: int, dpi: int, max_pixels: int) -> tuple[bytes, pymupdf.Page]:
    page = _open(path)[index]
    scan = _scan(page, max_pixels)
    if scan is not None:  # a scanned page: its own image, neither rendered nor encoded again
        return scan, page
    zoom = min(dpi / 72, _fitting_zoom(page.rect.width, page.rect.height, max_pixels))
    pix = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), alpha=False)
    while pix.width * pix.height > max_pixels:  # MuPDF rounds the pixel size up
        zoom *= 0.995 * (max_pixels / (pix.width * pix.height)) ** 0.5
        pix = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), alpha=False)
    return encode(pix), page


def _fitting_zoom(width: float, height: float, max_pixels: int) -> float:
    """The largest zoom whose pixmap has at most max_pixels even after MuPDF rounds each side up (one more
    pixel per side): (w z + 1)(h z + 1) <= max_pixels. A page rendered smaller than asked is fitted, not refused,
    and rendered once (correcting after the fact rendered a page two or three times)."""
    area, sides = width * height, width + height
    if area <= 0:
        return 1.0
    return (-sides + (sides * sides + 4 * area * (max_pixels - 1)) ** 0.5) / (2 * area)


def encode(pix: pymupdf.Pixmap) -> bytes:
    """Lossless and cheap: TIFF with PackBits takes about a third of PNG's time per page (A4 at 150 dpi:
    ~15 ms against ~45 ms here, for a file ~1.5x larger) and every reader (Pillow, the vLLM backend) opens it."""
    image = Image.frombuffer("RGB", (pix.width, pix.height), pix.samples_mv, "raw", "RGB", pix.stride, 1)
    out = io.BytesIO()
    image.save(out, format="TIFF", compression="packbits")
    return out.getvalue()


SCAN_FORMATS = ("jpeg", "png", "jpx")
SCAN_COVER = 0.95  # of the page's area


def _scan(page: pymupdf.Page, max_pixels: int) -> bytes | None:
    """The page's embedded image when the page is one upright full-page scan with no visible text drawn over
    it (an invisible OCR text layer is fine); None when the page must be rendered."""
    images = page.get_images(full=True)
    if len(images) != 1 or page.rotation or page.get_drawings():
        return None
    xref = images[0][0]
    rects = page.get_image_rects(xref, transform=True)
    if len(rects) != 1:
        return None
    rect, matrix = rects[0]
    upright = abs(matrix.b) < 1e-6 and abs(matrix.c) < 1e-6 and matrix.a > 0 and matrix.d > 0
    if not upright or (rect & page.rect).get_area() < SCAN_COVER * page.rect.get_area():
        return None
    if any(span.get("type") != 3 for span in page.get_texttrace()):  # 3: invisible text
        return None
    info = page.parent.extract_image(xref)
    if not info or info.get("ext") not in SCAN_FORMATS or info["width"] * info["height"] > max_pixels:
        return None
    if info.get("smask") or info.get("colorspace", 3) not in (1, 3):  # masked, CMYK: render it instead
        return None
    return info["image"]
