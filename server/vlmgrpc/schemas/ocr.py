"""Page-by-page text domains: `document.ocr` (lines with boxes) and `document.markdown` (VLM Run's
MarkdownDocument, with tables and figures)."""

from typing import Literal

from pydantic import BaseModel, Field

from .common import Box, Unit

# --- document.ocr ---------------------------------------------------------------------------------------------


class OcrLine(BaseModel):
    """One line of text as read from the page."""

    text: str = Field(description="the line's text, exactly as printed, without a trailing newline")
    confidence: Unit = Field(description="how sure the recogniser is of the text, from 0 (a guess) to 1 (certain)")
    bbox: Box = Field(description="the box around the line, normalised to the page")


class OcrPage(BaseModel):
    """The text of one page or image, line by line in reading order."""

    page_index: int = Field(ge=0, description="0-based index of the page in the document; 0 for a single image")
    width: int = Field(ge=1, description="width of the page as rendered for reading, in pixels")
    height: int = Field(ge=1, description="height of the page as rendered for reading, in pixels")
    text: str = Field(description="the page's text: its lines in reading order, joined by newlines")
    lines: list[OcrLine] = Field(description="the page's lines in reading order, top to bottom and left to right")


class OcrDocument(BaseModel):
    """Text lines with boxes and confidences, in reading order, page by page."""

    text: str = Field(description="all pages' text, pages separated by a blank line")
    pages: list[OcrPage] = Field(description="one entry per page (or image), in page order")


# --- document.markdown ----------------------------------------------------------------------------------------

ColumnType = Literal[
    "str", "int", "float", "bool", "date", "datetime", "time", "timedelta", "duration", "currency", "percentage",
    "enum",
]
CellValue = str | int | float | bool | None


class TableHeader(BaseModel):
    """One column of a table."""

    id: str = Field(description="a short identifier of the column, unique in the table, e.g. 'col_0' or 'amount'; "
                    "the keys of every row in `data`")
    column: int = Field(ge=0, description="0-based position of the column, left to right")
    name: str = Field(description="the column's heading as printed (empty when the column has none)")
    dtype: ColumnType | None = Field(None, description="the type of the column's values, when they share one")


class TableMetadata(BaseModel):
    """Text printed around a table."""

    title: str | None = Field(None, description="the table's title, when it has one")
    caption: str | None = Field(None, description="the table's caption, when it has one")
    notes: str | None = Field(None, description="footnotes or notes printed under the table")


class TableCell(BaseModel):
    """One cell of a table, with where it lies."""

    content: str = Field(description="the cell's text")
    index: list[int] = Field(min_length=2, max_length=2, description="[row, column] of the cell, 0-based; the "
                             "header row is row 0")
    span: list[int] | None = Field(None, min_length=2, max_length=2,
                                   description="[rows, columns] the cell spans, when it spans more than one")
    bbox: Box | None = Field(None, description="the box around the cell, normalised to the page")


class Table(BaseModel):
    """A table on the page: its columns, its rows, and its markdown."""

    headers: list[TableHeader] = Field(description="the table's columns, left to right")
    data: list[dict[str, CellValue]] | None = Field(
        None, description="the body rows, top to bottom; each row maps a column id (see headers) to the cell's value"
    )
    content: str | None = Field(None, description="the table as a GitHub-flavoured markdown table")
    metadata: TableMetadata | None = Field(None, description="the table's title, caption and notes")
    bbox: Box | None = Field(None, description="the box around the whole table, normalised to the page")
    cells: list[TableCell] | None = Field(None, description="every cell with its position and box, when known")


class Figure(BaseModel):
    """A figure on the page: a photo, drawing, chart, diagram or logo."""

    id: int = Field(ge=0, description="number of the figure on the page, from 0; `<Figure id=\"fg-N\"/>` in the "
                    "page's content marks where figure N stands")
    title: str | None = Field(None, description="the figure's title, when it has one")
    caption: str | None = Field(None, description="the figure's caption as printed, when it has one")
    content: str | None = Field(None, description="what the figure shows, in markdown (for a chart: its data)")
    bbox: Box | None = Field(None, description="the box around the figure, normalised to the page")


class MarkdownPage(BaseModel):
    """One page as markdown, with its tables and figures."""

    page_index: int = Field(ge=0, description="0-based index of the page in the document; 0 for a single image")
    width: int = Field(ge=1, description="width of the page as rendered for reading, in pixels")
    height: int = Field(ge=1, description="height of the page as rendered for reading, in pixels")
    content: str = Field(description="the page in reading order as markdown (headings, lists, emphasis); "
                         "`<Table id=\"tb-N\"/>` and `<Figure id=\"fg-N\"/>` mark where table N (0-based, in "
                         "`tables` order) and figure N stand")
    tables: list[Table] = Field(default_factory=list, description="the page's tables, in reading order")
    figures: list[Figure] = Field(default_factory=list, description="the page's figures, in reading order")


class MarkdownDocument(BaseModel):
    """Reading-order markdown, page by page (the VLM Run MarkdownDocument shape)."""

    pages: list[MarkdownPage] = Field(description="one entry per page (or image), in page order")
