"""Amounts and currencies as printed: `$1,234.56`, `1.234,56 €`, `USD 1,000`, `(50.00)`, `-12.5%`."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from price_parser import Price

from .text import fix_digits

SYMBOLS = {"$": "USD", "US$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "₩": "KRW", "₽": "RUB",
           "₺": "TRY", "₪": "ILS", "₫": "VND", "฿": "THB", "₱": "PHP", "₦": "NGN", "R$": "BRL", "C$": "CAD",
           "CA$": "CAD", "A$": "AUD", "AU$": "AUD", "NZ$": "NZD", "HK$": "HKD", "S$": "SGD", "MX$": "MXN",
           "Fr.": "CHF", "kr": "SEK", "zł": "PLN", "Kč": "CZK", "Rs": "INR", "Rs.": "INR", "RM": "MYR"}
CODES = frozenset(("USD EUR GBP JPY CNY INR CAD AUD NZD CHF SEK NOK DKK PLN CZK HUF RON BGN HRK RUB TRY ILS "
                   "BRL MXN ARS CLP COP PEN ZAR NGN KES EGP AED SAR QAR KWD HKD SGD MYR THB IDR PHP VND KRW "
                   "TWD PKR BDT LKR").split())
_WORDS = {"dollar": "USD", "dollars": "USD", "euro": "EUR", "euros": "EUR", "pound": "GBP", "pounds": "GBP",
          "rupee": "INR", "rupees": "INR", "yen": "JPY"}
_CODE = re.compile(r"\b[A-Z]{3}\b")
# Where the number starts: an optional sign or opening parenthesis, then an optional currency before it.
_NUMBER = re.compile(r"\d{1,3}(?:[ \u00a0'.,]\d{3})+(?!\d)(?:[.,]\d+)?|\d+(?:[.,]\d+)?")
_LEAD = re.compile(r"^\s*(?P<sign>[-−–(]?)\s*(?P<cur>[A-Za-z$€£¥₹₩₽₺₪₫฿₱₦.]{0,4})\s*(?P<sign2>[-−–]?)\s*$")


def currency_code(text: str) -> str | None:
    """The ISO code of the currency printed in `text` ($ -> USD, € -> EUR, `EUR` -> EUR), or None."""
    for code in _CODE.findall(text.upper() if len(text) <= 4 else text):
        if code in CODES:
            return code
    for symbol in sorted(SYMBOLS, key=len, reverse=True):
        if symbol in text and (symbol.isascii() is False or symbol in ("$", "US$") or
                               re.search(r"(?<![A-Za-z])" + re.escape(symbol) + r"(?![A-Za-z])", text)):
            return SYMBOLS[symbol]
    for word, code in _WORDS.items():
        if re.search(rf"\b{word}\b", text, re.IGNORECASE):
            return code
    return None


def parse_amount(text: str, decimal_comma: bool | None = None) -> tuple[float, str | None] | None:
    """(amount, currency code) of a value that starts with its number (a currency or sign may come first):
    `$1,234.56` and `1.234,56 €` read; `INV-001` or `Net 30` do not."""
    text = fix_digits(text.strip())
    m = _NUMBER.search(text)
    if m is None:
        return None
    lead = _LEAD.match(text[:m.start()])
    if lead is None or not _is_currency(lead.group("cur")):
        return None
    token = m.group(0)
    if text[m.end():].lstrip().startswith("%"):  # a rate, not an amount
        return None
    negative = bool(lead.group("sign") or lead.group("sign2")) or text[m.end():].lstrip().startswith(("-", "CR"))
    value = _decimal(token, decimal_comma)
    if value is None:
        return None
    amount = float(-value if negative else value)
    return amount, currency_code(text[:m.start()] + " " + text[m.end():m.end() + 6])


def _is_currency(text: str) -> bool:
    return not text or text in SYMBOLS or text.rstrip(".") in SYMBOLS or text.upper() in CODES


# Thousands groups and two decimals where OCR read one separator as the other (`8.725.42`, `8,725,42`): the last
# separator before two digits is the decimal one.
_MIXED = re.compile(r"(\d{1,3}(?:[.,]\d{3})+)[.,](\d{2})")


def _decimal(token: str, decimal_comma: bool | None) -> Decimal | None:
    token = token.replace("\u00a0", " ")
    if (m := _MIXED.fullmatch(token)) and len(set(re.findall(r"[.,]", token))) == 1:
        return Decimal(re.sub(r"[.,]", "", m.group(1)) + "." + m.group(2))
    if decimal_comma is None:
        separator = None
    else:
        separator = "," if decimal_comma else "."
    # price-parser tells "1.234,56" from "1,234.56"; a lone "1,234" it reads by the page's habit when given one.
    price = Price.fromstring(token, decimal_separator=separator if _ambiguous(token) else None)
    if price.amount is None:
        return None
    try:
        return Decimal(price.amount)
    except InvalidOperation:
        return None


def _ambiguous(token: str) -> bool:
    """One separator followed by exactly three digits: thousands or decimals depends on the page."""
    return bool(re.fullmatch(r"\d{1,3}[.,]\d{3}", token))


def parse_percentage(text: str) -> float | None:
    m = re.search(r"(?P<n>\d+(?:[.,]\d+)?)\s*%", fix_digits(text))
    return float(m.group("n").replace(",", ".")) if m else None
