"""The catalogue of domains: the VLM Run hub's schemas (vlmrun-hub) plus the platform domains
whose schemas we define here. What the loaded model actually *serves* comes from Triton."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pydantic import BaseModel, Field

from vlmgrpc.errors import ServiceError, not_found

log = logging.getLogger(__name__)
OWN_SCHEMA_VERSION = "1.0.0"


class Box(BaseModel):
    xywh: list[float] = Field(description="x, y, width, height, normalised to 0..1 of the page")


class OcrLine(BaseModel):
    text: str
    confidence: float
    bbox: Box


class OcrPage(BaseModel):
    page_index: int
    width: int
    height: int
    text: str
    lines: list[OcrLine]


class OcrDocument(BaseModel):
    """Text lines with boxes and confidences, in reading order, page by page."""

    text: str = Field(description="all pages' text, pages separated by a blank line")
    pages: list[OcrPage]


class MarkdownPage(BaseModel):
    page_index: int
    content: str
    tables: list[dict[str, Any]] = []
    figures: list[dict[str, Any]] = []


class MarkdownDocument(BaseModel):
    """Reading-order markdown, page by page (the VLM Run MarkdownDocument shape)."""

    pages: list[MarkdownPage]


# Platform domains (not in vlmrun-hub) that have a schema here.
OWN_SCHEMAS: dict[str, type[BaseModel]] = {
    "document.ocr": OcrDocument,
    "document.markdown": MarkdownDocument,
}
# Platform domains known to the VLM Run API whose schema lives only on the platform.
PLATFORM_DOMAINS = ("image.caption", "image.object-detection", "image.person-detection",
                    "document.generative", "document.presentation", "document.file", "document.pdf")


@dataclass(frozen=True)
class DomainSchema:
    domain: str
    description: str
    version: str
    json_schema: dict[str, Any]
    supported_inputs: tuple[str, ...]

    @property
    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.json_schema, sort_keys=True).encode()).hexdigest()[:8]


class Catalog:
    @cached_property
    def _hub(self) -> dict[str, DomainSchema]:
        from importlib.metadata import version
        from importlib.resources import files

        import yaml
        from loguru import logger
        from vlmrun.hub.registry import registry

        logger.disable("vlmrun")  # the hub logs every catalog load at DEBUG
        hub_version = version("vlmrun-hub")
        root = files("vlmrun.hub")
        out = {}
        for catalog in (root / "catalog.yaml", root / "schemas" / "contrib" / "catalog.yaml"):
            for item in yaml.safe_load(catalog.read_text())["schemas"]:
                domain = item["domain"]
                inputs = tuple((item.get("metadata") or {}).get("supported_inputs") or ())
                out[domain] = DomainSchema(domain, item.get("description", ""), hub_version,
                                           registry[domain].model_json_schema(), inputs)
        return out

    def load(self) -> None:
        """Import the hub's schemas now (about half a second), not on the first request."""
        log.info("catalog: %d hub domains", len(self._hub))

    def schema(self, domain: str) -> DomainSchema:
        if domain in OWN_SCHEMAS:
            model = OWN_SCHEMAS[domain]
            return DomainSchema(domain, (model.__doc__ or "").strip(), OWN_SCHEMA_VERSION,
                                model.model_json_schema(), ("image", "document"))
        if domain in self._hub:
            return self._hub[domain]
        raise not_found("schema", domain)

    def known(self) -> list[str]:
        return sorted(set(OWN_SCHEMAS) | set(self._hub) | set(PLATFORM_DOMAINS))

    def is_known(self, domain: str) -> bool:
        return domain in OWN_SCHEMAS or domain in PLATFORM_DOMAINS or domain in self._hub

    def description(self, domain: str) -> str:
        try:
            return self.schema(domain).description
        except ServiceError:
            return ""
