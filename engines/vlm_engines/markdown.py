"""A page as VLM Run's MarkdownPage (content, tables, figures) from what the stages found: lines, layout regions
and table grids (pure Python, no model).

Choices:
- Layout regions drive the reading order (layout.block_order: columns one after another, full-width blocks
  between them); lines outside every region are grouped into blocks of their own and read in the same order.
- Running headers and footers (page numbers, journal names) are dropped from `content`: they repeat on every page
  and cut the text of a document in the middle of sentences. document.ocr still has them.
- A table stands in `content` as its marker `<Table id="tb-N"/>` followed by its GitHub-markdown table, so that
  `content` alone reads as the whole page (MARKDOWN_TABLES_IN_CONTENT); its cells are never repeated as text.
  A figure stands as its marker `<Figure id="fg-N"/>`; text printed inside it goes to the figure's `content`.
- Captions go to their table's / figure's caption (the nearest one above or below), not into the text; a caption
  with no table or figure near it stays in the text, as does a table region the table model could not read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from .layout import HEADING_2, PARAGRAPH_GAP, block_order, reading_order, rows, to_markdown
from .page import Line, PageContent, Region, TableGrid

MARKDOWN_TABLES_IN_CONTENT = True
DROPPED_KINDS = ("header", "footer")
CAPTION_KINDS = {"table_caption": "table", "figure_caption": "figure"}
PROSE_KINDS = ("text", "reference")
# A title region is a `#` heading when its lines are this much taller than the body's, else `##` (a section
# heading at body size). Lower than to_markdown's HEADING_1: OCR boxes pad small text more (22 pt over 10 pt
# text measures 1.7x), and the layout model already said it is a title.
TITLE_H1 = HEADING_2
TITLE_MIN = 1.15
# Headers and footers are dropped only inside this fraction of the page height at its top or bottom.
RUNNING_MARGIN = 0.12
# Columns: a vertical gap between blocks at least this wide (fraction of the page width).
GUTTER = 0.01
# A caption belongs to a table or figure at most this far above or below it (fraction of the page height).
CAPTION_GAP = 0.06
# Layout boxes are a little loose or tight: a line belongs to a region when its centre is within this many
# line heights of the box.
LINE_SLACK = 0.25


@dataclass
class Block:
    kind: str  # a region kind; "text" for lines outside every region
    x0: float
    y0: float
    x1: float
    y1: float
    lines: list[Line] = field(default_factory=list)
    table: TableGrid | None = None
    caption: str | None = None

    @property
    def area(self) -> float:
        return max(0.0, self.x1 - self.x0) * max(0.0, self.y1 - self.y0)

    def holds(self, line: Line, slack: float) -> bool:
        return self.x0 - slack <= line.cx <= self.x1 + slack and self.y0 - slack <= line.cy <= self.y1 + slack

    def text_box(self) -> Block:
        """The box of the block's lines (tight, from OCR) for text blocks, else the block's own."""
        if not self.lines or self.kind in ("table", "figure"):
            return self
        return Block(self.kind, min(ln.x0 for ln in self.lines), min(ln.y0 for ln in self.lines),
                     max(ln.x1 for ln in self.lines), max(ln.y1 for ln in self.lines))


def page_markdown(page: PageContent) -> dict[str, Any]:
    """{"content": markdown, "tables": [...], "figures": [...]} of a MarkdownPage (without page_index/size)."""
    if not page.regions and not page.tables:
        return {"content": to_markdown(page.lines), "tables": [], "figures": []}
    blocks, loose = _blocks(page)
    # The body text's line height (headings are measured against it): table cells and titles left out.
    prose = [ln.height for b in blocks if b.kind in PROSE_KINDS for ln in b.lines] or [ln.height for ln in page.lines]
    body = median(prose) if prose else 1.0
    blocks += _loose_blocks(loose, body)
    _attach_captions(blocks, page.height)
    for block in blocks:
        if block.kind in DROPPED_KINDS and not _running_head(block, body, page.height):
            block.kind = "title" if block.lines and _tallest(block) >= TITLE_MIN * body else "text"
    blocks = [b for b in blocks if b.kind not in DROPPED_KINDS and b.kind not in CAPTION_KINDS]
    order = block_order([b.text_box() for b in blocks], GUTTER * page.width)
    parts: list[str] = []
    tables: list[dict[str, Any]] = []
    figures: list[dict[str, Any]] = []
    for block in (blocks[i] for i in order):
        if block.kind == "table" and block.table is not None:
            parts.append(f'<Table id="tb-{len(tables)}"/>')
            tables.append(table_json(block.table, block.caption, page.width, page.height))
            if MARKDOWN_TABLES_IN_CONTENT and tables[-1]["content"]:
                parts.append(tables[-1]["content"])
        elif block.kind == "figure":
            parts.append(f'<Figure id="fg-{len(figures)}"/>')
            figures.append(_figure_json(len(figures), block, page.width, page.height))
        elif block.kind == "title" and block.lines and not _body_sized_paragraph(block, body):
            text = " ".join(ln.text for row in rows(block.lines) for ln in row)
            level = "#" if _tallest(block) >= TITLE_H1 * body else "##"
            parts.append(f"{level} {text}")
        elif block.lines:
            parts.append(to_markdown(block.lines, line_height=body))
    return {"content": "\n\n".join(parts), "tables": tables, "figures": figures}


def _tallest(block: Block) -> float:
    return max(ln.height for ln in block.lines)


def _running_head(block: Block, body: float, page_height: float) -> bool:
    """A header or footer worth dropping: small print in the page's top or bottom margin. The layout model also
    calls a slide's title a header; that stays."""
    in_margin = block.y1 <= RUNNING_MARGIN * page_height or block.y0 >= (1 - RUNNING_MARGIN) * page_height
    return in_margin and (not block.lines or _tallest(block) < TITLE_MIN * body)


