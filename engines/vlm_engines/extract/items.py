"""Line items (arrays of objects: invoice items, bank transactions): from the rows of lines under a header row
found among the page's lines (columns.py: the table model often misses the header row, or the whole table on a
scan, or merges columns), else from the tables the table model found.

Each column header is matched to the item's fields (fuzzy, with known column names: `Qty`, `Rate`, `Amount`);
each body row becomes one item; rows that sum the items up (`Subtotal`, `Invoice Total:`, `Tax (20%): £12.00`,
`Balance forward`) are not items. A header naming two fields alike (`Date` for a deposit's and a withdrawal's
date) fills the one whose amount the row has; one `Amount` column of signed amounts fills a statement's deposit
(>= 0) or withdrawal (< 0)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz import fuzz, process

from ..page import TableGrid
from .columns import MAX_SLOPE, Columns, LineTable, Reader, grid_box, group_rows, overlap, summary_label, zones_of
from .evidence import Found
from .geometry import PageView
from .labels import cutoff
from .schema import Node
from .synonyms import COLUMNS, SUMMARY_ROWS, Labels
from .text import fold, has_letters, words_of
from .values import ReadContext, parse_value

CONTAINS = 90  # a known column name inside a longer header (`Unit Price (USD)`)
SUMMARY_SCORE = 90
Row = dict[str, Found]


@dataclass
class Mapping:
    columns: dict[str, int]  # item field -> column
    scores: dict[str, float]
    header: int  # the header row (-1: a continued table without one)

    @property
    def strength(self) -> float:
        return sum(self.scores.values())


@dataclass
class ItemRows:
    """The items of one array field, and the tables they came from."""

    rows: list[Row] = field(default_factory=list)
    tables: list[tuple[int, TableGrid, float]] = field(default_factory=list)  # (page, table, header score)


def array_fields(node: Node, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], Node]:
    """Path -> item node of every array of objects (outside other arrays)."""
    out: dict[tuple[str, ...], Node] = {}
    for name, child in node.properties.items():
        if child.kind == "array" and child.items is not None and child.items.is_record:
            out[(*path, name)] = child.items
        elif child.is_record:
            out.update(array_fields(child, (*path, name)))
    return out


def _column_labels(name: str, node: Node) -> tuple[str, ...]:
    return _labels_of_column(name, node.title, node.description)


@lru_cache(maxsize=1024)
def _labels_of_column(name: str, title: str, description: str) -> tuple[str, ...]:
    node = Node("string", title=title, description=description)
    labels: Labels = (words_of(name), *((node.title,) if node.title else ()), *COLUMNS.get(name, ()))
    description = node.description.strip().rstrip(".")
    if description and len(description.split()) <= 3:
        labels = (*labels, description)
    return tuple(fold(lb if isinstance(lb, str) else lb[0]) for lb in labels)


def _header_score(header: str, labels: tuple[str, ...]) -> float:
    text = fold(header)
    if not text:
        return 0.0
    best = 0.0
    for label in labels:
        score = fuzz.ratio(text, label)
        if score < cutoff(label):
            score = CONTAINS if len(label) >= 3 and f" {label} " in f" {text} " else 0
        best = max(best, score)
    return best / 100


def map_header(cells: list[str], item: Node) -> Mapping | None:
    """Item field -> column, from one row of header cells; ties share a column."""
    leaves = {name: sub for name, sub in item.properties.items() if sub.kind not in ("object", "array", "any")}
    pairs = []
    for order, (name, sub) in enumerate(leaves.items()):
        labels = _column_labels(name, sub)
        for col, cell in enumerate(cells):
            score = _header_score(cell, labels)
            if score > 0:
                pairs.append((-score, order, col, name))
    pairs.sort()
    columns: dict[str, int] = {}
    scores: dict[str, float] = {}
    column_score: dict[int, float] = {}
    for neg, _, col, name in pairs:
        if name in columns or (col in column_score and column_score[col] != -neg):
            continue
        columns[name], scores[name] = col, -neg
        column_score[col] = -neg
    if len(columns) < min(2, len(leaves)):
        return None
    return Mapping(columns, scores, -1)


_SUMMARY = [fold(word) for word in SUMMARY_ROWS]
_SUMMARY_WORDS = ("total", "subtotal")
# A column of signed amounts (`Amount`: -50.00 a withdrawal, 1,200.00 a deposit) for the two amount fields of a
# statement's transactions.
_SIGNED_HEADERS = ("amount", "transaction amount", "amount paid in out", "value")
_POSITIVE_WORDS = {"deposit", "deposits", "credit", "credits"}
_NEGATIVE_WORDS = {"withdrawal", "withdrawals", "debit", "debits"}


def is_summary(cells: list[str]) -> bool:
    """A row that sums the items up (`Subtotal`, `Invoice Total:`, `Tax (20%): £12.00`, `Balance forward`)."""
    for cell in cells:
        text = summary_label(cell)
        if not has_letters(text, 2):
            continue
        words = text.split(" ")
        if words[0] in _SUMMARY_WORDS or words[-1] in _SUMMARY_WORDS:  # `Total current charges`, `Invoice Total`
            return True
        if process.extractOne(text, _SUMMARY, scorer=fuzz.ratio, score_cutoff=SUMMARY_SCORE) is not None:
            return True
    return False


def signed_column(cells: list[str], item: Node, mapping: Mapping) -> tuple[int, str, str] | None:
    """(column, deposit field, withdrawal field) where one `Amount` column holds both, by their sign."""
    numbers = {name: set(name.split("_")) for name, sub in item.properties.items() if sub.kind in ("number", "integer")}
    positive = [n for n, words in numbers.items() if words & _POSITIVE_WORDS]
    negative = [n for n, words in numbers.items() if words & _NEGATIVE_WORDS]
    if len(positive) != 1 or len(negative) != 1 or {positive[0], negative[0]} & mapping.columns.keys():
        return None
    taken = set(mapping.columns.values())
    for col, cell in enumerate(cells):
        if col not in taken and fold(cell) in _SIGNED_HEADERS:
            return col, positive[0], negative[0]
    return None


def find_headers(view: PageView, fields: dict[tuple[str, ...], Node]) -> list[Columns]:
    """The header rows of item tables on a page, top to bottom: rows of words naming two or more columns."""
    lines, height = view.lines, view.line_height
    out: list[Columns] = []
    for row in group_rows(lines, list(range(len(lines))), 0.0, height):
        texts = [lines[i].text for i in row]
        if len(row) < 2 or sum(any(ch.isdigit() for ch in t) for t in texts) * 2 >= len(texts) or any(
                t.rstrip().endswith(":") for t in texts):
            continue
        best: tuple[float, int, tuple[str, ...], Mapping, tuple[int, str, str] | None] | None = None
        for order, (path, item) in enumerate(fields.items()):
            mapping = map_header(texts, item) or Mapping({}, {}, -1)
            signed = signed_column(texts, item, mapping)
            columns = set(mapping.columns.values()) | ({signed[0]} if signed else set())
            if len(columns) < 2:
                continue
            strength = mapping.strength + (0.9 if signed else 0.0)
            if best is None or (strength, -order) > (best[0], best[1]):
                best = (strength, -order, path, mapping, signed)
        if best is None:
            continue
        _, _, path, mapping, signed = best
        boxes = [(lines[i].x0, lines[i].x1) for i in row]
        item = fields[path]
        kinds = {col: {item.properties[name].kind for name, c in mapping.columns.items() if c == col}
                 for col in range(len(row))}
        text = [kinds[col] == {"string"} and (signed is None or signed[0] != col) for col in range(len(row))]
        spread = lines[row[-1]].cx - lines[row[0]].cx
        slope = (lines[row[-1]].cy - lines[row[0]].cy) / spread if spread > 10 * height else 0.0
        slope = max(-MAX_SLOPE, min(MAX_SLOPE, slope))
        out.append(Columns(path, item, dict(mapping.columns), dict(mapping.scores), signed,
                           zones_of(boxes, text, 3 * height), slope, list(row)))
    return out


def read_tables(root: Node, views: list[PageView], ctx: ReadContext) -> tuple[dict[tuple[str, ...], ItemRows],
                                                                                list[set[int]]]:
    """The items of each array field, and per page the lines of the item rows and their headers (their words are
    no label for another field): from the lines under a header row, else from the tables the table model
    found."""
    fields = array_fields(root)
    out: dict[tuple[str, ...], ItemRows] = {}
    excluded: list[set[int]] = [set() for _ in views]
    if not fields:
        return out, excluded
    last: Columns | None = None  # a table continued on the next page reuses its columns
    last_grid: tuple[tuple[str, ...], Mapping, int] | None = None
    for p, view in enumerate(views):
        found: list[tuple[float, tuple[str, ...], list[Row], TableGrid, float]] = []
        reader = Reader(view, p, ctx, excluded[p], is_summary)
        headers = find_headers(view, fields)
        boxes: list[tuple[float, float, float, float]] = []
        for k, columns in enumerate(headers):
            header_cy = sum(view.lines[i].cy for i in columns.header) / len(columns.header)
            bottom = (min(view.lines[i].cy for i in headers[k + 1].header) - 1 if k + 1 < len(headers)
                      else float(view.page.height) + 1)
            table = reader.read(columns, header_cy, bottom, header_cy)
            if table.rows:
                excluded[p].update(table.lines)
                boxes.append(table.box)
                found.append(_found_table(p, view, table))
                last = columns
        if not headers and last is not None:  # no header on this page: the last table may go on
            for grid in view.page.tables:
                pad = view.line_height / 2
                columns = Columns(last.path, last.item, last.fields, last.scores, last.signed, last.zones, 0.0, [])
                table = reader.read(columns, grid.y0 - pad, grid.y1 + pad, None)
                if table.rows:
                    excluded[p].update(table.lines)
                    boxes.append(table.box)
                    found.append(_found_table(p, view, table))
        for table_grid in view.page.tables:  # what the table model read where no header row was found
            if any(_overlaps(table_grid, box) for box in boxes):
                continue
            read = _grid_table(fields, table_grid, view, ctx, excluded[p], last_grid)
            if read is not None:
                last_grid, (path, rows, score) = read[0], read[1]
                found.append((table_grid.y0, path, rows, table_grid, score))
        for _, path, rows, grid, score in sorted(found, key=lambda f: f[0]):
            entry = out.setdefault(path, ItemRows())
            entry.rows.extend(rows)
            entry.tables.append((p, grid, score))
    return out, excluded


def _overlaps(grid: TableGrid, box: tuple[float, float, float, float]) -> bool:
    return overlap(grid.y0, grid.y1, box[1], box[3]) > 0 and overlap(grid.x0, grid.x1, box[0], box[2]) > 0


def _found_table(p: int, view: PageView, table: LineTable) -> tuple[float, tuple[str, ...], list[Row], TableGrid,
                                                                   float]:
    """A line table as the answer records it: its rows, and the table model's table where it lies (for its box)."""
    grid = grid_box(view.page.tables, table.box) or TableGrid((), 0, 0, *table.box)
    _cell_boxes(table.rows, view.page.tables)
    return table.box[1], table.columns.path, table.rows, grid, min(table.columns.scores.values(), default=0.9)


