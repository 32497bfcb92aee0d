"""Triton python backend model `vlm` (decoupled): one JSON RESPONSE per input image. See ../../README.md."""

import io
import json
import time
import warnings
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils
from engines import ENGINES
from PIL import Image, ImageOps

FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000
DETAIL_VALUES = ("auto", "lo", "hi")


class RequestError(Exception):
    """A per-request failure; `reason` is the stable token that starts the message the client sees."""

    def __init__(self, reason: str, message: str, code: int) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.code = code


def _invalid(reason: str, message: str) -> RequestError:
    return RequestError(reason, message, pb_utils.TritonError.INVALID_ARG)


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        params = {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}
        name = params.get("engine", "ocr")
        if name not in ENGINES:
            raise ValueError(f"unknown engine {name!r}; known engines: {', '.join(ENGINES)}")
        engine_cls = ENGINES[name]
        domains = tuple(d.strip() for d in params.get("domains", "").split(",") if d.strip())
        # The service learns what is served from this parameter, so it must match the engine exactly.
        if set(domains) != set(engine_cls.DOMAINS):
            raise ValueError(
                f"parameter domains={','.join(domains)!r} disagrees with engine {name!r}, "
                f"which serves {','.join(engine_cls.DOMAINS)!r}"
            )
        Image.MAX_IMAGE_PIXELS = int(params.get("max_image_pixels") or DEFAULT_MAX_IMAGE_PIXELS)
        self.engine_name = name
        self.domains = domains
        started = time.monotonic()
        self.engine = engine_cls(params)
        pb_utils.Logger.log_info(
            f"vlm: engine {name!r} loaded in {time.monotonic() - started:.2f}s, domains {','.join(domains)}"
        )

    def execute(self, requests: list) -> None:
        # Requests are served one after another: a single CPU instance gains nothing from overlapping them.
        for request in requests:
            sender = request.get_response_sender()
            try:
                self._serve(request, sender)
            except RequestError as e:
                self._send_error(sender, str(e), e.code)
            except Exception as e:  # noqa: BLE001 - anything escaping execute() would become a bare INTERNAL
                pb_utils.Logger.log_error(f"vlm: engine error: {e!r}")
                self._send_error(sender, f"ENGINE_ERROR: {type(e).__name__}: {e}", pb_utils.TritonError.INTERNAL)

    def _serve(self, request, sender) -> None:
        domain = _one_string(request, "DOMAIN", required=True)
        if domain not in self.domains:
            raise RequestError(
                "DOMAIN_NOT_SERVED",
                f"domain {domain!r} is not served by engine {self.engine_name!r}; it serves {', '.join(self.domains)}",
                pb_utils.TritonError.UNSUPPORTED,
            )
        images = _elements(request, "IMAGES")
        if images is None or len(images) == 0:
            raise RequestError(
                "MISSING_INPUT", "IMAGES needs at least one encoded image", pb_utils.TritonError.INVALID_ARG
            )
        config = _parse_config(_one_string(request, "CONFIG"), _one_string(request, "PROMPT"))
        hints = _text_hints(request, len(images))
        # Reject unreadable headers and oversized images before spending engine time on earlier pages.
        opened = [_open_image(data, i) for i, data in enumerate(images)]

        for i, img in enumerate(opened):
            if request.is_cancelled():
                pb_utils.Logger.log_info(f"vlm: request cancelled after {i} of {len(opened)} images")
                raise RequestError(
                    "CANCELLED",
                    f"request cancelled after {i} of {len(opened)} images",
                    pb_utils.TritonError.CANCELLED,
                )
            page = _load_rgb(img, i)
            result = self.engine.run(page, domain, config, hints[i])
            body = {"index": i, "width": page.width, "height": page.height, "result": result}
            payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
            response = pb_utils.InferenceResponse(
                output_tensors=[pb_utils.Tensor("RESPONSE", np.array([payload], dtype=np.object_))]
            )
            # FINAL rides on the last data response: aio clients never see a flags-only final.
            sender.send(response, flags=FINAL if i == len(opened) - 1 else 0)

    @staticmethod
    def _send_error(sender, message: str, code: int) -> None:
        try:
            sender.send(pb_utils.InferenceResponse(error=pb_utils.TritonError(message, code)), flags=FINAL)
        except Exception as e:  # noqa: BLE001 - e.g. the stream is already gone; nothing left to tell
            pb_utils.Logger.log_warn(f"vlm: could not send error {message!r}: {e!r}")

    def finalize(self) -> None:
        self.engine = None


