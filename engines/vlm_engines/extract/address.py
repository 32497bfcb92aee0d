"""Postal addresses from the lines of a block: street, city, state, postal code, country.

Read only what the lines show in a known shape (`Springfield, IL 62704`, `10115 Berlin`, `London SW1A 1AA`);
a block with no line in such a shape gives nothing but a street-looking line."""

from __future__ import annotations

import re

from . import us_states

_US = re.compile(r"^(?P<city>[A-Za-z][A-Za-z .'\-]*?)[,\s]+(?P<state>[A-Z]{2}|[A-Z][a-z]+(?: [A-Z][a-z]+)?)\.?,?\s+"
                 r"(?P<postal_code>\d{5}(?:-\d{4})?)(?:[,\s]+(?P<country>[A-Za-z .]+))?$")
_CANADA = re.compile(r"^(?P<city>[A-Za-z][A-Za-z .'\-]*?)[,\s]+(?P<state>[A-Z]{2})\s+"
                     r"(?P<postal_code>[A-Z]\d[A-Z]\s?\d[A-Z]\d)(?:[,\s]+(?P<country>[A-Za-z .]+))?$")
_POSTAL_FIRST = re.compile(r"^(?:(?P<prefix>[A-Z]{1,2})-)?"
                           r"(?P<postal_code>\d{4}\s?[A-Z]{2}(?=\s)|\d{4,5}|\d{2}-\d{3})\s+"  # 1016 DV, 10115, 00-950
                           r"(?P<city>[^\d,]+?)(?:,\s*(?P<country>[A-Za-z .]+))?$")
_UK = re.compile(r"^(?P<city>[A-Za-z][A-Za-z .'\-]*?),?\s+(?P<postal_code>[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2})"
                 r"(?:,?\s+(?P<country>[A-Za-z .]+))?$")
# An Irish Eircode: a routing key (`D02`, `T12`, `D6W`) and a unique identifier (`X285`).
_IRELAND = re.compile(r"^(?P<city>[A-Za-z][A-Za-z .'\-]*?),?\s+(?P<postal_code>(?:[AC-FHKNPRTV-Y]\d{2}|D6W)\s?"
                      r"[0-9AC-FHKNPRTV-Y]{4})(?:,?\s+(?P<country>[A-Za-z .]+))?$")
_CITY_SHAPES = (_US, _CANADA, _UK, _IRELAND, _POSTAL_FIRST)
_STREET_WORDS = re.compile(
    r"\b(?:st|street|ave|avenue|rd|road|blvd|boulevard|ln|lane|dr|drive|way|ct|court|pl|place|sq|square|hwy|"
    r"highway|pkwy|parkway|ter|terrace|cir|circle|suite|ste|unit|apt|floor|fl|po box|p\.o\. box|strasse|straße|"
    r"str|rue|via|calle|weg|platz|gasse|laan|straat)\b\.?", re.IGNORECASE)
COUNTRIES = frozenset({
    "usa", "us", "u.s.a.", "united states", "united states of america", "canada", "mexico", "uk", "u.k.",
    "united kingdom", "england", "scotland", "wales", "ireland", "germany", "deutschland", "france", "spain",
    "italy", "netherlands", "belgium", "switzerland", "austria", "portugal", "poland", "sweden", "norway",
    "denmark", "finland", "czech republic", "hungary", "greece", "turkey", "india", "china", "japan",
    "australia", "new zealand", "singapore", "brazil", "argentina", "south africa", "israel",
    "united arab emirates", "uae", "españa", "italia", "nederland", "schweiz", "österreich"})


def looks_like_street(text: str) -> bool:
    return bool(re.match(r"^\s*\d+[A-Za-z]?\b", text) and re.search(r"[A-Za-z]{2,}", text)) or bool(
        _STREET_WORDS.search(text) and re.search(r"\d", text))


def is_country(text: str) -> bool:
    return text.strip().strip(".,").lower() in COUNTRIES


def city_line(text: str) -> dict[str, str] | None:
    """City, state, postal code (and country) of a line shaped like one, or None."""
    text = " ".join(text.strip().rstrip(".,").split())
    for shape in _CITY_SHAPES:
        m = shape.match(text)
        if not m:
            continue
        parts = {k: v.strip().strip(",") for k, v in m.groupdict().items() if v and k != "prefix"}
        if shape is _US and len(parts.get("state", "")) > 2:
            code = us_states.code(parts["state"])
            if code is None:
                continue
        if "country" in parts and not is_country(parts["country"]):
            continue
        if shape is _POSTAL_FIRST and _STREET_WORDS.search(parts["city"]):  # `1600 Main St` is a street
            continue
        return parts
    return None


def parse_address(texts: list[str]) -> dict[str, tuple[str, list[int]]]:
    """Address part -> (text, indices of the lines it came from), from the lines of a block in order."""
    out: dict[str, tuple[str, list[int]]] = {}
    for i, text in enumerate(texts):
        parts = city_line(text) or _split_one_line(text)
        if parts is None:
            continue
        street_lines = _street_above(texts, i)
        if "street" in parts:  # street, city and state on one line
            out["street"] = (parts.pop("street"), [i])
        elif street_lines:
            out["street"] = (", ".join(texts[j].strip() for j in street_lines), street_lines)
        for key, value in parts.items():
            out[key] = (value, [i])
        if "country" not in out and i + 1 < len(texts) and is_country(texts[i + 1]):
            out["country"] = (texts[i + 1].strip().strip(".,"), [i + 1])
        return out
    for i, text in enumerate(texts):  # no city line: a street is still a street
        if looks_like_street(text):
            return {"street": (text.strip(), [i])}
    return out


def _street_above(texts: list[str], city_index: int) -> list[int]:
    """The one or two lines just above a city line that hold the street (a name line above them is not)."""
    above = list(range(max(city_index - 2, 0), city_index))
    streets = [j for j in above if looks_like_street(texts[j])]
    if not streets:
        return [city_index - 1] if city_index >= 1 and _could_be_street(texts[city_index - 1]) else []
    first = streets[0]
    return list(range(first, city_index))


def _could_be_street(text: str) -> bool:
    return bool(re.search(r"\d", text)) and not re.search(r"@|www\.|https?://|\bphone\b|\btel\b", text, re.I)


def _split_one_line(text: str) -> dict[str, str] | None:
    """`123 Main St, Springfield, IL 62704`: the street, then a city line after one of the commas."""
    pieces = [p.strip() for p in text.split(",")]
    for cut in range(1, len(pieces)):
        street, rest = ", ".join(pieces[:cut]), ", ".join(pieces[cut:])
        parts = city_line(rest)
        if parts and looks_like_street(street):
            return {"street": street, **parts}
    return None
