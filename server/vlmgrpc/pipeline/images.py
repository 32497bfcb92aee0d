"""Image checks. CPU work: call through an executor, never on the event loop."""

from __future__ import annotations

import io
import warnings

from PIL import Image

from vlmgrpc.errors import invalid


def check_image(data: bytes, max_pixels: int, field_path: str) -> tuple[int, int]:
    """Decode the image fully (truncation shows only then) and return its size.

    The pixel count is checked from the header first, so a decompression bomb is refused
    before any pixel is decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise invalid("IMAGE_TOO_LARGE", f"the image is {width}x{height} pixels; at most "
                                  f"{max_pixels} pixels are accepted", field_path,
                                  width=str(width), height=str(height))
                img.load()
                return width, height
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise invalid("IMAGE_TOO_LARGE", f"the image is too large to decode: {exc}", field_path) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise invalid("INVALID_IMAGE", f"the bytes are not a decodable image: {exc}", field_path) from None
