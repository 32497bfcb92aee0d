"""Answers the service can stand behind: every element's answer is checked against the schema the service
publishes for its domain (or the request's config.json_schema) before it counts, and the response is
assembled in the domain's shape (page by page, or one object per document)."""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from vlmgrpc.catalog import Catalog
from vlmgrpc.errors import Code, ServiceError
from vlmgrpc.jobs.model import Prediction

MAX_VIOLATIONS = 5
SERVICE_FIELDS = ("page_index", "width", "height")  # what the service, not the model, says of a page
# The shape of a domain the catalogue does not know, which a model declares for itself (the benchmarks'
# bench.echo): answered page by page, any object per page.
OPEN_PAGES: dict[str, Any] = {"type": "object", "properties": {"pages": {"type": "array", "items": {
    "type": "object", "properties": {"page_index": {"type": "integer"}}, "required": ["page_index"]}}}}
DEFAULT_MAX_RETRIES = 3


@dataclass(frozen=True)
class AnswerPlan:
    """How a prediction is asked and answered."""

    schema: dict[str, Any]  # what the whole response must follow
    element_schema: dict[str, Any]  # what one element's answer must follow
    page_by_page: bool  # one request and one `pages` entry per image/page; else one request, one object
    custom: bool  # config.json_schema replaces the domain's schema
    max_retries: int
    grounding: bool = False
    confidence: bool = False

    def entry(self, index: int, result: Any, meta: dict[str, Any]) -> Any:
        """An element's answer as it appears in the response (a page entry carries its index and size)."""
        if not self.page_by_page:
            return result
        size = {k: meta[k] for k in SERVICE_FIELDS[1:] if k in meta}
        # The service's own facts win over anything a model wrote in their place.
        entry = {**(result if isinstance(result, dict) else {"value": result}), "page_index": index, **size}
        if (self.grounding or self.confidence) and isinstance(entry.get("lines"), list):
            entry["lines"] = [self._ground_line(line, index) for line in entry["lines"]]
        return entry

    def _ground_line(self, line: Any, page: int) -> Any:
        """An OCR line with VLM Run's `text_metadata`: its box on the page and a confidence level."""
        if not isinstance(line, dict):
            return line
        metadata: dict[str, Any] = {}
        if self.grounding and isinstance(line.get("bbox"), dict):
            metadata["bboxes"] = [{"xywh": line["bbox"].get("xywh"), "page": page}]
        if self.confidence and isinstance(line.get("confidence"), int | float):
            metadata["confidence"] = confidence_level(line["confidence"])
        return {**line, "text_metadata": metadata}

    def requests(self, elements: int) -> int:
        """Answers a prediction of `elements` images or pages needs: one per element, or one in all."""
        return elements if self.page_by_page else 1

    def decoding_schema(self) -> dict[str, Any]:
        """What a model that decodes to a schema is asked for: a page entry without the fields the service
        fills in itself (page index and size)."""
        if not self.page_by_page:
            return self.element_schema
        schema = copy.deepcopy(self.element_schema)
        node = schema
        if "$ref" in node:  # {"$defs": ..., "$ref": "#/$defs/OcrPage"}: inline the page's definition
            node = schema["$defs"][node.pop("$ref").rsplit("/", 1)[1]]
            schema.update(copy.deepcopy(node))
            node = schema
        for name in SERVICE_FIELDS:
            node.get("properties", {}).pop(name, None)
            node.get("properties", {}).pop(f"{name}_metadata", None)
        node["required"] = [r for r in node.get("required", []) if r not in SERVICE_FIELDS]
        return schema

    def assemble(self, domain: str, entries: dict[int, Any]) -> Any:
        if not self.page_by_page:
            return entries[min(entries)] if entries else None
        pages = [entries[i] for i in sorted(entries)]
        if domain == "document.ocr":
            return {"text": "\n\n".join(p.get("text", "") for p in pages), "pages": pages}
        return {"pages": pages}


def plan(catalog: Catalog, pred: Prediction) -> AnswerPlan:
    config = pred.config
    retries = config.get("max_retries")
    retries = DEFAULT_MAX_RETRIES if retries is None else int(retries)
    custom = config.get("json_schema") or None
    grounding, confidence = bool(config.get("grounding")), bool(config.get("confidence"))
    if custom:
        return AnswerPlan(custom, custom, False, True, retries)
    if not catalog.is_known(pred.domain):  # a model's own domain (bench.echo): no schema is published for it
        return AnswerPlan(OPEN_PAGES, OPEN_PAGES["properties"]["pages"]["items"], True, False, retries)
    domain = catalog.schema(pred.domain, grounding=grounding, confidence=confidence)
    schema = domain.json_schema
    element = page_schema(schema) if domain.page_by_page else schema
    return AnswerPlan(schema, element, domain.page_by_page, False, retries, grounding, confidence)


def confidence_level(score: float) -> str:
    """A 0..1 score as VLM Run's confidence levels."""
    return "hi" if score >= 0.9 else "med" if score >= 0.6 else "low"


def page_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema of one entry of a page-by-page response's `pages`."""
    items = schema["properties"]["pages"]["items"]
    return {"$defs": schema.get("$defs", {}), **items}


def violations(schema: dict[str, Any], instance: Any) -> list[str]:
    """The first few ways `instance` breaks `schema`, as "path: message"; empty when it validates."""
    validator = _validator(json.dumps(schema, sort_keys=True))
    out = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))[:MAX_VIOLATIONS]:
        path = "/".join(str(p) for p in error.absolute_path) or "(root)"
        out.append(f"{path}: {error.message[:200]}")
    return out


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> Draft202012Validator:
    # Formats (date, date-time, email, ...) are checked too: a "date" must be a real date.
    return Draft202012Validator(json.loads(schema_json), format_checker=FormatChecker())


def check_schema(schema: Any, max_bytes: int) -> list[str]:
    """Problems of a caller's json_schema: not an object, too large, or not a valid JSON Schema."""
    if not isinstance(schema, dict):
        return ["json_schema must be a JSON object"]
    size = len(json.dumps(schema, separators=(",", ":")))
    if size > max_bytes:
        return [f"json_schema is {size} bytes; at most {max_bytes} are accepted"]
    errors = list(Draft202012Validator(Draft202012Validator.META_SCHEMA).iter_errors(schema))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message[:200]}" for e in errors[:3]]


def schema_failure(index: int, problems: list[str], attempts: int) -> ServiceError:
    first = "; ".join(problems[:3])
    return ServiceError(Code.INTERNAL, "SCHEMA_VALIDATION_FAILED",
                        f"the model's answer for element {index} broke the schema {attempts} time(s): {first}",
                        {"element": str(index), "attempts": str(attempts)},
                        [(f"response/{p.split(':', 1)[0]}", p.split(": ", 1)[-1]) for p in problems])


def credits(prices: dict[str, float], domain: str, element_type: str, elements: int) -> int:
    """elements × the most specific price (domain, then element type, then '*'), rounded up."""
    for key in (domain, element_type, "*"):
        if key in prices:
            return math.ceil(prices[key] * elements - 1e-9)
    return elements
