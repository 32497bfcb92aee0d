"""Answer checks (jobs/answers.py): the schema an answer must follow, violations, credits, grounding."""

from __future__ import annotations

import jsonschema
import pytest

from vlmgrpc.catalog import Catalog
from vlmgrpc.jobs import answers
from vlmgrpc.jobs.model import Kind, Prediction

CATALOG = Catalog()


def _pred(domain: str, **config) -> Prediction:
    return Prediction(id="p", owner="o", kind=Kind.DOCUMENT, domain=domain, batch=True, config=config)


def _page(**extra) -> dict:
    line = {"text": "Total 3", "confidence": 0.95, "bbox": {"xywh": [0.1, 0.2, 0.3, 0.04]}}
    return {"text": "Total 3", "lines": [line], **extra}


def test_page_domains_check_each_page_and_assemble_the_document():
    plan = answers.plan(CATALOG, _pred("document.ocr"))
    assert plan.page_by_page and not plan.custom and plan.max_retries == 3
    entry = plan.entry(1, _page(), {"width": 800, "height": 600})
    assert answers.violations(plan.element_schema, entry) == []
    response = plan.assemble("document.ocr", {1: entry, 0: plan.entry(0, _page(), {"width": 8, "height": 6})})
    assert [p["page_index"] for p in response["pages"]] == [0, 1]
    assert answers.violations(plan.schema, response) == []
    # Without its size a page breaks the published schema (it did before this check existed).
    assert answers.violations(plan.element_schema, plan.entry(0, _page(), {}))


def test_structured_domains_answer_one_object():
    plan = answers.plan(CATALOG, _pred("document.invoice", max_retries=1))
    assert not plan.page_by_page and plan.max_retries == 1 and plan.schema is plan.element_schema
    assert plan.assemble("document.invoice", {0: {"invoice_id": "7"}}) == {"invoice_id": "7"}


def test_violations_name_the_path_and_formats_are_checked():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "d": {"type": "string", "format": "date"}},
              "required": ["n"]}
    assert answers.violations(schema, {"n": 1, "d": "2026-01-31"}) == []
    problems = answers.violations(schema, {"n": 1.5, "d": "31/01/2026"})
    assert problems[0].startswith("d: ") and problems[1].startswith("n: ")
    assert answers.violations(schema, {})[0].startswith("(root): ")


def test_a_custom_schema_replaces_the_domains():
    custom = {"type": "object", "properties": {"total": {"type": "number"}}, "required": ["total"]}
    plan = answers.plan(CATALOG, _pred("document.ocr", json_schema=custom))
    assert plan.custom and not plan.page_by_page and plan.schema == custom
    assert answers.violations(plan.element_schema, {"total": "12"}) == ["total: '12' is not of type 'number'"]


def test_grounding_gives_ocr_lines_vlm_run_metadata_that_the_published_schema_allows():
    plan = answers.plan(CATALOG, _pred("document.ocr", grounding=True, confidence=True))
    entry = plan.entry(2, _page(), {"width": 10, "height": 10})
    meta = entry["lines"][0]["text_metadata"]
    assert meta == {"bboxes": [{"xywh": [0.1, 0.2, 0.3, 0.04], "page": 2}], "confidence": "hi"}
    assert answers.violations(plan.element_schema, entry) == []
    schema = CATALOG.schema("document.ocr", grounding=True, confidence=True).json_schema
    jsonschema.Draft202012Validator.check_schema(schema)
    bad = {**entry, "lines": [{**entry["lines"][0], "text_metadata": {"confidence": "certain"}}]}
    assert answers.violations(plan.element_schema, bad)


@pytest.mark.parametrize(("score", "level"), [(0.99, "hi"), (0.9, "hi"), (0.7, "med"), (0.2, "low")])
def test_confidence_levels(score, level):
    assert answers.confidence_level(score) == level


def test_credits_use_the_most_specific_price_and_round_up():
    prices = {"document.invoice": 2.5, "page": 1.5, "*": 1}
    assert answers.credits(prices, "document.invoice", "page", 3) == 8
    assert answers.credits(prices, "document.ocr", "page", 3) == 5
    assert answers.credits(prices, "document.ocr", "image", 3) == 3
    assert answers.credits({}, "document.ocr", "image", 3) == 3


def test_check_schema():
    assert answers.check_schema({"type": "object"}, 1000) == []
    assert answers.check_schema([1], 1000) == ["json_schema must be a JSON object"]
    assert "at most 10" in answers.check_schema({"type": "object"}, 10)[0]
    assert answers.check_schema({"type": "objekt"}, 1000)