def _body_sized_paragraph(block: Block, body: float) -> bool:
    """A "title" of several rows set at body size is a paragraph the layout model misnamed (it sees short
    pages of large text as titles): a heading is one row, or set larger than the body."""
    return len(rows(block.lines)) > 1 and _tallest(block) < TITLE_MIN * body


def _blocks(page: PageContent) -> tuple[list[Block], list[Line]]:
    """One block per region (a table region read by the table model becomes its grid's block), each holding the
    lines under it (the smallest region wins); and the lines under no region."""
    grids = list(page.tables)
    blocks: list[Block] = []
    for region in page.regions:
        block = Block(region.kind, region.x0, region.y0, region.x1, region.y1)
        if region.kind == "table":
            grid = next((g for g in grids if _same_box(g, region)), None)
            if grid is None:
                block.kind = "text"  # unread table: its text still shows
            else:
                grids.remove(grid)
                block.table = grid
                block.x0, block.y0 = min(block.x0, grid.x0), min(block.y0, grid.y0)
                block.x1, block.y1 = max(block.x1, grid.x1), max(block.y1, grid.y1)
        blocks.append(block)
    blocks += [Block("table", g.x0, g.y0, g.x1, g.y1, table=g) for g in grids]
    loose = []
    by_area = sorted(blocks, key=lambda b: b.area)
    for line in page.lines:
        # A table's lines are those its grid read (centre inside the box): no slack, or a line could be lost.
        home = next((b for b in by_area if b.holds(line, 0.0 if b.table else LINE_SLACK * line.height)), None)
        if home is None:
            loose.append(line)
        else:
            home.lines.append(line)
    return blocks, loose


def _same_box(grid: TableGrid, region: Region) -> bool:
    cx, cy = (grid.x0 + grid.x1) / 2, (grid.y0 + grid.y1) / 2
    return region.x0 <= cx <= region.x1 and region.y0 <= cy <= region.y1


def _loose_blocks(lines: list[Line], body: float) -> list[Block]:
    """Lines under no region, grouped into paragraphs: a line joins the block above it when they overlap
    horizontally and the gap between them is at most a paragraph gap."""
    blocks: list[Block] = []
    for line in reading_order(lines):
        home = next((b for b in reversed(blocks)
                     if min(b.x1, line.x1) > max(b.x0, line.x0) and line.y0 - b.y1 <= PARAGRAPH_GAP * body), None)
        if home is None:
            blocks.append(Block("text", line.x0, line.y0, line.x1, line.y1, [line]))
            continue
        home.lines.append(line)
        home.x0, home.y0 = min(home.x0, line.x0), min(home.y0, line.y0)
        home.x1, home.y1 = max(home.x1, line.x1), max(home.y1, line.y1)
    return blocks


def _attach_captions(blocks: list[Block], page_height: float) -> None:
    """Each caption goes to the nearest free table or figure of its kind (else of the other kind) above or below
    it; a caption left over becomes text."""
    pairs = []
    for cap in blocks:
        if cap.kind not in CAPTION_KINDS or not cap.lines:
            continue
        for target in blocks:
            if target.kind not in ("table", "figure") or min(cap.x1, target.x1) <= max(cap.x0, target.x0):
                continue
            gap = max(target.y0 - cap.y1, cap.y0 - target.y1, 0.0)
            if gap <= CAPTION_GAP * page_height:
                pairs.append((target.kind != CAPTION_KINDS[cap.kind], gap, id(cap), cap, target))
    taken: set[int] = set()
    for _, _, _, cap, target in sorted(pairs, key=lambda p: p[:3]):
        if id(cap) in taken or id(target) in taken:
            continue
        taken |= {id(cap), id(target)}
        text = " ".join(ln.text for row in rows(cap.lines) for ln in row)
        target.caption = (target.table.caption if target.table is not None else None) or text
    for cap in blocks:
        if cap.kind in CAPTION_KINDS and id(cap) not in taken:
            cap.kind = "text"


