"""Request validation for the transformers model; Triton-free so it can be tested alone. Errors and the
shared input readers are vlm_engines.inputs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from vlm_engines.inputs import RequestError, decode_image, one

__all__ = ["Request", "RequestError", "decode_image", "parse_request"]


@dataclass
class Request:
    images: list[bytes]
    domain: str
    prompt: str
    json_schema: dict | None = None
    max_tokens: int | None = None
    temperature: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)
    templated: bool = False  # the prompt is already the model's chat text (image placeholders included)


def parse_request(images: list | None, domain: list | None, prompt: list | None, config: list | None, *,
                  max_images: int, domains: tuple[str, ...]) -> Request:
    """Element lists of the input tensors (None = input absent) -> Request, or RequestError."""
    name = one(domain, "DOMAIN")
    if not name:
        raise RequestError("MISSING_INPUT", "DOMAIN is required")
    if "*" not in domains and name not in domains:
        raise RequestError("DOMAIN_NOT_SERVED", f"domain {name!r} is not served; this model serves "
                           f"{', '.join(domains)}", "UNSUPPORTED")
    if not images:
        raise RequestError("MISSING_INPUT", "IMAGES needs at least one encoded image")
    if len(images) > max_images:
        raise RequestError("TOO_MANY_IMAGES", f"{len(images)} images, this model takes at most {max_images}")
    instruction = one(prompt, "PROMPT")
    if not instruction or not instruction.strip():
        raise RequestError("MISSING_INPUT", "PROMPT is required (the instruction text)")
    req = Request(images=list(images), domain=name, prompt=instruction)
    raw = one(config, "CONFIG")
    if raw and raw.strip():
        try:
            req.config = json.loads(raw)
        except json.JSONDecodeError as e:
            raise RequestError("INVALID_CONFIG", f"CONFIG is not valid JSON ({e})") from None
        if not isinstance(req.config, dict):
            raise RequestError("INVALID_CONFIG", f"CONFIG must be a JSON object, got {type(req.config).__name__}")
    get = req.config.get
    if get("json_schema") is not None:
        if not isinstance(get("json_schema"), dict):
            raise RequestError("INVALID_CONFIG", "json_schema must be a JSON object")
        req.json_schema = get("json_schema")
    if get("max_tokens") is not None:
        if type(get("max_tokens")) is not int or get("max_tokens") <= 0:
            raise RequestError("INVALID_CONFIG", f"max_tokens must be a positive integer, got {get('max_tokens')!r}")
        req.max_tokens = get("max_tokens")
    if get("temperature") is not None:
        t = get("temperature")
        if isinstance(t, bool) or not isinstance(t, int | float) or not t >= 0 or t == float("inf"):
            raise RequestError("INVALID_CONFIG", f"temperature must be a number >= 0, got {t!r}")
        req.temperature = float(t)
    return req
