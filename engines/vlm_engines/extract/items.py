"""Line items (arrays of objects: invoice items, bank transactions) from the tables the table model found.

Each column header is matched to the item's fields (fuzzy, with known column names: `Qty`, `Rate`, `Amount`);
each body row becomes one item; rows that sum the items up (`Subtotal`, `Total`, `Balance forward`) are not
items. A header naming two fields alike (`Date` for a deposit's and a withdrawal's date) fills the one whose
amount the row has."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz import fuzz, process

from ..page import TableGrid
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


def _is_summary(cells: list[str]) -> bool:
    for cell in cells:
        text = fold(cell)
        if text.split(" ")[0] in ("total", "subtotal", "grand"):  # `Total current charges`
            return True
        if has_letters(text, 2) and process.extractOne(text, _SUMMARY, scorer=fuzz.ratio,
                                                       score_cutoff=SUMMARY_SCORE) is not None:
            return True
    return False


def read_tables(root: Node, views: list[PageView], ctx: ReadContext) -> tuple[dict[tuple[str, ...], ItemRows],
                                                                                list[set[int]]]:
    """The items of each array field, and per page the lines inside the tables' item rows (their words are no
    label for another field)."""
    fields = array_fields(root)
    out: dict[tuple[str, ...], ItemRows] = {}
    excluded: list[set[int]] = [set() for _ in views]
    last: tuple[tuple[str, ...], Mapping, int] | None = None  # a table continued on the next page reuses it
    for p, view in enumerate(views):
        for table in view.page.tables:
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
                continue
            last = (path, mapping, table.cols)
            rows = _rows(table, grid, mapping, fields[path], view, ctx, excluded[p])
            entry = out.setdefault(path, ItemRows())
            entry.rows.extend(rows)
            entry.tables.append((p, table, min(mapping.scores.values())))
    return out, excluded


def _rows(table: TableGrid, grid: list[list[str]], mapping: Mapping, item: Node, view: PageView,
          ctx: ReadContext, excluded: set[int]) -> list[Row]:
    out: list[Row] = []
    boxes = {(c.row, c.col): (c.x0, c.y0, c.x1, c.y1) for c in table.cells}
    lines_in = _lines_in_cells(table, view)
    kept_rows = [mapping.header] if mapping.header >= 0 else []
    for r in range(mapping.header + 1, table.rows):
        cells = grid[r]
        if not any(c.strip() for c in cells) or _is_summary(cells):
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
