"""Reading order and Markdown from OCR lines, and the reading order of a page's blocks (pure Python, no model)."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import median
from typing import Protocol

from .page import Line

# Same row: vertical centres closer than this fraction of the (mean) line height.
SAME_ROW = 0.5
# Paragraph break: vertical gap between rows larger than this many median line heights.
PARAGRAPH_GAP = 1.0
# Headings: row height relative to the median line height.
HEADING_2 = 1.35
HEADING_1 = 1.8


def rows(lines: list[Line]) -> list[list[Line]]:
    """Group lines into rows (top to bottom), each row sorted left to right."""
    out: list[list[Line]] = []
    for line in sorted(lines, key=lambda ln: ln.cy):
        if out:
            row = out[-1]
            row_cy = sum(ln.cy for ln in row) / len(row)
            row_h = sum(ln.height for ln in row) / len(row)
            if abs(line.cy - row_cy) <= SAME_ROW * (line.height + row_h) / 2:
                row.append(line)
                continue
        out.append([line])
    return [sorted(row, key=lambda ln: ln.x0) for row in out]


def reading_order(lines: list[Line]) -> list[Line]:
    return [line for row in rows(lines) for line in row]


BULLETS = ("- ", "* ", "+ ", "• ", "● ", "▪ ", "◦ ", "– ")


def _escape(text: str) -> str:
    # A printed bullet is a list item; other text that starts like Markdown syntax must not turn into a heading
    # or quote by accident.
    if text[:2] in BULLETS:
        return "- " + text[2:].lstrip()
    return "\\" + text if text[:1] in "#>" else text


def to_markdown(lines: list[Line], line_height: float | None = None) -> str:
    """Rows become Markdown lines; large gaps split paragraphs; clearly taller rows become headings.
    line_height: the body text's height (default: the median of `lines`); a block of a page passes the page's."""
    grouped = rows(lines)
    if not grouped:
        return ""
    med = line_height or median(line.height for line in lines) or 1.0
    blocks: list[list[str]] = []
    prev_bottom: float | None = None
    prev_heading = False
    for row in grouped:
        text = " ".join(line.text for line in row)
        top = min(line.y0 for line in row)
        ratio = max(line.height for line in row) / med
        heading = ratio >= HEADING_2
        new_block = (
            not blocks
            or heading
            or prev_heading
            or (prev_bottom is not None and top - prev_bottom > PARAGRAPH_GAP * med)
        )
        if heading:
            text = ("# " if ratio >= HEADING_1 else "## ") + text
        else:
            text = _escape(text)
        if new_block:
            blocks.append([text])
        else:
            blocks[-1].append(text)
        prev_bottom = max(line.y1 for line in row)
        prev_heading = heading
    return "\n\n".join("\n".join(block) for block in blocks)


class Box(Protocol):
    x0: float
    y0: float
    x1: float
    y1: float


def block_order(boxes: Sequence[Box], gutter: float) -> list[int]:
    """Reading order of a page's blocks (indices into `boxes`): columns one after another, each top to bottom, and
    the blocks that cross the columns (a title, a wide table) between them in vertical order.

    Recursive XY-cut: the blocks are cut into bands at horizontal gaps; consecutive bands that share a vertical gap
    (a gutter at least `gutter` wide) form one column section, cut into its columns, each read the same way. So a
    left column longer than the right one still ends before the right one starts."""
    return _order(list(range(len(boxes))), boxes, gutter)


def _order(ids: list[int], boxes: Sequence[Box], gutter: float) -> list[int]:
    if len(ids) <= 1:
        return ids
    sections: list[list[int]] = []
    for band in _cut(ids, boxes, "y", 0.0):
        if sections and len(_cut(sections[-1] + band, boxes, "x", gutter)) > 1:
            sections[-1] += band
        else:
            sections.append(band)
    if len(sections) > 1:
        return [i for section in sections for i in _order(section, boxes, gutter)]
    columns = _cut(ids, boxes, "x", gutter)
    if len(columns) > 1:
        return [i for column in columns for i in _order(column, boxes, gutter)]
    # Neither cut: overlapping blocks, top to bottom then left to right.
    return sorted(ids, key=lambda i: (boxes[i].y0, boxes[i].x0))


def _cut(ids: list[int], boxes: Sequence[Box], axis: str, min_gap: float) -> list[list[int]]:
    """Groups of `ids` separated by gaps wider than `min_gap` in the blocks' projection on the axis, in order."""
    def span(i: int) -> tuple[float, float]:
        b = boxes[i]
        return (b.x0, b.x1) if axis == "x" else (b.y0, b.y1)

    groups: list[list[int]] = []
    end = float("-inf")
    for i in sorted(ids, key=span):
        start, stop = span(i)
        if groups and start - end <= min_gap:
            groups[-1].append(i)
        else:
            groups.append([i])
        end = max(end, stop) if len(groups[-1]) > 1 else stop
    return groups