def xywh(x0: float, y0: float, x1: float, y1: float, width: int, height: int) -> dict[str, list[float]]:
    """A Box: [x, y, w, h] in 0..1 of the page, clipped to it, 4 decimals."""
    nx0, nx1 = (min(max(v / width, 0.0), 1.0) for v in (x0, x1))
    ny0, ny1 = (min(max(v / height, 0.0), 1.0) for v in (y0, y1))
    return {"xywh": [round(nx0, 4), round(ny0, 4), round(max(nx1 - nx0, 0.0), 4), round(max(ny1 - ny0, 0.0), 4)]}


def _figure_json(index: int, block: Block, width: int, height: int) -> dict[str, Any]:
    # Labels, legends and axis text the OCR read inside the figure; marks without a letter or digit are noise.
    text = "\n".join(" ".join(ln.text for ln in row) for row in rows(block.lines)
                     if any(ch.isalnum() for ln in row for ch in ln.text))
    return {"id": index, "title": None, "caption": block.caption, "content": text or None,
            "bbox": xywh(block.x0, block.y0, block.x1, block.y1, width, height)}


# --- tables ---------------------------------------------------------------------------------------------------

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)")
_PERCENT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)\s?%")
_CURRENCY = re.compile(r"[$€£¥]\s?[+-]?[\d,]*\.?\d+|[+-]?[\d,]*\.?\d+\s?[$€£¥]")


def _dtype(values: list[str]) -> str:
    """The type every non-empty value of a column shares ("str" when none other does)."""
    filled = [v for v in values if v]
    if not filled:
        return "str"
    for name, pattern in (("int", _INT), ("float", _FLOAT), ("percentage", _PERCENT), ("currency", _CURRENCY)):
        if all(pattern.fullmatch(v) for v in filled):
            return name
    return "str"


def _value(text: str, dtype: str) -> str | int | float | None:
    if not text:
        return None
    return int(text) if dtype == "int" else float(text) if dtype == "float" else text


def _column_ids(names: list[str]) -> list[str]:
    """Short unique ids from the header names ('Unit price' -> 'unit_price'), col_N where a name gives none."""
    ids: list[str] = []
    for col, name in enumerate(names):
        slug = re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")[:40] or f"col_{col}"
        ids.append(slug if slug not in ids else f"{slug}_{col}")
    return ids


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def header_rows(grid: TableGrid) -> int:
    """Rows of the header: row 0, and the rows its tallest cell spans down over (a "Region" cell beside a
    "Q1" over "Units | Revenue"); never every row."""
    tallest = max((c.rowspan for c in grid.cells if c.row == 0), default=1)
    return max(1, min(tallest, grid.rows - 1))


def table_json(grid: TableGrid, caption: str | None, width: int, height: int) -> dict[str, Any]:
    """A Table: the header row(s) name the columns (stacked names joined: "Q1 Units"); a spanning cell's text
    stands in its first row and column of the body."""
    text = grid.grid()
    n_head = header_rows(grid)
    stacked: list[list[str]] = [[] for _ in range(grid.cols)]  # header texts over each column, top down
    for cell in sorted(grid.cells, key=lambda c: c.row):
        if cell.row < n_head and cell.text:
            for col in range(cell.col, min(cell.col + cell.colspan, grid.cols)):
                stacked[col].append(cell.text)
    names = [" ".join(parts) for parts in stacked]
    ids = _column_ids(names)
    body = text[n_head:]
    dtypes = [_dtype([row[col] for row in body]) for col in range(grid.cols)]
    lines = ["| " + " | ".join(_md_cell(n) for n in names) + " |", "|" + "---|" * grid.cols]
    lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in body]
    return {
        "headers": [{"id": i, "column": col, "name": n, "dtype": d}
                    for col, (i, n, d) in enumerate(zip(ids, names, dtypes, strict=True))],
        "data": [{ids[col]: _value(row[col], dtypes[col]) for col in range(grid.cols)} for row in body],
        "content": "\n".join(lines) if grid.cols else "",
        "metadata": {"title": None, "caption": caption or grid.caption, "notes": None},
        "bbox": xywh(grid.x0, grid.y0, grid.x1, grid.y1, width, height),
        "cells": [
            {"content": c.text, "index": [c.row, c.col],
             "span": [c.rowspan, c.colspan] if c.rowspan > 1 or c.colspan > 1 else None,
             "bbox": xywh(c.x0, c.y0, c.x1, c.y1, width, height)}
            for c in sorted(grid.cells, key=lambda c: (c.row, c.col))
        ],
    }