def _cell_boxes(rows: list[Row], grids: list[TableGrid]) -> None:
    """A value read from the line in a table model's cell of the same text is grounded by that cell's box."""
    cells = [cell for grid in grids for cell in grid.cells if cell.text]
    if not cells:
        return
    for row in rows:
        for found in row.values():
            if len(found.lines) != 1:
                continue
            line = found.lines[0]
            cell = next((c for c in cells if c.x0 <= line.cx <= c.x1 and c.y0 <= line.cy <= c.y1
                         and c.text.strip() == (found.text or "")), None)
            if cell is not None:
                found.ocr, found.lines, found.boxes = line.confidence, [], [(cell.x0, cell.y0, cell.x1, cell.y1)]


def _grid_table(fields: dict[tuple[str, ...], Node], table: TableGrid, view: PageView, ctx: ReadContext,
                excluded: set[int], last: tuple[tuple[str, ...], Mapping, int] | None,
                ) -> tuple[tuple[tuple[str, ...], Mapping, int], tuple[tuple[str, ...], list[Row], float]] | None:
    """The items of one table of the table model, by the header among its first two rows (or the last table's
    columns, for a table without one)."""
    grid = table.grid()
    best: tuple[float, int, tuple[str, ...], Mapping] | None = None
    for order, (path, item) in enumerate(fields.items()):
        for header in range(min(2, table.rows)):
            mapping = map_header(grid[header], item)
            if mapping and (best is None or (mapping.strength, -order) > (best[0], best[1])):
                mapping.header = header
                best = (mapping.strength, -order, path, mapping)
    if best is None and last is not None and last[2] == table.cols:
        path, mapping = last[0], Mapping(last[1].columns, last[1].scores, -1)
    elif best is not None:
        path, mapping = best[2], best[3]
    else:
        return None
    rows = _rows(table, grid, mapping, fields[path], view, ctx, excluded)
    if not rows:
        return None
    return (path, mapping, table.cols), (path, rows, min(mapping.scores.values()))


