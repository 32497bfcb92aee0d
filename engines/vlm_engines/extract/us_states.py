"""US states and territories: names to their two-letter postal codes."""

from __future__ import annotations

import re

NAMES = {
    "alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA", "colorado": "CO",
    "connecticut": "CT", "delaware": "DE", "district of columbia": "DC", "florida": "FL", "georgia": "GA",
    "hawaii": "HI", "idaho": "ID", "illinois": "IL", "indiana": "IN", "iowa": "IA", "kansas": "KS",
    "kentucky": "KY", "louisiana": "LA", "maine": "ME", "maryland": "MD", "massachusetts": "MA", "michigan": "MI",
    "minnesota": "MN", "mississippi": "MS", "missouri": "MO", "montana": "MT", "nebraska": "NE", "nevada": "NV",
    "new hampshire": "NH", "new jersey": "NJ", "new mexico": "NM", "new york": "NY", "north carolina": "NC",
    "north dakota": "ND", "ohio": "OH", "oklahoma": "OK", "oregon": "OR", "pennsylvania": "PA",
    "rhode island": "RI", "south carolina": "SC", "south dakota": "SD", "tennessee": "TN", "texas": "TX",
    "utah": "UT", "vermont": "VT", "virginia": "VA", "washington": "WA", "west virginia": "WV",
    "wisconsin": "WI", "wyoming": "WY", "puerto rico": "PR", "guam": "GU",
}
CODES = frozenset(NAMES.values())
_BY_LENGTH = sorted(NAMES, key=len, reverse=True)  # "west virginia" before "virginia"


def code(text: str) -> str | None:
    """The two-letter code of the state `text` is or names (`CA`, `California`, `State of California`)."""
    stripped = text.strip().strip(".,")
    if stripped.upper() in CODES and len(stripped) == 2:
        return stripped.upper()
    return named(text)


def named(text: str) -> str | None:
    """The code of a state whose full name appears in `text`."""
    lowered = " ".join(re.sub(r"[^a-z ]", " ", text.lower()).split())
    for name in _BY_LENGTH:
        if re.search(rf"\b{name}\b", lowered):
            return NAMES[name]
    return None
