"""Image checks. CPU work: call through an executor, never on the event loop."""

from __future__ import annotations

import io

from PIL import Image

from vlmgrpc.errors import invalid

# Pillow's bomb limit (about 89 Mpx) stays a ceiling over max_image_pixels, but it is enforced here, from
# the header: Pillow only warns below twice its limit, and making that an error needs
# warnings.catch_warnings, which is not thread-safe (these checks run in worker threads side by side).
PIXEL_CEILING = Image.MAX_IMAGE_PIXELS or 89_478_485
Image.MAX_IMAGE_PIXELS = None


def check_image(data: bytes, max_pixels: int, field_path: str) -> tuple[int, int]:
    """Decode the image fully (truncation shows only then) and return its size.

    The pixel count is checked from the header first, so a decompression bomb is refused
    before any pixel is decoded."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            limit = min(max_pixels, PIXEL_CEILING)
            if width * height > limit:
                raise invalid("IMAGE_TOO_LARGE", f"the image is {width}x{height} pixels; at most "
                              f"{limit} pixels are accepted", field_path,
                              width=str(width), height=str(height))
            img.load()
            return width, height
    except (OSError, SyntaxError, ValueError) as exc:
        raise invalid("INVALID_IMAGE", f"the bytes are not a decodable image: {exc}", field_path) from None
