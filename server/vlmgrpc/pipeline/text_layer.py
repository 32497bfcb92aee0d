"""A PDF page's text layer as the models receive it (TEXT_HINT): its text, and its lines with boxes so the
document engine can use the exact text of a born-digital page instead of reading its pixels."""

from __future__ import annotations

import json

import pymupdf


def text_layer(page: pymupdf.Page) -> str:
    """JSON `{"text": str, "lines": [{"text": str, "bbox": [x0, y0, x1, y1]}]}` with boxes normalised to 0..1 of
    the page as displayed (rotation applied); "" when the page has no text."""
    # One text page for both forms: MuPDF's text extraction was a third of a page's render time.
    textpage = page.get_textpage(flags=pymupdf.TEXTFLAGS_TEXT)
    text = page.get_text(textpage=textpage)
    if not text.strip():
        return ""
    width, height = page.rect.width or 1.0, page.rect.height or 1.0
    rotate = page.rotation_matrix if page.rotation else None
    lines = []
    for block in page.get_text("dict", textpage=textpage)["blocks"]:
        for line in block.get("lines", ()):
            words = "".join(span["text"] for span in line["spans"]).strip()
            if not words:
                continue
            x0, y0, x1, y1 = line["bbox"]
            if rotate is not None:
                x0, y0, x1, y1 = pymupdf.Rect(x0, y0, x1, y1) * rotate
            lines.append({"text": words, "bbox": [round(min(max(v, 0.0), 1.0), 5) for v in (
                x0 / width, y0 / height, x1 / width, y1 / height)]})
    return json.dumps({"text": text, "lines": lines}, ensure_ascii=False, separators=(",", ":"))
