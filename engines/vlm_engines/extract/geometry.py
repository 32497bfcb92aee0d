"""Where a label's value lies on the page: the line right of it, the line under it, the block of lines under it."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import median

from ..layout import reading_order
from ..page import Line, PageContent

# A value under its label starts at most this many label heights below it.
BELOW_GAP = 1.6
# Lines of one block (an address) are at most this many line heights apart.
BLOCK_GAP = 1.0
# A line under another may overlap it by up to this much of its height (OCR boxes are padded); more is one row.
OVERLAP = 0.5
# A value right of its label: their centres at most this many line heights apart.
LEVEL = 0.4


@dataclass
class PageView:
    """A page's lines in reading order, with the measures the searches use (lines sorted by top, for bisect)."""

    page: PageContent
    lines: list[Line]
    line_height: float
    tops: list[float] = field(default_factory=list)
    by_top: list[int] = field(default_factory=list)
    tallest: float = 0.0

    @classmethod
    def of(cls, page: PageContent) -> PageView:
        lines = reading_order([ln for ln in page.lines if ln.text.strip()])
        by_top = sorted(range(len(lines)), key=lambda i: lines[i].y0)
        return cls(page, lines, median(ln.height for ln in lines) if lines else 1.0,
                   [lines[i].y0 for i in by_top], by_top, max((ln.height for ln in lines), default=0.0))

    def starting_between(self, top: float, bottom: float) -> list[int]:
        """Lines whose top edge lies in [top, bottom]."""
        return self.by_top[bisect_left(self.tops, top):bisect_right(self.tops, bottom)]

    def box(self, line: Line | tuple[float, float, float, float]) -> list[float]:
        """[x, y, w, h] normalised to the page, clipped to 0..1, 4 decimals."""
        x0, y0, x1, y1 = (line.x0, line.y0, line.x1, line.y1) if isinstance(line, Line) else line
        w, h = max(self.page.width, 1), max(self.page.height, 1)
        left, top = min(max(x0 / w, 0.0), 1.0), min(max(y0 / h, 0.0), 1.0)
        right, bottom = min(max(x1 / w, 0.0), 1.0), min(max(y1 / h, 0.0), 1.0)
        return [round(left, 4), round(top, 4), round(max(right - left, 0.0), 4), round(max(bottom - top, 0.0), 4)]


def same_row(a: Line, b: Line) -> bool:
    overlap = min(a.y1, b.y1) - max(a.y0, b.y0)
    return overlap >= 0.5 * min(a.y1 - a.y0, b.y1 - b.y0)


def level(a: Line, b: Line) -> bool:
    """Centres at one height (OCR's padded boxes of a line and of the line under it can overlap by half)."""
    return abs(a.cy - b.cy) <= LEVEL * max(a.height, b.height)


def x_overlap(a: Line, b: Line) -> float:
    return min(a.x1, b.x1) - max(a.x0, b.x0)


def right_of(view: PageView, index: int) -> int | None:
    """The nearest line on the same row to the right of line `index`."""
    lines, label = view.lines, view.lines[index]
    # Boxes of neighbouring words may overlap a little; the value starts past most of the label.
    past = min(label.x1 - 0.5 * label.height, label.x0 + 0.8 * (label.x1 - label.x0))
    best: tuple[float, int] | None = None
    for i in view.starting_between(label.y0 - view.tallest, label.y1):
        line = lines[i]
        if i != index and line.x0 >= past and same_row(label, line) and level(label, line) and (
                best is None or line.x0 < best[0]):
            best = (line.x0, i)
    return best[1] if best else None


def _aligned_under(upper: Line, lower: Line, gap: float) -> bool:
    if lower.y0 < upper.y1 - OVERLAP * upper.height or lower.y0 - upper.y1 > gap * upper.height:
        return False
    return x_overlap(upper, lower) > 0 or abs(lower.x0 - upper.x0) <= 1.5 * upper.height


def below(view: PageView, index: int) -> int | None:
    """The nearest line under line `index` that starts within its width (or at its left edge)."""
    lines, label = view.lines, view.lines[index]
    best: tuple[float, float, int] | None = None
    for i in view.starting_between(label.y1 - OVERLAP * label.height, label.y1 + BELOW_GAP * label.height):
        line = lines[i]
        if i != index and not same_row(label, line) and _aligned_under(label, line, BELOW_GAP):
            key = (line.y0, abs(line.x0 - label.x0))
            if best is None or key < best[:2]:
                best = (*key, i)
    return best[2] if best else None


def block_under(view: PageView, index: int, stop: Callable[[int], bool], most: int = 5) -> list[int]:
    """The lines under line `index` that go with it (an address under `Bill To:`): left- or right-aligned with it
    or overlapping it, each close under the one before; up to `most` lines, ending before a line `stop` accepts."""
    lines = view.lines
    out: list[int] = []
    anchor = lines[index]
    current = lines[index]
    while len(out) < most:
        nxt = None
        window = view.starting_between(current.y1 - OVERLAP * current.height, current.y1 + BLOCK_GAP * current.height)
        for i in window:
            line = lines[i]
            if i == index or i in out or same_row(current, line):
                continue
            if abs(line.x0 - anchor.x0) <= 1.5 * anchor.height or abs(line.x1 - anchor.x1) <= 0.5 * anchor.height or (
                    x_overlap(anchor, line) > 0 and line.x0 >= anchor.x0 - anchor.height):  # left- or right-aligned
                if nxt is None or (line.y0, line.x0) < (lines[nxt].y0, lines[nxt].x0):
                    nxt = i
        if nxt is None or stop(nxt):
            break
        out.append(nxt)
        current = lines[nxt]
    return out


def union_box(lines: list[Line]) -> tuple[float, float, float, float]:
    return (min(ln.x0 for ln in lines), min(ln.y0 for ln in lines), max(ln.x1 for ln in lines),
            max(ln.y1 for ln in lines))
