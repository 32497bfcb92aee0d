"""Reading the service's request tensors inside a python-backend model, shared by every engine model.

Errors are `RequestError`s: the message starts with a stable REASON token, because a gRPC stream loses
Triton's status code and the service maps the reason back (server/vlmgrpc/inference/gateway.py).
Only importable inside Triton's python backend (triton_python_backend_utils comes with the stub).
"""

from __future__ import annotations

import io
import json
import warnings
from typing import Any

import triton_python_backend_utils as pb_utils
from PIL import Image, ImageOps

FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL  # a plain constant, defined at import
DETAIL_VALUES = ("auto", "lo", "hi")


class RequestError(Exception):
    """A per-request failure; `reason` is the stable token that starts the message the client sees."""

    def __init__(self, reason: str, message: str, code: int | None = None) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        # pb_utils.TritonError exists only once the stub runs a model, not when this module is imported.
        self.code = pb_utils.TritonError.INVALID_ARG if code is None else code


def elements(request, name: str) -> list | None:
    """The tensor's elements, flattened (a leading batch dimension of 1 disappears), or None if absent."""
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return None if tensor is None else list(tensor.as_numpy().reshape(-1))


def text(value: Any, name: str) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as e:
            raise RequestError("INVALID_INPUT", f"{name} is not UTF-8 ({e})") from None
    return str(value)


def one_string(request, name: str, required: bool = False) -> str | None:
    values = elements(request, name)
    if not values:
        if required:
            raise RequestError("MISSING_INPUT", f"{name} is required")
        return None
    if len(values) != 1:
        raise RequestError("INVALID_INPUT", f"{name} must have exactly one element, got {len(values)}")
    return text(values[0], name)


def text_hints(request, count: int) -> list[str]:
    values = elements(request, "TEXT_HINT")
    if values is None:
        return [""] * count
    if len(values) != count:
        raise RequestError("INVALID_INPUT", f"TEXT_HINT has {len(values)} elements but IMAGES has {count}")
    return [text(v, "TEXT_HINT") for v in values]


def images(request) -> list[Image.Image]:
    """Every IMAGES element opened (headers only: format, size, pixel limit), at least one."""
    data = elements(request, "IMAGES")
    if not data:
        raise RequestError("MISSING_INPUT", "IMAGES needs at least one encoded image")
    return [open_image(d, i) for i, d in enumerate(data)]


def parse_config(raw: str | None, prompt: str | None) -> dict[str, Any]:
    config: Any = {}
    if raw and raw.strip():
        try:
            config = json.loads(raw)
        except json.JSONDecodeError as e:
            raise RequestError("INVALID_CONFIG", f"CONFIG is not valid JSON ({e})") from None
    if not isinstance(config, dict):
        raise RequestError("INVALID_CONFIG", f"CONFIG must be a JSON object, got {type(config).__name__}")

    def check(key: str, ok: bool, expected: str) -> None:
        if config.get(key) is not None and not ok:
            raise RequestError("INVALID_CONFIG", f"{key} must be {expected}, got {config[key]!r}")

    value = config.get
    check("prompt", isinstance(value("prompt"), str), "a string")
    check("json_schema", isinstance(value("json_schema"), dict), "a JSON object")
    max_tokens = value("max_tokens")
    check("max_tokens", type(max_tokens) is int and max_tokens > 0, "a positive integer")
    temperature = value("temperature")
    check("temperature", isinstance(temperature, int | float) and not isinstance(temperature, bool)
          and temperature >= 0, "a number >= 0")
    check("detail", value("detail") in DETAIL_VALUES, f"one of {', '.join(DETAIL_VALUES)}")
    for flag in ("confidence", "grounding"):
        check(flag, isinstance(value(flag), bool), "true or false")
    if prompt:  # the PROMPT input wins over CONFIG.prompt
        config["prompt"] = prompt
    return config


def open_image(data: Any, index: int) -> Image.Image:
    """Read the header only (cheap): format, size and the pixel limit."""
    if not isinstance(data, bytes) or not data:
        raise RequestError("INVALID_IMAGE", f"element {index} is empty")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise RequestError("INVALID_IMAGE", f"element {index} is too large ({e})") from None
        except Image.UnidentifiedImageError:
            raise RequestError("INVALID_IMAGE", f"element {index} is not a decodable image (unknown format)") from None
        except Exception as e:  # noqa: BLE001 - PIL raises many types for garbage input
            raise RequestError("INVALID_IMAGE", f"element {index} is not a decodable image ({e})") from None


def load_rgb(img: Image.Image, index: int) -> Image.Image:
    """Decode fully, apply the EXIF orientation and convert to RGB."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img.load()
            img = ImageOps.exif_transpose(img)
            if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
                # Transparent pixels often hide black RGB values: flatten onto white like a viewer would.
                rgba = img.convert("RGBA")
                return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
            return img.convert("RGB")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise RequestError("INVALID_IMAGE", f"element {index} is too large ({e})") from None
        except Exception as e:  # noqa: BLE001 - truncated or corrupt pixel data
            raise RequestError("INVALID_IMAGE", f"element {index} is not a decodable image ({e})") from None


def response(body: dict[str, Any]) -> pb_utils.InferenceResponse:
    payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return pb_utils.InferenceResponse(
        output_tensors=[pb_utils.Tensor("RESPONSE", _object_array(payload))])


def send_error(sender, message: str, code: int) -> None:
    try:
        sender.send(pb_utils.InferenceResponse(error=pb_utils.TritonError(message, code)), flags=FINAL)
    except Exception as e:  # noqa: BLE001 - e.g. the stream is already gone; nothing left to tell
        pb_utils.Logger.log_warn(f"could not send error {message!r}: {e!r}")


def parameters(args: dict[str, str]) -> dict[str, str]:
    """The model's config.pbtxt parameters as plain strings."""
    config = json.loads(args["model_config"])
    return {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}


def _object_array(payload: bytes):
    import numpy as np

    return np.array([payload], dtype=np.object_)
