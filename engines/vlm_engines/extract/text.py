"""Text normalisation shared by label matching and value parsing."""

from __future__ import annotations

import re
from functools import lru_cache

# Characters OCR confuses with one another, folded to one form on both sides of a label comparison
# ("lnvoice N0." and "Invoice No." fold to the same text).
_OCR_FOLD = str.maketrans({"0": "o", "1": "l", "i": "l", "|": "l", "!": "l", "_": " "})
_NUMBER_SIGN = re.compile(r"#|\bn[º°o]\b\.?|\bnº|\bn°")
_NOT_WORD = re.compile(r"[^\w\s]+")
_QUALIFIER = re.compile(r"\([^)]*\)")  # `Tax (8%)`, `Amount (USD)`, `Pain level (0-10)`: the label is before it

# OCR reads digits as look-alike letters inside numbers and dates ("O1/O2/2O24", "1,234.5O").
_DIGIT_FIXES = str.maketrans({"O": "0", "o": "0", "D": "0", "l": "1", "I": "1", "|": "1", "S": "5", "B": "8"})
_DIGITISH_TOKEN = re.compile(r"[\dOoDlIS|B.,/:\-]+")

BULLETS = "•·*-–—▪◦●○■□✓✔>"
EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
URL = re.compile(r"(?:https?://|www\.)[^\s,;]+|\b[\w\-]+(?:\.[\w\-]+)*\.(?:com|org|net|io|co|de|fr|uk|eu|gov|edu|info|biz)"
                 r"(?:/[^\s,;]*)?\b", re.IGNORECASE)
PHONE = re.compile(r"\+?\(?\d{1,4}\)?(?:[\s.\-]?\(?\d{1,4}\)?){1,5}")
_DATE_LIKE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{2,4}")


@lru_cache(maxsize=8192)
def fold(text: str) -> str:
    """Lower-cased words without punctuation, OCR look-alikes folded: the form labels are compared in."""
    out = _NUMBER_SIGN.sub(" no ", _QUALIFIER.sub(" ", text).lower())
    out = _NOT_WORD.sub(" ", out).translate(_OCR_FOLD).replace("rn", "m")
    return " ".join(out.split())


def words_of(name: str) -> str:
    """`invoice_issue_date` -> `invoice issue date`."""
    return " ".join(re.sub(r"([a-z])([A-Z])", r"\1 \2", name).replace("_", " ").replace("-", " ").lower().split())


def fix_digits(text: str) -> str:
    """Letters that OCR put in place of digits, turned back, inside tokens that are mostly digits."""

    def fix(match: re.Match[str]) -> str:
        token = match.group(0)
        digits = sum(ch.isdigit() for ch in token)
        return token.translate(_DIGIT_FIXES) if digits and digits * 2 >= sum(ch.isalnum() for ch in token) else token

    return _DIGITISH_TOKEN.sub(fix, text)


def strip_value(text: str) -> str:
    """A value without the separators around it (`: INV-001 .` -> `INV-001`); a minus sign stays (`-$98.10`)."""
    out = text.strip()
    while out and (out[0] in ":#=.,;|" or (out[0] in "-–—" and (len(out) == 1 or out[1] == " "))):
        out = out[1:].lstrip()
    return out.rstrip(":;,|").strip()


def strip_bullet(text: str) -> str:
    return text.lstrip(BULLETS + " \t").strip()


def has_letters(text: str, least: int = 1) -> bool:
    return sum(ch.isalpha() for ch in text) >= least


def find_phone(text: str) -> str | None:
    """A phone number in `text` (7 to 15 digits), not a date or an amount."""
    for m in PHONE.finditer(text):
        found = m.group(0).strip()
        digits = sum(ch.isdigit() for ch in found)
        if 7 <= digits <= 15 and not _DATE_LIKE.fullmatch(found):
            return found
    return None


def find_url(text: str, containing: str = "") -> str | None:
    """A web address in `text` (not the domain of an email address), one with `containing` in it if given."""
    emails = [m.span() for m in EMAIL.finditer(text)]
    for m in URL.finditer(text):
        if any(a <= m.start() < b for a, b in emails):
            continue
        if containing in m.group(0).lower():
            return m.group(0).rstrip(".")
    return None
