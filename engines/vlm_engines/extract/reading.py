"""What a label's text (or block of lines) gives each kind of target: a value, a list, an address, a party."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..page import Line
from .address import city_line, is_country, looks_like_street, parse_address
from .dates import parse_date, parse_date_range
from .evidence import Found
from .labels import ADDRESS_PARTS, Target
from .money import parse_amount
from .schema import Node
from .text import BULLETS, has_letters, strip_bullet, strip_value
from .values import ReadContext, parse_value


@dataclass
class Read:
    value: Any
    used: list[int]  # which of the texts it was read from
    parts: dict[str, list[int]] = field(default_factory=dict)  # an address's parts -> their texts


def found_of(read: Read, page: int, lines: list[Line], score: float) -> Found:
    """The evidence of a block's reading: `lines` are the lines of the texts it was read from, in order."""
    found = Found(read.value, page, [lines[k] for k in read.used], score)
    found.parts = {name: Found(read.value[name], page, [lines[k] for k in ks], score)
                   for name, ks in read.parts.items()}
    return found


def read_value(target: Target, text: str, part: int | None, ctx: ReadContext) -> tuple[Any, Any] | None:
    """(value, the other end of a range or None), or None where `text` does not read as the field's type."""
    if part is None:
        value = parse_value(text, target.name, target.node, ctx)
        return None if value is None else (value, None)
    start, end = parse_date_range(strip_value(text), ctx.date_order)
    if start is None or end is None:
        return None
    as_text = [day.isoformat() + ("T00:00:00" if target.node.fmt == "date-time" else "") for day in (start, end)]
    return (as_text[0], as_text[1]) if part == 0 else (as_text[1], as_text[0])


def read_list(target: Target, texts: list[str], ctx: ReadContext) -> Read | None:
    """`Symptoms: cough, fever` or bullet lines under the label."""
    item = target.node.items or Node("string")
    if texts and texts[0].strip() and not texts[0].lstrip().startswith(tuple(BULLETS)):
        pieces, used = [p for p in re.split(r"[,;]\s*", texts[0]) if p.strip()], [0]
    else:
        pieces, used = [], []
        for k, text in enumerate(texts):
            if not text.strip():
                continue
            if not text.lstrip().startswith(tuple(BULLETS)) and pieces:
                break
            pieces.append(strip_bullet(text))
            used.append(k)
    values = [v for v in (parse_value(p, target.name, item, ctx) for p in pieces) if v is not None]
    return Read(values, used) if values else None


def read_address(target: Target, texts: list[str], ctx: ReadContext) -> Read | None:
    found = parse_address(texts)
    if not found:
        return None
    names = _part_names(target.node)
    value: dict[str, Any] = {}
    parts: dict[str, list[int]] = {}
    for part, (text, indices) in found.items():
        for name in names.get(part, ()):
            parsed = parse_value(text, name, target.node.properties[name], ctx)
            if parsed is not None:
                value[name], parts[name] = parsed, indices
    if not value:
        return None
    used = sorted({i for indices in parts.values() for i in indices})
    return Read(value, used, parts)


def _part_names(node: Node) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name in node.properties:
        part = ADDRESS_PARTS.get(name)
        if part:
            out.setdefault(part, []).append(name)
    return out


def read_party(target: Target, texts: list[str], ctx: ReadContext) -> Read | None:
    """The lines of a `Bill To:` block: a name first, then address, email, phone lines."""
    kept = [k for k, text in enumerate(texts) if strip_value(text)]
    first = strip_value(texts[kept[0]]) if kept else ""
    if not has_letters(first, 2) or parse_date(first, fast=True) or parse_amount(first):  # `From: May 1, 2025`
        return None
    return Read([strip_value(texts[k]) for k in kept], kept)


def is_name_line(text: str) -> bool:
    """A party's name, not a line of its address or contacts."""
    return (has_letters(text, 2) and not looks_like_street(text) and city_line(text) is None and not is_country(text)
            and not re.search(r"@|www\.|https?://|\d{3}.?\d{3}.?\d{4}", text))
