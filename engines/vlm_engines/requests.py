"""Reading the service's request tensors inside a python-backend model (the page models), and answering.
Only importable inside Triton's python backend (triton_python_backend_utils comes with the stub); the
Triton-free readers and RequestError are vlm_engines.inputs."""

from __future__ import annotations

import json
from typing import Any

import triton_python_backend_utils as pb_utils
from PIL import Image

from vlm_engines.inputs import RequestError, load_rgb, one, open_image, text

__all__ = ["FINAL", "RequestError", "elements", "images", "load_rgb", "one_string", "parameters", "parse_config",
           "response", "send_error", "text_hints"]

FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL  # a plain constant, defined at import
DETAIL_VALUES = ("auto", "lo", "hi")


def elements(request, name: str) -> list | None:
    """The tensor's elements, flattened (a leading batch dimension of 1 disappears), or None if absent."""
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return None if tensor is None else list(tensor.as_numpy().reshape(-1))


def one_string(request, name: str, required: bool = False) -> str | None:
    value = one(elements(request, name), name)
    if value is None and required:
        raise RequestError("MISSING_INPUT", f"{name} is required")
    return value


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


def response(body: dict[str, Any]) -> pb_utils.InferenceResponse:
    payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return pb_utils.InferenceResponse(
        output_tensors=[pb_utils.Tensor("RESPONSE", _object_array(payload))])


def send_error(sender, message: str, code: str) -> None:
    """A request's last message: its error (code: a pb_utils.TritonError attribute name, e.g. INVALID_ARG)."""
    error = pb_utils.TritonError(message, getattr(pb_utils.TritonError, code, pb_utils.TritonError.INTERNAL))
    try:
        sender.send(pb_utils.InferenceResponse(error=error), flags=FINAL)
    except Exception as e:  # noqa: BLE001 - e.g. the stream is already gone; nothing left to tell
        pb_utils.Logger.log_warn(f"could not send error {message!r}: {e!r}")


def parameters(args: dict[str, str]) -> dict[str, str]:
    """The model's config.pbtxt parameters as plain strings."""
    config = json.loads(args["model_config"])
    return {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}


def _object_array(payload: bytes):
    import numpy as np

    return np.array([payload], dtype=np.object_)
