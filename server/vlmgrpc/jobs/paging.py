"""AIP-158 page tokens: opaque to callers, bound to the listing's filter."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json

from vlmgrpc.errors import invalid
from vlmgrpc.jobs.records import Cursor

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


def page_size(requested: int) -> int:
    if requested < 0:
        raise invalid("INVALID_PAGE_SIZE", "page_size must not be negative", "page_size")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _filter_key(filters: str) -> str:
    return hashlib.sha256(filters.encode()).hexdigest()[:12]


def encode(cursor: Cursor, filters: str) -> str:
    raw = json.dumps([cursor.created_at, cursor.id, _filter_key(filters)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str, filters: str) -> Cursor | None:
    if not token:
        return None
    try:
        created_at, ident, key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error, TypeError):
        raise invalid("INVALID_PAGE_TOKEN", "page_token is not a token this service issued", "page_token") from None
    if key != _filter_key(filters):
        raise invalid("INVALID_PAGE_TOKEN", "page_token belongs to a listing with other filters", "page_token")
    return Cursor(created_at, ident)
