"""The catalogue of domains: the VLM Run hub's schemas (vlmrun-hub) plus the platform domains whose
schemas are defined in vlmgrpc.schemas. Which loaded model *serves* a domain comes from Triton
(inference/models.py)."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from vlmgrpc.errors import ServiceError, not_found
from vlmgrpc.schemas import OWN_SCHEMAS, PAGE_DOMAINS, SUPPORTED_INPUTS
from vlmgrpc.schemas.grounding import with_metadata

log = logging.getLogger(__name__)
OWN_SCHEMA_VERSION = "1.0.0"


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

    @property
    def page_by_page(self) -> bool:
        """Answered with one entry per page or image ({"pages": [...]}), not one object per document."""
        return self.domain in PAGE_DOMAINS


class Catalog:
    @cached_property
    def _own(self) -> dict[str, DomainSchema]:
        return {domain: DomainSchema(domain, (model.__doc__ or "").strip(), OWN_SCHEMA_VERSION,
                                     model.model_json_schema(), SUPPORTED_INPUTS[domain])
                for domain, model in OWN_SCHEMAS.items()}

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
        log.info("catalog: %d hub domains, %d of our own", len(self._hub), len(self._own))

    def schema(self, domain: str, *, grounding: bool = False, confidence: bool = False) -> DomainSchema:
        """The domain's schema; with grounding or confidence, as answers with `<field>_metadata` follow it."""
        found = self._own.get(domain) or self._hub.get(domain)
        if found is None:
            raise not_found("schema", domain)
        if grounding or confidence:
            return DomainSchema(found.domain, found.description, found.version,
                                with_metadata(found.json_schema, grounding, confidence), found.supported_inputs)
        return found

    def known(self) -> list[str]:
        return sorted(set(self._own) | set(self._hub))

    def is_known(self, domain: str) -> bool:
        return domain in self._own or domain in self._hub

    def description(self, domain: str) -> str:
        try:
            return self.schema(domain).description
        except ServiceError:
            return ""
