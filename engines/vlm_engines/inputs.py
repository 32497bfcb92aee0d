"""Request inputs every engine model reads the same way, and its errors. Triton-free (testable alone).

Errors carry a stable REASON token (the message starts with "REASON: ") and the name of a
pb_utils.TritonError code: on a gRPC stream the code is lost, the reason survives and the service maps it
back (server/vlmgrpc/inference/gateway.py).
"""

from __future__ import annotations

import io
import warnings
from typing import Any

from PIL import Image, ImageOps


class RequestError(Exception):
    def __init__(self, reason: str, message: str, code: str = "INVALID_ARG") -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.code = code  # attribute name on pb_utils.TritonError


def text(value: Any, name: str) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as e:
            raise RequestError("INVALID_INPUT", f"{name} is not UTF-8 ({e})") from None
    return str(value)


def one(values: list | None, name: str) -> str | None:
    """The single element of an optional [1] string input (None when absent)."""
    if not values:
        return None
    if len(values) != 1:
        raise RequestError("INVALID_INPUT", f"{name} must have exactly one element, got {len(values)}")
    return text(values[0], name)


def open_image(data: Any, index: int) -> Image.Image:
    """Read the header only (cheap): format, size and the pixel limit (Image.MAX_IMAGE_PIXELS)."""
    if not isinstance(data, bytes) or not data:
        raise RequestError("INVALID_IMAGE", f"element {index} is empty")
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that: make every bomb an error.
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
    """Decode fully, apply the EXIF orientation and convert to RGB (transparency flattened onto white)."""
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


def decode_image(data: Any, index: int) -> Image.Image:
    """Encoded bytes -> RGB image."""
    return load_rgb(open_image(data, index), index)
