"""What bytes are, from their content (never from the caller's claim): the first bytes, and for Office documents
their container's directory (pipeline/office.py)."""

from __future__ import annotations

from vlmgrpc.pipeline import office

PDF = "application/pdf"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/tiff", "image/bmp")
OFFICE_TYPES = office.TYPES  # converted to PDF when accepted (document inputs only)


def media_type(data: bytes) -> str:
    head = data[:16]
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[:2] == b"BM":
        return "image/bmp"
    # A ZIP or a compound file: only its directory tells a docx from any ZIP. From the first bytes alone (an
    # upload's head) a compound file is application/x-ole-storage and a ZIP octet-stream until inspected whole.
    return office.sniff(data) or "application/octet-stream"


def is_image(kind: str) -> bool:
    return kind in IMAGE_TYPES