def _rows(table: TableGrid, grid: list[list[str]], mapping: Mapping, item: Node, view: PageView,
          ctx: ReadContext, excluded: set[int]) -> list[Row]:
    out: list[Row] = []
    boxes = {(c.row, c.col): (c.x0, c.y0, c.x1, c.y1) for c in table.cells}
    lines_in = _lines_in_cells(table, view)
    kept_rows = [mapping.header] if mapping.header >= 0 else []
    for r in range(mapping.header + 1, table.rows):
        cells = grid[r]
        if not any(c.strip() for c in cells) or is_summary(cells):
            continue
        row: Row = {}
        for name, col in mapping.columns.items():
            text = cells[col] if col < len(cells) else ""
            value = parse_value(text, name, item.properties[name], ctx)
            if value is None:
                continue
            box = boxes.get((r, col))
            confidence = min((view.lines[i].confidence for i in lines_in.get((r, col), ())), default=1.0)
            row[name] = Found(value, view.page.index, [], mapping.scores[name], [box] if box else [], text.strip(),
                              confidence)
        _drop_unowned(row, mapping, item)
        if row:
            out.append(row)
            kept_rows.append(r)
    excluded.update(i for (r, _), found in lines_in.items() if r in kept_rows for i in found)
    return out


def _drop_unowned(row: Row, mapping: Mapping, item: Node) -> None:
    """A field sharing its column with others (`Date`) stays only when the amount its name starts with is in the
    row (`transaction_deposit_date` with `transaction_deposit`)."""
    shared = {name for name, col in mapping.columns.items() if list(mapping.columns.values()).count(col) > 1}
    for name in shared:
        owners = [other for other in mapping.columns if other != name and name.startswith(other + "_")
                  and item.properties[other].kind in ("number", "integer")]
        if owners and not any(owner in row for owner in owners):
            row.pop(name, None)


def _lines_in_cells(table: TableGrid, view: PageView) -> dict[tuple[int, int], list[int]]:
    """(row, col) -> the lines whose centre lies in that cell."""
    rows: dict[int, list] = {}
    for cell in table.cells:
        rows.setdefault(cell.row, []).append(cell)
    out: dict[tuple[int, int], list[int]] = {}
    for i in view.starting_between(table.y0 - view.tallest, table.y1):
        line = view.lines[i]
        cx, cy = line.cx, line.cy
        if not (table.x0 <= cx <= table.x1 and table.y0 <= cy <= table.y1):
            continue
        for cells in rows.values():
            if cells[0].y0 <= cy <= cells[0].y1:
                cell = next((c for c in cells if c.x0 <= cx <= c.x1 and c.y0 <= cy <= c.y1), None)
                if cell is not None:
                    out.setdefault((cell.row, cell.col), []).append(i)
                    break
    return out
