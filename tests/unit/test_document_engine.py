"""The document engine's own rules, without its models: the text layer as lines, blank bands cut before
detection, slide titles."""

import json

import numpy as np
from PIL import Image, ImageDraw
from vlm_engines.document import split_title, text_layer_lines
from vlm_engines.ocr import BLANK_MARGIN, without_blank_bands


def test_text_layer_lines_are_in_pixels_of_the_page_image():
    hint = json.dumps({"text": "Total 42", "lines": [{"text": "Total 42", "bbox": [0.1, 0.5, 0.3, 0.52]}]})
    [line] = text_layer_lines(hint, 1000, 2000)
    assert (line.text, line.confidence) == ("Total 42", 1.0)
    assert (line.x0, line.y0, line.x1, line.y1) == (100.0, 1000.0, 300.0, 1040.0)


def test_plain_or_broken_hints_are_no_text_layer():
    assert text_layer_lines("", 10, 10) == []
    assert text_layer_lines("just the text of a page", 10, 10) == []
    assert text_layer_lines("{not json", 10, 10) == []
    assert text_layer_lines(json.dumps({"lines": [{"text": " ", "bbox": [0, 0, 1, 1]}]}), 10, 10) == []


def test_blank_bands_and_margins_are_cut_and_rows_map_back():
    page = Image.new("RGB", (400, 1000), "white")
    draw = ImageDraw.Draw(page)
    draw.rectangle((100, 100, 300, 110), fill="black")  # two inked bands far apart
    draw.rectangle((150, 800, 200, 805), fill="black")
    cut, rows, left = without_blank_bands(page)
    assert left == 100 - BLANK_MARGIN and cut.width == (300 + BLANK_MARGIN + 1) - left
    assert cut.height == len(rows) < 1000 / 2
    # Every kept row is the page's row it came from, inked rows included, in order.
    assert list(rows) == sorted(rows) and {100, 110, 800, 805} <= set(rows.tolist())
    original = np.asarray(page)
    assert (np.asarray(cut) == original[rows, left:left + cut.width]).all()


def test_a_blank_page_has_nothing_to_detect():
    assert without_blank_bands(Image.new("RGB", (50, 50), "white")) is None


def test_a_slide_title_is_its_first_heading_or_short_first_line():
    assert split_title("## Hiring Plan\n\n- Two engineers") == ("Hiring Plan", "- Two engineers")
    assert split_title("Next Steps\n\n- Ship it") == ("Next Steps", "- Ship it")
    long = "x" * 100
    assert split_title(long) == (None, long)
    assert split_title("") == (None, "")
