"""Dates and times as printed (`03/15/2024`, `15.03.2024`, `March 15, 2024`, `2024-03-15 14:32`), to ISO.

Common forms are read by the patterns here (fast); anything else goes to dateparser. A date must have a day,
a month and a year: `March 2024` is no date (never guess the day)."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter

from .text import fix_digits

MONTHS = {name: i + 1 for i, names in enumerate((
    "january jan", "february feb", "march mar", "april apr", "may", "june jun", "july jul", "august aug",
    "september sep sept", "october oct", "november nov", "december dec")) for name in names.split()}
_MONTH = r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_ISO = re.compile(r"(?<!\d)(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})(?!\d)")
_NUMERIC = re.compile(r"(?<![\d.])(?P<a>\d{1,2})\s?[/.\-]\s?(?P<b>\d{1,2})\s?[/.\-]\s?(?P<y>\d{4}|\d{2})(?![\d])")
_DAY_MONTH = re.compile(r"(?<!\d)(?P<d>\d{1,2})(?:st|nd|rd|th)?[\s\-./]*" + _MONTH
                        + r"[\s\-.,/]*(?P<y>\d{4}|'?\d{2})\b", re.IGNORECASE)
_MONTH_DAY = re.compile(r"\b" + _MONTH + r"[\s\-.]*(?P<d>\d{1,2})(?:st|nd|rd|th)?,?[\s\-./]*(?P<y>\d{4})\b",
                        re.IGNORECASE)
_TIME = re.compile(r"(?<!\d)(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?\s*(?P<ampm>[ap]\.?m\.?)?(?![\d])",
                   re.IGNORECASE)
_RANGE_SPLIT = re.compile(r"\s+(?:-|–|—|to|through|thru|until|bis|au)\s+|\s*[–—]\s*", re.IGNORECASE)

# A day-first date order is the default where the page says so: a first part > 12, dotted dates, € or £.
DMY, MDY = "DMY", "MDY"


def date_order(texts: list[str]) -> str:
    """DMY or MDY for the document: from numeric dates that can only be read one way, then from hints."""
    votes: Counter[str] = Counter()
    for text in texts:
        for m in _NUMERIC.finditer(text):
            a, b = int(m.group("a")), int(m.group("b"))
            if a > 12 >= b:
                votes[DMY] += 3
            elif b > 12 >= a:
                votes[MDY] += 3
            elif "." in m.group(0):
                votes[DMY] += 1
        if "€" in text or "£" in text:
            votes[DMY] += 1
    return DMY if votes[DMY] > votes[MDY] else MDY


def _year(text: str) -> int:
    year = int(text.lstrip("'"))
    return year + (2000 if year < 70 else 1900) if year < 100 else year


def _make(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def _found_date(text: str, order: str) -> tuple[dt.date, int, int] | None:
    """The first date in `text` with its span, by the patterns."""
    found: list[tuple[int, int, dt.date]] = []
    if m := _ISO.search(text):
        if day := _make(int(m.group("y")), int(m.group("m")), int(m.group("d"))):
            found.append((m.start(), m.end(), day))
    if m := _NUMERIC.search(text):
        a, b, y = int(m.group("a")), int(m.group("b")), _year(m.group("y"))
        day_first = order == DMY if a <= 12 and b <= 12 else a > 12
        if day := (_make(y, b, a) if day_first else _make(y, a, b)):
            found.append((m.start(), m.end(), day))
    for pattern in (_DAY_MONTH, _MONTH_DAY):
        if m := pattern.search(text):
            if day := _make(_year(m.group("y")), MONTHS[m.group("month").lower().rstrip(".")], int(m.group("d"))):
                found.append((m.start(), m.end(), day))
    if not found:
        return None
    start, end, day = min(found, key=lambda f: f[0])
    return day, start, end


def _dateparser(text: str, order: str) -> dt.datetime | None:
    # Numeric dates are the patterns' job: dateparser only sees a word (a month in another language) and a year.
    if len(text) > 40 or not re.search(r"[^\W\d_]{3,}", text) or not re.search(r"\d{4}|'\d{2}", text):
        return None
    import dateparser  # imported on first use: it takes ~70 ms
    settings = {"DATE_ORDER": order, "REQUIRE_PARTS": ["day", "month", "year"], "PREFER_DAY_OF_MONTH": "first",
                "RETURN_AS_TIMEZONE_AWARE": False}
    try:
        return dateparser.parse(text, languages=["en", "de", "fr", "es", "it", "nl", "pt"], settings=settings)
    except (ValueError, OverflowError, TypeError):  # dateparser raises on odd input instead of returning None
        return None


def parse_date(text: str, order: str = MDY, fast: bool = False) -> dt.date | None:
    """The first date in `text`; `fast`: by the patterns only."""
    text = fix_digits(text)
    if found := _found_date(text, order):
        return found[0]
    parsed = None if fast else _dateparser(text, order)
    return parsed.date() if parsed else None


def parse_datetime(text: str, order: str = MDY) -> dt.datetime | None:
    """A date with the time printed next to it (midnight where no time is printed)."""
    text = fix_digits(text)
    found = _found_date(text, order)
    if found is None:
        return _dateparser(text, order)
    day, start, end = found
    rest = text[:start] + " " + text[end:]
    clock = _TIME.search(rest)
    if not clock:
        return dt.datetime(day.year, day.month, day.day)
    hour, minute, second = int(clock.group("h")), int(clock.group("mi")), int(clock.group("s") or 0)
    ampm = (clock.group("ampm") or "").lower().replace(".", "")
    if ampm == "pm" and hour < 12:
        hour += 12
    elif ampm == "am" and hour == 12:
        hour = 0
    if hour > 23 or minute > 59 or second > 59:
        return dt.datetime(day.year, day.month, day.day)
    return dt.datetime(day.year, day.month, day.day, hour, minute, second)


def parse_date_range(text: str, order: str = MDY) -> tuple[dt.date | None, dt.date | None]:
    """`01/03/2024 - 31/03/2024`, `Mar 1 - Mar 31, 2024`, `March 1 to 31, 2024`: (start, end)."""
    parts = [p for p in _RANGE_SPLIT.split(fix_digits(text), maxsplit=1) if p.strip()]
    if len(parts) != 2:
        return None, None
    end = parse_date(parts[1], order)
    start = parse_date(parts[0], order)
    if start is None and end is not None:  # the year (and maybe the month) printed once, after the end date
        if m := re.fullmatch(r"\s*" + _MONTH + r"\s*(?P<d>\d{1,2})\s*", parts[0], re.IGNORECASE):
            start = _make(end.year, MONTHS[m.group("month").lower().rstrip(".")], int(m.group("d")))
        elif m := re.fullmatch(r"\s*(?P<d>\d{1,2})\s*", parts[0]):
            start = _make(end.year, end.month, int(m.group("d")))
        if start is not None and start > end:
            start = _make(start.year - 1, start.month, start.day)
    return start, end
