"""Line items read off the page's lines under a header row, whether or not the table model found the table.

A header row is a row of lines that name two or more of an item's fields (`Description  Qty  Price  Amount`).
Its cells set the columns: the boundary between two columns lies halfway between their headers, so a
right-aligned amount wider than its header still falls in its column. Each row of lines under it is one item,
its lines put in the columns they lie in (a line that OCR merged across columns is split at its words), down
to the first row that sums the items up (`Subtotal`, `Total`), a gap much wider than the rows' pitch, or two
rows in a row that give no amount. A line under an item's text with no amounts, closer than rows are to each
other, continues that item's text (a wrapped description). A table that goes on over the page without its
header row is read on the next page inside the table the table model found there, by the columns of the last
header."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import median

from ..page import Line, TableGrid
from .evidence import Found
from .geometry import PageView
from .schema import Node
from .text import fold, has_letters
from .values import ReadContext, parse_value

HEADER_GAP = 3.0  # the first item row lies at most this many line heights under the header row
ROW_GAP = 2.4  # an item row lies at most this many row pitches under the item row before it
MIN_GAP = 1.8  # line heights: rows closer than this are never too far apart
CONTINUATION = 1.3  # line heights: text this close under an item's text continues it
SPLIT = 0.85  # a line with less than this share of its width in one column holds more than one cell
SAME_ROW = 0.5  # lines of one row: centres closer than this many line heights (after the page's skew)
MAX_SLOPE = 0.035  # the skew a header row may show (2 degrees)
EMPTY_ROWS = 2  # this many rows without an amount end the table

Row = dict[str, Found]


@dataclass
class Columns:
    """A table's columns as its header row sets them."""

    path: tuple[str, ...]
    item: Node
    fields: dict[str, int]  # item field -> column
    scores: dict[str, float]
    signed: tuple[int, str, str] | None  # (column, field of amounts >= 0, field of amounts < 0)
    zones: list[tuple[float, float]]  # per column, left to right: the x range its cells lie in
    slope: float  # the page's skew along the header row (dy per dx)
    header: list[int] = field(default_factory=list)  # the header row's lines

    @property
    def numeric(self) -> set[str]:
        return {name for name in self.fields if self.item.properties[name].kind in ("number", "integer")}


@dataclass
class LineTable:
    columns: Columns
    page: int
    rows: list[Row]
    lines: set[int]  # header and item lines
    box: tuple[float, float, float, float]


def zones_of(boxes: list[tuple[float, float]], text: list[bool], margin: float) -> list[tuple[float, float]]:
    """Each column's x range. A column of text starts where its header starts, or halfway to the header before
    when that is closer (its cells are left-aligned: the text of the column before may run up to it); the boundary
    before any other column lies halfway between the two headers (amounts are right-aligned, and may start left
    of their header). `text`: per column, whether it
    holds text."""
    middles = [(boxes[k - 1][1] + boxes[k][0]) / 2 for k in range(1, len(boxes))]
    bounds = [max(middle, boxes[k][0] - margin / 6) if text[k] else middle
              for k, middle in enumerate(middles, start=1)]
    lefts = [boxes[0][0] - (margin / 6 if text[0] else margin), *bounds]
    rights = [*bounds, boxes[-1][1] + margin]
    return [(a, max(b, a + 1)) for a, b in zip(lefts, rights, strict=True)]


def overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def group_rows(lines: list[Line], indices: list[int], slope: float, height: float) -> list[list[int]]:
    """Rows of lines, top to bottom, each left to right; centres compared after the skew is taken out."""
    def level(i: int) -> float:
        return lines[i].cy - slope * lines[i].cx

    out: list[list[int]] = []
    levels: list[float] = []
    for i in sorted(indices, key=level):
        if out and abs(level(i) - levels[-1]) <= SAME_ROW * height:
            out[-1].append(i)
            levels[-1] = sum(level(j) for j in out[-1]) / len(out[-1])
            continue
        out.append([i])
        levels.append(level(i))
    return [sorted(row, key=lambda i: lines[i].x0) for row in out]


# --- cells --------------------------------------------------------------------------------------------------


def _words(line: Line) -> list[tuple[str, float, float]]:
    """The words of a line with their x range, estimated from the characters before them."""
    text, width = line.text, max(line.x1 - line.x0, 1.0)
    n = max(len(text), 1)
    return [(m.group(0), line.x0 + width * m.start() / n, line.x0 + width * m.end() / n)
            for m in re.finditer(r"\S+", text)]


