"""Checks of a submission that need no I/O (the bytes are checked in pipeline/)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vlmgrpc.errors import Code, ServiceError, invalid
from vlmgrpc.jobs.answers import check_schema
from vlmgrpc.jobs.model import Kind
from vlmgrpc.pipeline.fetch import check_literal_address, check_url

DOMAIN_RE = re.compile(r"^[a-z0-9-]+\.[a-z0-9-]+(\.[a-z0-9-]+)*$")
MAX_JSON_SCHEMA_BYTES = 64 * 1024
DETAILS = ("", "auto", "lo", "hi")
SERVICE_TIERS = ("", "auto", "default", "standard", "flex", "priority")
ENVIRONMENTS = ("", "dev", "staging", "prod")
MAX_REQUEST_ID = 128
INLINE_HASH_BYTES = 256 * 1024  # hashed on the loop below this (well under a millisecond); in a thread above


@dataclass
class RawInput:
    """One input as the caller gave it: exactly one of the three is set."""

    data: bytes | None = None
    url: str | None = None
    file_id: str | None = None


@dataclass
class Submission:
    owner: str
    kind: Kind
    domain: str
    inputs: list[RawInput]
    batch: bool
    model: str = ""  # "" or "vlm-1": the first loaded model that serves the domain
    request_id: str = ""
    callback_url: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    request_created_at: datetime | None = None

    def input_field(self, index: int) -> str:
        return f"images[{index}]" if self.kind is Kind.IMAGE else "document"

    async def fingerprint_async(self) -> str:
        """fingerprint(), hashed in a thread when the inputs are large (up to 64 MiB: tens of ms of SHA-256
        that would stall the event loop)."""
        if sum(len(raw.data) for raw in self.inputs if raw.data) < INLINE_HASH_BYTES:
            return self.fingerprint()
        return await asyncio.to_thread(self.fingerprint)

    def fingerprint(self) -> str:
        """Identifies the request's content: a reused request id with other content is refused."""
        digest = hashlib.sha256()
        head = [self.kind.value, self.domain, self.model, self.callback_url, self.config, self.metadata]
        digest.update(json.dumps(head, sort_keys=True, default=str).encode())
        for raw in self.inputs:
            digest.update(b"\x00")
            digest.update(hashlib.sha256(raw.data).digest() if raw.data is not None
                          else f"{raw.url}|{raw.file_id}".encode())
        return digest.hexdigest()


def validate(sub: Submission, *, known: bool, max_images: int, allow_private_urls: bool = False) -> None:
    """Raise the first problem found, as INVALID_ARGUMENT. Whether a loaded model serves the domain is the
    model registry's question (inference/models.py)."""
    if len(sub.request_id) > MAX_REQUEST_ID:
        raise invalid("REQUEST_ID_TOO_LONG", f"id is longer than {MAX_REQUEST_ID} characters", "id")
    if not sub.domain:
        raise invalid("MISSING_DOMAIN", "domain is required, e.g. document.ocr", "domain")
    if not DOMAIN_RE.match(sub.domain) or not known:
        raise invalid("UNKNOWN_DOMAIN", f"domain {sub.domain!r} is not a known domain (see HubService.ListDomains)",
                      "domain", domain=sub.domain)
    _validate_inputs(sub, max_images, allow_private_urls)
    _validate_config(sub.config)
    _validate_metadata(sub.metadata)
    if sub.callback_url:
        if sub.callback_url.startswith("data:"):
            raise invalid("INVALID_CALLBACK_URL", "callback_url must be http(s)", "callback_url")
        _wrap(lambda: check_url(sub.callback_url, "callback_url"), "INVALID_CALLBACK_URL")
        if not allow_private_urls:
            check_literal_address(sub.callback_url, "callback_url", "CALLBACK_URL_NOT_ALLOWED")


def _wrap(check, reason: str) -> None:
    try:
        check()
    except ServiceError as exc:
        exc.reason = reason
        raise


def _validate_inputs(sub: Submission, max_images: int, allow_private_urls: bool) -> None:
    if sub.kind is Kind.IMAGE:
        if not sub.inputs:
            raise invalid("MISSING_INPUT", "at least one image is required", "images")
        if len(sub.inputs) > max_images:
            raise invalid("TOO_MANY_IMAGES", f"at most {max_images} images per request", "images",
                          max_images=str(max_images))
    elif len(sub.inputs) != 1:
        raise invalid("MISSING_INPUT", "a document is required", "document")
    for i, raw in enumerate(sub.inputs):
        where = sub.input_field(i)
        given = [x for x in (raw.data, raw.url, raw.file_id) if x]
        if len(given) != 1:
            raise invalid("MISSING_INPUT", f"{where} needs bytes, a url or a file_id", where)
        if raw.url:
            check_url(raw.url, f"{where}.url")
            if not allow_private_urls and not raw.url.startswith("data:"):
                check_literal_address(raw.url, f"{where}.url")


def _validate_config(cfg: dict[str, Any]) -> None:
    if cfg.get("detail", "") not in DETAILS:
        raise invalid("INVALID_CONFIG", "detail must be auto, lo or hi", "config.detail")
    if cfg.get("service_tier", "") not in SERVICE_TIERS:
        raise invalid("INVALID_CONFIG", "service_tier must be one of " + ", ".join(SERVICE_TIERS[1:]),
                      "config.service_tier")
    temperature = cfg.get("temperature", 0.0)
    if not 0.0 <= temperature <= 2.0:
        raise invalid("INVALID_CONFIG", "temperature must be within [0, 2]", "config.temperature")
    if cfg.get("max_tokens", 1) <= 0:
        raise invalid("INVALID_CONFIG", "max_tokens must be positive", "config.max_tokens")
    if cfg.get("max_retries", 0) < 0:
        raise invalid("INVALID_CONFIG", "max_retries must not be negative", "config.max_retries")
    if "json_schema" in cfg:
        problems = check_schema(cfg["json_schema"], MAX_JSON_SCHEMA_BYTES)
        if problems:
            raise ServiceError(Code.INVALID_ARGUMENT, "INVALID_JSON_SCHEMA",
                               f"config.json_schema is not a usable JSON Schema: {problems[0]}", {},
                               [("config.json_schema", p) for p in problems])
    pages = cfg.get("page_indices", [])
    if any(p < 0 for p in pages):
        raise invalid("INVALID_CONFIG", "page_indices are 0-based and must not be negative", "config.page_indices")
    if len(set(pages)) != len(pages):
        raise invalid("INVALID_CONFIG", "page_indices must not repeat", "config.page_indices")


def _validate_metadata(meta: dict[str, Any]) -> None:
    if meta.get("environment", "") not in ENVIRONMENTS:
        raise invalid("INVALID_METADATA", "environment must be dev, staging or prod", "metadata.environment")
