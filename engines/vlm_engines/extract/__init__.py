"""Structured documents (invoices, receipts, bank statements, forms) filled by rules from what the document
stages read off each page (OCR lines, layout regions, tables), for engines without a vision-language model.

    extract(schema, pages) -> dict

`schema` is the domain's JSON schema (Draft 2020-12, as pydantic emits it, with `<field>_metadata` beside the
fields when grounding or confidence is asked for); the answer validates against it. Each field takes the
value printed next to a label naming it (the field's name, title, short description or a known synonym,
matched fuzzily so OCR slips still match); line items come from the rows of lines under a table's header row
(columns.py), else from the tables the table model found; a field the pages do not show is null. Nothing is
guessed: where the schema requires a value it does not allow to be null and the pages do not give it, the
emptiest value the schema allows stands in, and `extract_with_report` lists those fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..page import PageContent
from .document import read_document
from .labels import Plan, plan
from .schema import Node, compile_schema

__all__ = ["Extraction", "extract", "extract_with_report"]


@dataclass
class Extraction:
    value: dict[str, Any]
    # Dotted paths of required fields the pages did not give, filled with the emptiest value the schema allows
    # (`""`, `0`, `[]`; an enum's first value): placeholders, not readings.
    placeholders: list[str] = field(default_factory=list)


def extract(schema: dict[str, Any], pages: list[PageContent]) -> dict[str, Any]:
    """The object `schema` describes, filled from the pages' lines and tables."""
    return extract_with_report(schema, pages).value


def extract_with_report(schema: dict[str, Any], pages: list[PageContent]) -> Extraction:
    root, fields = _compiled(json.dumps(schema))  # property order matters: it is the answer's
    value, placeholders = read_document(root, fields, pages)
    return Extraction(value, placeholders)


@lru_cache(maxsize=32)
def _compiled(schema_json: str) -> tuple[Node, Plan]:
    root = compile_schema(json.loads(schema_json))
    return root, plan(root)
