"""The CPU document engine: orientation -> text (the PDF's text layer, or OCR) -> layout regions -> tables ->
Markdown page by page, slides, or schema-filled fields for a whole document.

Each stage is its own small ONNX model from a pinned registry package (see triton_models/README.md); they run
one after another in this model instance. The time each stage took rides on every response (`stages`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from PIL import Image

from .inputs import RequestError
from .markdown import page_markdown
from .ocr import OcrEngine, ocr_page
from .page import Line, PageContent

PAGE_DOMAINS = ("document.ocr", "document.markdown")
# Answered as one object for the whole document, filled from its words by the schema-driven extractor.
FIELD_DOMAINS = (
    "document.invoice", "document.receipt", "document.utility-bill", "document.bank-statement",
    "document.us-drivers-license", "document.resume",
    "healthcare.patient-referral", "healthcare.patient-medical-history", "healthcare.patient-consent",
    "healthcare.patient-intake", "healthcare.patient-insurance-card", "healthcare.patient-identification",
)
DOCUMENT_DOMAINS = (*FIELD_DOMAINS, "document.presentation")

T = TypeVar("T")


class Stopwatch:
    """Seconds spent in each stage of one request."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def time(self, stage: str, fn: Callable[..., T], *args: Any) -> T:
        started = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.seconds[stage] = round(self.seconds.get(stage, 0.0) + time.perf_counter() - started, 4)


class DocumentEngine:
    DOMAINS = (*PAGE_DOMAINS, *DOCUMENT_DOMAINS)
    DOCUMENT_DOMAINS = DOCUMENT_DOMAINS

    def __init__(self, params: dict[str, str]) -> None:
        from .orientation import OrientationModel
        from .regions import LayoutModel
        from .tables import TableModel

        threads = int(params.get("intra_op_threads") or 2)
        self.ocr = OcrEngine(params)
        self.orientation = OrientationModel(threads)
        self.layout = LayoutModel(threads)
        self.tables = TableModel(threads)
        self.use_text_layer = (params.get("use_text_layer") or "true").lower() != "false"

    # --- stages --------------------------------------------------------------------------------------------

    def read(self, image: Image.Image, index: int, hint: str, clock: Stopwatch, layout: bool) -> PageContent:
        """One page's lines (text layer, else OCR on the upright page) and, with `layout`, regions and tables."""
        lines = text_layer_lines(hint, image.width, image.height) if self.use_text_layer else []
        if lines:
            page = PageContent(index, image.width, image.height, lines, text_layer=True)
        else:
            image, rotation = clock.time("orientation", self.orientation.upright, image)
            lines = clock.time("ocr", self.ocr.lines, image)
            page = PageContent(index, image.width, image.height, lines, rotation=rotation)
        if layout:
            page.regions = clock.time("layout", self.layout.regions, image)
            for region in page.regions:
                if region.kind == "table":
                    grid = clock.time("tables", self.tables.read, image, region, page.lines)
                    if grid is not None:
                        page.tables.append(grid)
        return page

    # --- domains -------------------------------------------------------------------------------------------

    def run(self, image: Image.Image, domain: str, config: dict[str, Any], text_hint: str,
            ) -> tuple[dict[str, Any], dict[str, Any]]:
        """One page of a page-by-page domain: (result, facts of the page: width, height, rotation, stages)."""
        clock = Stopwatch()
        page = self.read(image, 0, text_hint, clock, layout=domain == "document.markdown")
        if domain == "document.markdown":
            result = clock.time("markdown", page_markdown, page)
        else:
            result = ocr_page(page.lines, page.width, page.height)
        return result, facts(page, clock)

    def run_document(self, images: list[Image.Image], domain: str, config: dict[str, Any], hints: list[str],
                     cancelled: Callable[[], bool] = lambda: False) -> tuple[dict[str, Any], dict[str, Any]]:
        """Every page of the document, answered as one object."""
        clock = Stopwatch()
        pages = []
        for i, (image, hint) in enumerate(zip(images, hints, strict=True)):
            if cancelled():  # a long document is read for seconds: stop between pages
                raise RequestError("CANCELLED", f"request cancelled after {i} of {len(images)} pages", "CANCELLED")
            pages.append(self.read(image, i, hint, clock, layout=True))
        placeholders: list[str] = []
        if domain == "document.presentation":
            result = clock.time("markdown", presentation, pages)
        else:
            schema = config.get("json_schema")
            if not isinstance(schema, dict):
                raise RequestError("MISSING_INPUT", f"domain {domain} is filled from CONFIG.json_schema, which is "
                                   "missing")
            from .extract import extract_with_report

            extraction = clock.time("extract", extract_with_report, schema, pages)
            result, placeholders = extraction.value, extraction.placeholders
        return result, {"pages": len(pages), "text_layer_pages": sum(p.text_layer for p in pages),
                        "placeholders": placeholders, "stages": clock.seconds}


def facts(page: PageContent, clock: Stopwatch) -> dict[str, Any]:
    return {"width": page.width, "height": page.height, "rotation": page.rotation, "text_layer": page.text_layer,
            "stages": clock.seconds}


def presentation(pages: list[PageContent]) -> dict[str, Any]:
    """A deck slide by slide (one PDF page per slide, as LibreOffice exports it): each slide's title is its
    first heading; only what is printed is given, so summary, author and date stay null."""
    slides = []
    for page in pages:
        md = page_markdown(page)
        title, body = split_title(md["content"])
        slides.append({"slide_index": page.index, "title": title, "content": body,
                       "tables": md["tables"], "figures": md["figures"]})
    first = slides[0] if slides else {}
    subtitle = None
    if first and first["content"]:
        subtitle = first["content"].strip().splitlines()[0].lstrip("#").strip() or None
    return {"title": first.get("title"), "subtitle": subtitle, "slides": slides}


def split_title(content: str) -> tuple[str | None, str]:
    """The first Markdown heading of a page as its title, and the rest; (None, content) when it has none."""
    lines = content.strip().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("#"):
            return line.lstrip("#").strip() or None, "\n".join(lines[:i] + lines[i + 1:]).strip()
        if line.strip():
            break
    # No heading: a slide's first line of text is its title when it is short.
    if lines and 0 < len(lines[0].strip()) <= 80:
        return lines[0].strip(), "\n".join(lines[1:]).strip()
    return None, content.strip()


def text_layer_lines(hint: str, width: int, height: int) -> list[Line]:
    """The PDF text layer (TEXT_HINT as the service sends it, JSON with normalised line boxes) in pixels of
    the page image; [] when the page has none (a scan) or the hint is plain text."""
    if not hint or not hint.startswith("{"):
        return []
    try:
        layer = json.loads(hint)
    except json.JSONDecodeError:
        return []
    lines = []
    for entry in layer.get("lines") or ():
        text, box = str(entry.get("text", "")).strip(), entry.get("bbox")
        if text and isinstance(box, list) and len(box) == 4:
            x0, y0, x1, y1 = (float(v) for v in box)
            lines.append(Line(text, 1.0, x0 * width, y0 * height, x1 * width, y1 * height))
    return lines

