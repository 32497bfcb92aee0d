"""Text read next to a label, parsed by the type of the field it fills. A value that does not parse is None."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rapidfuzz import fuzz

from . import us_states
from .dates import MDY, parse_date, parse_datetime
from .money import currency_code, parse_amount, parse_percentage
from .schema import Node
from .text import EMAIL, find_phone, find_url, fix_digits, fold, has_letters, strip_value

_TRUE = {"yes", "y", "true", "t", "x", "✓", "✔", "☑", "☒", "checked", "si", "ja", "oui"}
_FALSE = {"no", "n", "false", "f", "☐", "unchecked", "none", "nein", "non"}
_ENUM_MIN_SCORE = 85


@dataclass(frozen=True)
class ReadContext:
    """What a value's reading depends on beyond its text: the page's habits."""

    date_order: str = MDY
    decimal_comma: bool | None = None


_DATE_ONLY = re.compile(r"\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2})|\d{4}-\d{2}-\d{2}")
SITES = ("linkedin", "github", "gitlab", "twitter", "scholar.google")


def site_of(name: str) -> str:
    """The site a link field is named after (`linkedin`), or ""."""
    return next((site for site in SITES if site.split(".")[0] in name), "")


def semantic(name: str, node: Node) -> str:
    """What a field holds beyond its JSON type, from its name, format and description."""
    return _semantic(name, node.kind, node.fmt, node.description)


@lru_cache(maxsize=4096)
def _semantic(name: str, kind: str, fmt: str | None, description: str) -> str:
    node = Node(kind, fmt=fmt, description=description)
    words = set(name.lower().split("_"))
    text = f"{name} {node.description}".lower()
    if node.kind == "string":
        if node.fmt == "email" or "email" in words or "emails" in words or "email_addresses" in name:
            return "email"
        if node.fmt in ("uri", "url") or words & {"url", "website", "websites", "link", "linkedin", "github"}:
            return "url"
        if node.fmt == "date-time":
            return "datetime"
        if node.fmt == "date" or words & {"date", "dob"} or name.endswith("_birth"):
            return "date"
        if words & {"phone", "fax", "telephone", "mobile", "phones"} or name == "phone_numbers":
            return "phone"
        if "currency" in words:
            return "currency"
        if "last_4" in name or "last4" in name:
            return "last4"
        if "two-letter" in text and "state" in text:
            return "state_code"
        if words & {"id", "number", "no", "num"} and not words & {"name", "type"}:
            return "identifier"
    if node.kind in ("number", "integer") and ("percentage" in words or "percent" in words or "rate" in words
                                              and "tax" in words):
        return "percent"
    return node.kind


def parse_value(text: str, name: str, node: Node, ctx: ReadContext) -> Any:
    """The value of field `name` read from `text`, or None (also where it breaks the schema's limits)."""
    value = _parse(strip_value(text), name, node, ctx)
    if isinstance(value, str) and ((node.max_length is not None and len(value) > node.max_length) or (
            node.pattern is not None and not re.search(node.pattern, value))):
        return None
    return value


def _parse(text: str, name: str, node: Node, ctx: ReadContext) -> Any:
    if not text:
        return None
    if node.enum:
        return parse_enum(text, node.enum)
    kind = semantic(name, node)
    if kind in ("number", "integer", "percent"):
        return _number(text, node, kind, ctx)
    if kind == "boolean":
        return parse_bool(text)
    if kind == "date":
        day = parse_date(text, ctx.date_order)
        if day is None:
            return None if node.fmt == "date" else text  # a plain string field keeps what it cannot read as a date
        return day.isoformat()
    if kind == "datetime":
        moment = parse_datetime(text, ctx.date_order)
        return moment.isoformat() if moment else None
    if kind == "email":
        m = EMAIL.search(text.replace(" @ ", "@"))
        return m.group(0) if m else None
    if kind == "url":
        url = find_url(text, site_of(name))
        if url is None:
            return None
        return url if "://" in url or node.fmt not in ("uri", "url") else "https://" + url
    if kind == "phone":
        return find_phone(text)
    if kind == "currency":
        return currency_code(text) or (None if "code" in node.description.lower() else text)
    if kind == "last4":
        m = re.search(r"(\d{4})\D*$", fix_digits(text))
        return m.group(1) if m else None
    if kind == "state_code":
        return us_states.code(text)
    if kind == "identifier":
        # An invoice number, account number or ID has a digit: "Invoice payment ORION LTD" is not one.
        # Nor is an amount ("3,738.92") printed after the word "invoice".
        # Nor a date ("Receipt  03/15/2024").
        first = text.split()[0] if text.split() else ""
        amount = re.fullmatch(r"[-+]?[$€£]?\d{1,3}([.,\s]\d{3})*[.,]\d{2}", first)
        dated = _DATE_ONLY.fullmatch(first)
        return text if any(ch.isdigit() for ch in first) and not amount and not dated else None
    if node.kind == "string":
        return text if len(text) >= max(node.min_length, 1) else None
    return None


def _number(text: str, node: Node, kind: str, ctx: ReadContext) -> float | int | None:
    value: float | None
    if kind == "percent":
        value = parse_percentage(text)
        if value is None:  # a rate printed without `%` (`Tax rate: 8.25`); an amount of money is none
            amount = parse_amount(text, ctx.decimal_comma)
            value = amount[0] if amount and amount[1] is None and 0 <= amount[0] <= 100 else None
    else:
        amount = parse_amount(text, ctx.decimal_comma)
        value = amount[0] if amount else None
    if value is None:
        return None
    if node.kind == "integer":
        if value != int(value):
            return None
        value = int(value)
    if (node.minimum is not None and value < node.minimum) or (node.maximum is not None and value > node.maximum):
        return None
    return value


def parse_bool(text: str) -> bool | None:
    word = fold(text).split(" ")[0] if fold(text) else text.strip()
    if word in _TRUE or text.strip() in _TRUE:
        return True
    if word in _FALSE or text.strip() in _FALSE:
        return False
    return None


def parse_enum(text: str, members: tuple[Any, ...]) -> Any:
    """The member `text` names: exactly, by fuzzy match, or by its initial (`M` for `male`, `Male` for `M`)."""
    strings = [m for m in members if isinstance(m, str)]
    folded = fold(text)
    first_word = folded.split(" ")[0] if folded else ""
    for member in strings:
        if fold(member) in (folded, first_word):
            return member
    scored = [(fuzz.ratio(fold(member), folded), member) for member in strings]
    best = max(scored, default=(0, None))
    if best[0] >= _ENUM_MIN_SCORE and sum(1 for s, _ in scored if s == best[0]) == 1:
        return best[1]
    if len(first_word) == 1:  # `M` for `male`
        matches = [m for m in strings if fold(m).startswith(first_word)]
        if len(matches) == 1:
            return matches[0]
    if first_word and all(len(m) == 1 for m in strings):  # `Male` for `M`
        matches = [m for m in strings if fold(m) == first_word[0]]
        if len(matches) == 1 and has_letters(first_word, 3):
            return matches[0]
    for member in members:  # numbers and booleans as printed
        if not isinstance(member, str) and str(member).lower() == text.strip().lower():
            return member
    return None