def _zone_of(x0: float, x1: float, zones: list[tuple[float, float]]) -> int | None:
    """The column the middle of [x0, x1] lies in; None outside the table."""
    centre = (x0 + x1) / 2
    return next((k for k, (a, b) in enumerate(zones) if a <= centre < b), None)


def cells_of(row: list[int], lines: list[Line], zones: list[tuple[float, float]]) -> dict[int, list[Line]]:
    """Column -> the lines (or parts of lines) of one row in it, left to right; what lies outside every column
    (a number before the first header that OCR did not read) is no cell."""
    out: dict[int, list[Line]] = {}
    for i in row:
        line = lines[i]
        width = max(line.x1 - line.x0, 1.0)
        words = _words(line)
        if len(words) < 2 or max(overlap(line.x0, line.x1, a, b) for a, b in zones) >= SPLIT * width:
            k = _zone_of(line.x0, line.x1, zones)
            if k is not None:
                out.setdefault(k, []).append(line)
            continue
        parts: list[tuple[int | None, list[tuple[str, float, float]]]] = []
        for word in words:
            k = _zone_of(word[1], word[2], zones)
            if parts and parts[-1][0] == k:
                parts[-1][1].append(word)
            else:
                parts.append((k, [word]))
        for k, ws in parts:
            if k is not None:
                piece = Line(" ".join(w[0] for w in ws), line.confidence, ws[0][1], line.y0, ws[-1][2], line.y1)
                out.setdefault(k, []).append(piece)
    return out


# --- summary rows -------------------------------------------------------------------------------------------

_LABEL_COLON = re.compile(r"^\s*[^\W\d][^:\d]{1,30}:(?:\s|$)")  # `Allergies: penicillin`, `Notes:`
_AMOUNT = re.compile(r"\d[.,]\d{2}\b")
_NUMBERISH = re.compile(r"\S*\d\S*|[$€£¥%]")


def summary_label(text: str) -> str:
    """What a cell says beside its amounts: `Tax (20%): £12,004.36` -> `tax`."""
    head = text.split(":")[0] if ":" in text and has_letters(text.split(":")[0], 2) else text
    return fold(_NUMBERISH.sub(" ", head))


# --- reading ------------------------------------------------------------------------------------------------