def _elements(request, name: str) -> list | None:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return None if tensor is None else list(tensor.as_numpy().reshape(-1))


def _text(value: Any, name: str) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as e:
            raise _invalid("INVALID_INPUT", f"{name} is not UTF-8 ({e})") from None
    return str(value)


def _one_string(request, name: str, required: bool = False) -> str | None:
    values = _elements(request, name)
    if not values:
        if required:
            raise _invalid("MISSING_INPUT", f"{name} is required")
        return None
    if len(values) != 1:
        raise _invalid("INVALID_INPUT", f"{name} must have exactly one element, got {len(values)}")
    return _text(values[0], name)


def _text_hints(request, count: int) -> list[str]:
    values = _elements(request, "TEXT_HINT")
    if values is None:
        return [""] * count
    if len(values) != count:
        raise _invalid("INVALID_INPUT", f"TEXT_HINT has {len(values)} elements but IMAGES has {count}")
    return [_text(v, "TEXT_HINT") for v in values]


def _parse_config(raw: str | None, prompt: str | None) -> dict[str, Any]:
    config: Any = {}
    if raw and raw.strip():
        try:
            config = json.loads(raw)
        except json.JSONDecodeError as e:
            raise _invalid("INVALID_CONFIG", f"CONFIG is not valid JSON ({e})") from None
    if not isinstance(config, dict):
        raise _invalid("INVALID_CONFIG", f"CONFIG must be a JSON object, got {type(config).__name__}")

    def check(key: str, ok: bool, expected: str) -> None:
        if config.get(key) is not None and not ok:
            raise _invalid("INVALID_CONFIG", f"{key} must be {expected}, got {config[key]!r}")

    value = config.get
    check("prompt", isinstance(value("prompt"), str), "a string")
    check("json_schema", isinstance(value("json_schema"), dict), "a JSON object")
    max_tokens = value("max_tokens")
    check("max_tokens", type(max_tokens) is int and max_tokens > 0, "a positive integer")
    temperature = value("temperature")
    check(
        "temperature",
        isinstance(temperature, int | float) and not isinstance(temperature, bool) and temperature >= 0,
        "a number >= 0",
    )
    check("detail", value("detail") in DETAIL_VALUES, f"one of {', '.join(DETAIL_VALUES)}")
    for flag in ("confidence", "grounding"):
        check(flag, isinstance(value(flag), bool), "true or false")
    if prompt:  # the PROMPT input wins over CONFIG.prompt
        config["prompt"] = prompt
    return config


def _open_image(data: Any, index: int) -> Image.Image:
    """Read the header only (cheap): format, size and the pixel limit."""
    if not isinstance(data, bytes) or not data:
        raise _invalid("INVALID_IMAGE", f"element {index} is empty")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise _invalid("INVALID_IMAGE", f"element {index} is too large ({e})") from None
        except Image.UnidentifiedImageError:
            raise _invalid("INVALID_IMAGE", f"element {index} is not a decodable image (unknown format)") from None
        except Exception as e:  # noqa: BLE001 - PIL raises many types for garbage input
            raise _invalid("INVALID_IMAGE", f"element {index} is not a decodable image ({e})") from None


def _load_rgb(img: Image.Image, index: int) -> Image.Image:
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
            raise _invalid("INVALID_IMAGE", f"element {index} is too large ({e})") from None
        except Exception as e:  # noqa: BLE001 - truncated or corrupt pixel data
            raise _invalid("INVALID_IMAGE", f"element {index} is not a decodable image ({e})") from None
