"""Request validation for the transformers model; Triton-free so it can be tested alone.

Errors carry a stable REASON token (the message starts with "REASON: ") and the name of a
pb_utils.TritonError code: on a gRPC stream the code is lost, the reason survives.
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageOps


class RequestError(Exception):
    def __init__(self, reason: str, message: str, code: str = "INVALID_ARG") -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.code = code  # attribute name on pb_utils.TritonError


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


def text(value: Any, name: str) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as e:
            raise RequestError("INVALID_INPUT", f"{name} is not UTF-8 ({e})") from None
    return str(value)


def one(values: list | None, name: str) -> str | None:
    if not values:
        return None
    if len(values) != 1:
        raise RequestError("INVALID_INPUT", f"{name} must have exactly one element, got {len(values)}")
    return text(values[0], name)


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


def decode_image(data: Any, index: int) -> Image.Image:
    """Encoded bytes -> RGB image (EXIF orientation applied, transparency flattened onto white)."""
    if not isinstance(data, bytes) or not data:
        raise RequestError("INVALID_IMAGE", f"element {index} is empty")
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that: make every bomb an error.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
            img.load()
            img = ImageOps.exif_transpose(img)
            if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
                rgba = img.convert("RGBA")
                return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
            return img.convert("RGB")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise RequestError("INVALID_IMAGE", f"element {index} is too large ({e})") from None
        except Exception as e:  # noqa: BLE001 - any decoder failure is the caller's bad input
            raise RequestError("INVALID_IMAGE", f"element {index} is not a decodable image ({e})") from None