@dataclass
class Reader:
    view: PageView
    page: int
    ctx: ReadContext
    taken: set[int]
    is_summary: Callable[[list[str]], bool]  # a row that sums the items up (items.is_summary)

    def read(self, columns: Columns, top: float, bottom: float, start_cy: float | None) -> LineTable:
        """Item rows between `top` and `bottom` (page pixels, line centres); `start_cy`: the header row's centre
        (None for a table continued without its header)."""
        lines, height = self.view.lines, self.view.line_height
        lo, hi = columns.zones[0][0], columns.zones[-1][1]
        indices = [i for i, ln in enumerate(lines) if i not in self.taken and top < ln.cy <= bottom
                   and ln.x1 > lo and ln.x0 < hi]
        table = LineTable(columns, self.page, [], set(columns.header), (lo, top, hi, top))
        previous = start_cy
        gaps: list[float] = []
        empty = 0
        last_text: tuple[Row, dict[int, list[Line]]] | None = None
        for row in group_rows(lines, indices, columns.slope, height):
            cy = sum(lines[i].cy for i in row) / len(row)
            if previous is not None:
                limit = ROW_GAP * median(gaps) if gaps else HEADER_GAP * height
                if cy - previous > max(limit, MIN_GAP * height):
                    break
            cells = cells_of(row, lines, columns.zones)
            texts = {k: " ".join(p.text for p in parts) for k, parts in cells.items()}
            if self.is_summary(list(texts.values())):
                if table.rows:
                    break
                previous = cy  # an opening balance above the items
                continue
            if self._not_a_row(row, columns):
                break
            item = self._item(columns, cells, texts)
            if not columns.numeric and len(texts) < 2:  # a table of text: a row fills two cells at least
                break
            if columns.numeric and not (columns.numeric & item.keys()) and not self._signed_in(columns, item):
                if last_text is not None and previous is not None and cy - previous <= CONTINUATION * height \
                        and self._continues(columns, last_text, cells, texts):
                    table.lines.update(row)
                    previous = cy
                    continue
                empty += 1
                if empty >= EMPTY_ROWS:
                    break
                continue
            empty = 0
            if not item:
                continue
            table.rows.append(item)
            table.lines.update(row)
            if previous is not None and table.rows and len(table.rows) > 1:
                gaps.append(cy - previous)
            previous = cy
            last_text = (item, cells)
        box_lines = [lines[i] for i in table.lines]
        if box_lines:
            table.box = (min(ln.x0 for ln in box_lines), min(ln.y0 for ln in box_lines),
                         max(ln.x1 for ln in box_lines), max(ln.y1 for ln in box_lines))
        return table

    def _not_a_row(self, row: list[int], columns: Columns) -> bool:
        """What ends a table: a form's `Label: value` line, or a line of running text across three columns."""
        for i in row:
            line = self.view.lines[i]
            if _LABEL_COLON.match(line.text):
                return True
            crossed = sum(1 for a, _ in columns.zones[1:] if line.x0 < a - self.view.line_height < line.x1)
            words = line.text.split()
            if crossed >= 2 and len(words) >= 4 and sum(1 for w in words if _AMOUNT.search(w)) < 2:
                return True  # (a row OCR read as one line has its amounts)
        return False

    def _item(self, columns: Columns, cells: dict[int, list[Line]], texts: dict[int, str]) -> Row:
        row: Row = {}
        for name, col in columns.fields.items():
            if col not in texts:
                continue
            node = columns.item.properties[name]
            value = parse_value(texts[col], name, node, self.ctx)
            if value is not None:
                row[name] = self._found(value, cells[col], texts[col], columns.scores[name])
        if columns.signed is not None:
            col, positive, negative = columns.signed
            if col in texts:
                name = positive
                value = parse_value(texts[col], positive, columns.item.properties[positive], self.ctx)
                if isinstance(value, int | float) and value < 0:
                    name, value = negative, -value
                if value is not None:
                    row[name] = self._found(value, cells[col], texts[col], columns.scores.get(positive, 0.9))
        _drop_unowned(row, columns)
        return row

    @staticmethod
    def _signed_in(columns: Columns, row: Row) -> bool:
        return columns.signed is not None and bool({columns.signed[1], columns.signed[2]} & row.keys())

    def _found(self, value: object, parts: list[Line], text: str, score: float) -> Found:
        return Found(value, self.view.page.index, list(parts), score, [], text.strip(),
                     min((p.confidence for p in parts), default=1.0))

    def _continues(self, columns: Columns, last: tuple[Row, dict[int, list[Line]]], cells: dict[int, list[Line]],
                   texts: dict[int, str]) -> bool:
        """A wrapped line of the item above's text: only text, in columns where the item above has text."""
        item, _ = last
        names = [name for name, col in columns.fields.items() if col in texts]
        if not names or any(columns.item.properties[n].kind != "string" for n in names):
            return False
        if not all(n in item and isinstance(item[n].value, str) for n in names):
            return False
        for name in names:
            found, col = item[name], columns.fields[name]
            joined = f"{found.value} {texts[col]}".strip()
            found.value = joined
            found.text = f"{found.text} {texts[col]}".strip() if found.text else joined
            found.lines = [*found.lines, *cells[col]]
        return True


def _drop_unowned(row: Row, columns: Columns) -> None:
    """A field sharing its column with others (`Date`) stays only when the amount its name starts with is in the
    row (`transaction_deposit_date` with `transaction_deposit`)."""
    owners_of = {name: [other for other in columns.item.properties if other != name and name.startswith(other + "_")
                        and columns.item.properties[other].kind in ("number", "integer")] for name in row}
    cols = list(columns.fields.values())
    for name, owners in owners_of.items():
        if not owners:
            continue
        shared = name in columns.fields and cols.count(columns.fields[name]) > 1
        if shared and not any(owner in row for owner in owners):
            row.pop(name, None)


def grid_box(tables: list[TableGrid], box: tuple[float, float, float, float]) -> TableGrid | None:
    """The table the table model found where a line table lies (the one it overlaps most)."""
    def shared(t: TableGrid) -> float:
        return overlap(t.x0, t.x1, box[0], box[2]) * overlap(t.y0, t.y1, box[1], box[3])

    best = max(tables, key=shared, default=None)
    return best if best is not None and shared(best) > 0 else None
