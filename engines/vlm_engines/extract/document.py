"""One extraction, stage by stage: the pages' habits (date order, decimal comma), tables to line items,
labels to fields, then what documents print without labels, then the answer object."""

from __future__ import annotations

import re
from typing import Any

from ..page import PageContent
from . import unlabelled
from .dates import date_order
from .fill import Answer
from .geometry import PageView
from .items import read_tables
from .labels import Plan
from .match import Matcher
from .schema import Node
from .values import ReadContext

# Amounts with two decimals: `1.234,56` (a decimal comma) or `1,234.56` (a decimal point).
_COMMA_DECIMALS = re.compile(r"(?<![\d.,])\d+(?:\.\d{3})*,\d{2}(?![\d,])")
_POINT_DECIMALS = re.compile(r"(?<![\d.,])\d+(?:,\d{3})*\.\d{2}(?![\d.])")


def reading_context(views: list[PageView]) -> ReadContext:
    """How the document writes dates and decimals, from all its lines (for `03/04/2024` and `1,234`)."""
    texts = [line.text for view in views for line in view.lines]
    commas = sum(len(_COMMA_DECIMALS.findall(t)) for t in texts)
    points = sum(len(_POINT_DECIMALS.findall(t)) for t in texts)
    decimal_comma = None if commas == points else commas > points
    return ReadContext(date_order=date_order(texts), decimal_comma=decimal_comma)


def read_document(root: Node, fields: Plan, pages: list[PageContent]) -> tuple[dict[str, Any], list[str]]:
    views = [PageView.of(page) for page in pages]
    ctx = reading_context(views)
    items, excluded = read_tables(root, views, ctx)
    matcher = Matcher(fields, views, excluded, ctx)
    found = matcher.run()
    unlabelled.fill(fields, found, matcher, ctx)
    answer = Answer(fields, found, items, views)
    value, _ = answer.record(root, ())
    return value, answer.placeholders
