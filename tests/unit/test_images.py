"""Image checks (pipeline/images.py) on real encoded images."""

from __future__ import annotations

import io
import random
import struct
import zlib

import pytest
from PIL import Image

from vlmgrpc.errors import Code, ServiceError
from vlmgrpc.pipeline.images import check_image

FIELD = "images[0]"


def _encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def _noise(size: tuple[int, int]) -> Image.Image:
    # Noise does not compress, so cutting the file always cuts pixel data.
    rng = random.Random(1234)
    return Image.frombytes("RGB", size, bytes(rng.getrandbits(8) for _ in range(size[0] * size[1] * 3)))


def _png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height but whose pixel data is a few garbage bytes:
    it can only be refused correctly if the size is checked before any decoding."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 8))
            + chunk(b"IEND", b""))


def _fails(data: bytes, max_pixels: int, reason: str) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        check_image(data, max_pixels, FIELD)
    err = info.value
    assert err.code is Code.INVALID_ARGUMENT
    assert err.reason == reason, err
    assert [f for f, _ in err.violations] == [FIELD]
    return err


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP", "TIFF", "BMP"])
def test_valid_image_returns_its_size(fmt):
    data = _encode(Image.new("RGB", (123, 45), "white"), fmt)
    assert check_image(data, 10_000_000, FIELD) == (123, 45)


def test_valid_rgba_and_grayscale_png():
    assert check_image(_encode(Image.new("RGBA", (3, 5)), "PNG"), 100, FIELD) == (3, 5)
    assert check_image(_encode(Image.new("L", (5, 3)), "PNG"), 100, FIELD) == (5, 3)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_image_is_invalid(fmt, keep):
    data = _encode(_noise((160, 120)), fmt)
    assert check_image(data, 10_000_000, FIELD) == (160, 120)  # whole, it is fine
    err = _fails(data[: int(len(data) * keep)], 10_000_000, "INVALID_IMAGE")
    assert "not a decodable image" in err.message


def test_truncated_inside_the_header_is_invalid():
    data = _encode(Image.new("RGB", (10, 10)), "PNG")
    _fails(data[:20], 10_000_000, "INVALID_IMAGE")


@pytest.mark.parametrize("data", [b"", b"not an image at all", b"%PDF-1.7\n" + b"0" * 100,
                                  b"\x89PNG\r\n\x1a\n" + b"\x00" * 40],
                         ids=["empty", "text", "pdf", "png-signature-only"])
def test_non_image_bytes_are_invalid(data):
    _fails(data, 10_000_000, "INVALID_IMAGE")


def test_corrupt_png_crc_is_invalid():
    data = bytearray(_encode(Image.new("RGB", (10, 10), "red"), "PNG"))
    data[29] ^= 0xFF  # inside the IHDR CRC
    _fails(bytes(data), 10_000_000, "INVALID_IMAGE")


def test_more_pixels_than_the_limit():
    data = _encode(Image.new("RGB", (40, 30)), "PNG")
    err = _fails(data, 40 * 30 - 1, "IMAGE_TOO_LARGE")
    assert err.metadata == {"width": "40", "height": "30"}
    assert "40x30" in err.message


def test_exactly_the_limit_passes():
    data = _encode(Image.new("RGB", (40, 30)), "PNG")
    assert check_image(data, 40 * 30, FIELD) == (40, 30)


def test_size_is_checked_before_decoding():
    # The pixel data is truncated: decoding would say INVALID_IMAGE. The size check comes first.
    data = _encode(_noise((100, 100)), "PNG")[:400]
    err = _fails(data, 5_000, "IMAGE_TOO_LARGE")
    assert err.metadata == {"width": "100", "height": "100"}


def test_declared_size_over_the_limit_is_refused_without_decoding():
    data = _png_declaring(8000, 8000)
    assert len(data) < 100
    err = _fails(data, 50_000_000, "IMAGE_TOO_LARGE")
    assert err.metadata == {"width": "8000", "height": "8000"}


def test_declared_size_within_the_limit_then_fails_to_decode():
    # The same kind of file, small enough: now it is decoded, and its garbage data is refused.
    _fails(_png_declaring(100, 100), 50_000_000, "INVALID_IMAGE")


def test_decompression_bomb_beyond_pillows_own_limit():
    # 40000 x 40000 is past Pillow's MAX_IMAGE_PIXELS even when the caller's limit is higher:
    # Pillow's DecompressionBombError/Warning also becomes IMAGE_TOO_LARGE.
    _fails(_png_declaring(40_000, 40_000), 10**12, "IMAGE_TOO_LARGE")
    _fails(_png_declaring(10_000, 10_000), 10**12, "IMAGE_TOO_LARGE")
