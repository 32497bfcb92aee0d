"""Sections of a form: a heading naming an object (`PATIENT INFORMATION`, `Insurance`) over the lines that hold
its fields, down to the next heading in that column."""

from __future__ import annotations

import numpy as np
from rapidfuzz import fuzz, process

from .geometry import PageView, same_row
from .text import fold

HEADING_SCORE = 88


def headings(view: PageView, sections: dict[str, list[tuple[str, float]]], skip: set[int]) -> dict[int, str]:
    """Line index -> the object whose section the line heads: the whole line is its heading
    (`PATIENT INFORMATION`), or what stands before the line's first colon (`Insurance: Aetna`)."""
    texts = [fold(line.text.split(":")[0]) if _colon(line.text) else fold(line.text) for line in view.lines]
    if not sections or not texts:
        return {}
    names = [name for name, labels in sections.items() for _ in labels]
    labels = [fold(text) for labels in sections.values() for text, _ in labels]
    scores = process.cdist(labels, texts, scorer=fuzz.ratio, score_cutoff=HEADING_SCORE, dtype=np.uint8)
    out: dict[int, str] = {}
    for i in range(len(texts)):
        if i in skip or not texts[i]:
            continue
        column = scores[:, i]
        best = int(column.argmax())
        if column[best] >= HEADING_SCORE:
            out[i] = names[best]
    return out


def _colon(text: str) -> bool:
    head, colon, _ = text.partition(":")
    return bool(colon) and not head[-1:].isdigit()


def bare(view: PageView, line: int) -> bool:
    """A heading alone on its line (no value after it): no label for a field."""
    head, colon, rest = view.lines[line].text.partition(":")
    return not colon or not rest.strip() or head[-1:].isdigit()


def section_of_lines(view: PageView, heads: dict[int, str]) -> list[str | None]:
    """For each line, the object whose section it lies in (None outside every section)."""
    lines = view.lines
    tolerance = 2 * view.line_height
    width = view.page.width
    areas: list[tuple[float, float, float, float, str]] = []
    for i, name in heads.items():
        head = lines[i]
        right = min((lines[j].x0 for j in heads if j != i and same_row(head, lines[j]) and lines[j].x0 > head.x0),
                    default=width)
        left = head.x0 - tolerance
        bottom = min((lines[j].y0 for j in heads if lines[j].y0 > head.y1 - 1 and
                      lines[j].x0 < right and lines[j].x1 > left and not same_row(head, lines[j])),
                     default=float(view.page.height) + 1)
        areas.append((left, head.y0, right - 1, bottom, name))
    out: list[str | None] = []
    for i, line in enumerate(lines):
        if i in heads:
            out.append(heads[i])
            continue
        inside = [(top, name) for left, top, right, bottom, name in areas
                  if left <= line.x0 <= right and top <= line.cy < bottom]
        out.append(max(inside)[1] if inside else None)  # the nearest heading above it
    return out
