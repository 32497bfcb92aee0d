"""AIP-158 page sizes and tokens (jobs/paging.py)."""

from __future__ import annotations

import base64
import json
import re

import pytest

from vlmgrpc.errors import Code, ServiceError
from vlmgrpc.jobs import paging
from vlmgrpc.jobs.records import Cursor

CURSOR = Cursor("2025-03-01T12:00:00.250000+00:00", "pred-0123")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("requested,expected", [(0, paging.DEFAULT_PAGE_SIZE), (1, 1), (50, 50), (999, 999),
                                                (paging.MAX_PAGE_SIZE, paging.MAX_PAGE_SIZE),
                                                (paging.MAX_PAGE_SIZE + 1, paging.MAX_PAGE_SIZE),
                                                (10**9, paging.MAX_PAGE_SIZE)])
def test_page_size(requested, expected):
    assert paging.page_size(requested) == expected


def test_page_size_defaults():
    assert paging.DEFAULT_PAGE_SIZE == 50
    assert paging.MAX_PAGE_SIZE == 1000


@pytest.mark.parametrize("requested", [-1, -1000])
def test_negative_page_size(requested):
    with pytest.raises(ServiceError) as info:
        paging.page_size(requested)
    assert info.value.code is Code.INVALID_ARGUMENT
    assert info.value.reason == "INVALID_PAGE_SIZE"
    assert [f for f, _ in info.value.violations] == ["page_size"]


def test_token_round_trip():
    token = paging.encode(CURSOR, "running|image.caption")
    assert paging.decode(token, "running|image.caption") == CURSOR


def test_token_is_url_safe_and_unpadded():
    for ident in ("a", "ab", "abc", "pred-" + "x" * 37, "ü/?+="):
        token = paging.encode(Cursor(CURSOR.created_at, ident), "|")
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token), token
        assert paging.decode(token, "|") == Cursor(CURSOR.created_at, ident)


def test_empty_token_is_the_first_page():
    assert paging.decode("", "anything") is None


@pytest.mark.parametrize("issued_for,used_for", [
    ("|", "running|"),
    ("running|", "completed|"),
    ("|image.caption", "|document.ocr"),
    ("files", "|"),
    ("|", "files"),
])
def test_token_from_other_filters_is_rejected(issued_for, used_for):
    token = paging.encode(CURSOR, issued_for)
    with pytest.raises(ServiceError) as info:
        paging.decode(token, used_for)
    assert info.value.code is Code.INVALID_ARGUMENT
    assert info.value.reason == "INVALID_PAGE_TOKEN"
    assert [f for f, _ in info.value.violations] == ["page_token"]


@pytest.mark.parametrize("token", [
    "garbage",
    "!!!!",
    "é",
    "a",
    _b64(b"not json"),
    _b64(b"\xff\xfe\x00"),
    _b64(b"123"),
    _b64(b"null"),
    _b64(b"[1, 2]"),
    _b64(b"[1, 2, 3, 4]"),
    _b64(json.dumps(["2025-01-01", "id", "wrongkey00000"]).encode()),
], ids=["word", "bangs", "non-ascii", "one-char", "not-json", "not-utf8", "number", "null", "two-items",
        "four-items", "wrong-key"])
def test_garbage_token_is_rejected(token):
    with pytest.raises(ServiceError) as info:
        paging.decode(token, "|")
    assert info.value.code is Code.INVALID_ARGUMENT
    assert info.value.reason == "INVALID_PAGE_TOKEN"


def test_tampered_token_is_rejected():
    token = paging.encode(CURSOR, "|")
    tampered = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    with pytest.raises(ServiceError):
        paging.decode(tampered, "|")
