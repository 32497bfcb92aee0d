"""Generated business documents with known truth: invoices, receipts and bank statements.

`generate(kind, seed)` lets the seed choose a layout (header left or right, one or two address columns, label
wordings, date and number formats, currency, font, bordered or borderless tables, terms in two columns),
builds a born-digital A4 PDF with pymupdf, and keeps what it printed:

- `words`: every word printed, per page, in reading order (columns one after the other);
- `tables`: per page, per table, rows x cells of text as printed, header row first (a table that runs onto the
  next page is two tables there, each with the header row, which is printed again);
- `fields`: what the service domain of the kind (`document.invoice`, `document.receipt`,
  `document.bank-statement`) should answer, under that domain's schema field names; dates as ISO strings,
  amounts as floats. Only what the document prints is there.

`pages` are the PNG renderings at 150 dpi (1240 x 1754 px); `scanned=True` adds scan noise (blur, grey paper,
gaussian noise, a skew of at most 1 degree, JPEG artefacts) and `rotation` turns them clockwise. `scanned_pdf`
is the noisy scan as a PDF of JPEG page images, with no text layer.

    python -m vlm_engines.testing.documents invoice 3 /tmp/invoice-3   # writes .pdf, .png, .json
"""

from __future__ import annotations

import calendar
import datetime as dt
import io
import json
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pymupdf
from PIL import Image, ImageFilter

KINDS = ("invoice", "receipt", "bank-statement")
DPI = 150
# A4, in points chosen so that 150 dpi gives exactly 1240 x 1754 px (595 x 842 would give 1755 rows).
PAGE_W, PAGE_H = 595.2, 841.92
MARGIN = 50.0
BOTTOM = PAGE_H - 60.0  # the footer ("Page 1 of 2") lives below this
ROTATIONS = (0, 90, 180, 270)

# --- fonts: the Base-14 families (their font files, embedded, so that € prints) and DejaVu when installed

BASE14 = {"helv": "hebo", "tiro": "tibo", "cour": "cobo"}
TTF_DIR = Path("/usr/share/fonts/truetype/dejavu")
TTF = {"dejavu-sans": ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
       "dejavu-serif": ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf")}
FAMILIES = (*BASE14, *TTF)


def installed(family: str) -> str:
    """The family itself, or Helvetica for a DejaVu family that is not installed."""
    if family in TTF and not all((TTF_DIR / name).exists() for name in TTF[family]):
        return "helv"
    return family


@cache
def font_files(family: str) -> tuple[bytes, bytes]:
    """(regular, bold) font file bytes."""
    if family in TTF:
        regular, bold = (TTF_DIR / name for name in TTF[family])
        return regular.read_bytes(), bold.read_bytes()
    return pymupdf.Font(family).buffer, pymupdf.Font(BASE14[family]).buffer


# --- locales: currency, number and date formats, addresses

MONTHS = list(calendar.month_name)[1:]
DATE_FORMATS: dict[str, Callable[[dt.date], str]] = {
    "iso": lambda d: d.isoformat(),
    "dmy-slash": lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}",
    "dmy-dot": lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    "long": lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
}


@dataclass(frozen=True)
class Address:
    street: str
    city: str
    postal_code: str
    country: str
    state: str | None = None
    style: str = "us"  # how the city line is written: us, uk (city code), eu (code city)

    def lines(self) -> list[str]:
        city = {"us": f"{self.city}, {self.state} {self.postal_code}", "uk": f"{self.city} {self.postal_code}",
                "eu": f"{self.postal_code} {self.city}"}[self.style]
        return [self.street, city, self.country]

    def invoice_fields(self) -> dict[str, str]:
        out = {"street": self.street, "city": self.city, "postal_code": self.postal_code, "country": self.country}
        return out | ({"state": self.state} if self.state else {})

    def statement_fields(self) -> dict[str, str]:  # the bank-statement schema's Address has zip_code, no country
        out = {"street": self.street, "city": self.city, "zip_code": self.postal_code}
        return out | ({"state": self.state} if self.state else {})


# country: (address style, country name, street pattern, street names, cities with (state,) code, phone pattern)
COUNTRIES: dict[str, tuple[str, str, str, list[str], list[tuple[str, ...]], str]] = {
    "US": ("us", "USA", "{n} {name}", ["Market Street", "Oak Avenue", "Maple Drive", "Lincoln Blvd", "Cedar Road"],
           [("San Francisco", "CA", "94103"), ("Austin", "TX", "78701"), ("Chicago", "IL", "60601"),
            ("Boston", "MA", "02108"), ("Denver", "CO", "80202"), ("Seattle", "WA", "98101")],
           "+1 ({a}) 555-{b:04d}"),
    "UK": ("uk", "United Kingdom", "{n} {name}", ["High Street", "Station Road", "Mill Lane", "Foundry Road"],
           [("Sheffield", "S1 2AB"), ("Manchester", "M1 4BT"), ("Leeds", "LS1 5DL"), ("Bristol", "BS1 6QF")],
           "+44 {a} 496 {b:04d}"),
    "DE": ("eu", "Germany", "{name} {n}", ["Hauptstraße", "Bahnhofstraße", "Gartenweg", "Lindenallee"],
           [("Berlin", "10115"), ("München", "80331"), ("Hamburg", "20095"), ("Köln", "50667")],
           "+49 {a} {b:04d}0"),
    "FR": ("eu", "France", "{n} rue {name}", ["de Rivoli", "Victor Hugo", "des Lilas", "Pasteur"],
           [("Paris", "75001"), ("Lyon", "69002"), ("Lille", "59000")], "+33 1 {a} {b:04d}"),
    "NL": ("eu", "Netherlands", "{name} {n}", ["Keizersgracht", "Damrak", "Stationsweg", "Kerkstraat"],
           [("Amsterdam", "1016 DV"), ("Utrecht", "3511 AB"), ("Rotterdam", "3011 AD")], "+31 20 {a} {b:04d}"),
    "IE": ("uk", "Ireland", "{n} {name}", ["Grafton Street", "Harcourt Road", "Dame Street"],
           [("Dublin", "D02 X285"), ("Cork", "T12 K8AF")], "+353 1 {a} {b:04d}"),
}
# currency: (symbol, countries, European number format, date formats)
CURRENCIES = {
    "USD": ("$", ["US"], False, ["iso", "long"]),  # no dd/mm/yyyy: a US reader would take it for mm/dd
    "GBP": ("£", ["UK"], False, ["dmy-slash", "iso", "long"]),
    "EUR": ("€", ["DE", "FR", "NL", "IE"], True, ["dmy-dot", "dmy-slash", "iso", "long"]),
}


@dataclass(frozen=True)
class Locale:
    currency: str
    country: str
    european: bool  # 1.234,56 rather than 1,234.56
    date_format: str

    @property
    def symbol(self) -> str:
        return CURRENCIES[self.currency][0]

    def number(self, value: float, decimals: int = 2) -> str:
        text = f"{value:,.{decimals}f}"
        return text.translate(str.maketrans(",.", ".,")) if self.european else text

    def quantity(self, value: float) -> str:
        return self.number(value, 0 if value == int(value) else 1)

    def money(self, value: float) -> str:
        if self.european:  # 1.234,56 € (de, fr, nl)
            return f"{self.number(value)} {self.symbol}"
        sign = "-" if value < 0 else ""
        return f"{sign}{self.symbol}{self.number(abs(value))}"

    def date(self, day: dt.date) -> str:
        return DATE_FORMATS[self.date_format](day)

    def address(self, rng: random.Random) -> Address:
        style, country, pattern, names, cities, _ = COUNTRIES[self.country]
        city = rng.choice(cities)
        street = pattern.format(n=rng.randint(1, 240), name=rng.choice(names))
        if style == "us":
            return Address(street, city[0], city[2], country, state=city[1], style=style)
        return Address(street, city[0], city[1], country, style=style)

    def phone(self, rng: random.Random) -> str:
        return COUNTRIES[self.country][5].format(a=rng.randint(20, 899), b=rng.randint(100, 9999))


def pick_locale(rng: random.Random) -> Locale:
    currency = rng.choice(list(CURRENCIES))
    _, countries, european, dates = CURRENCIES[currency]
    country = rng.choice(countries)
    return Locale(currency, country, european and country != "IE", rng.choice(dates))


# --- the sheet: a PDF being written, with the truth of what it prints


class Sheet:
    """A PDF being written top-down (`y` is where the next block goes) and the words and tables it printed."""

    def __init__(self, family: str) -> None:
        self.doc = pymupdf.open()
        self.family = family = installed(family)
        regular, bold = font_files(family)
        self.fonts = {"R": pymupdf.Font(fontbuffer=regular), "B": pymupdf.Font(fontbuffer=bold)}
        self._buffers = {"R": regular, "B": bold}
        self.words: list[list[str]] = []
        self.tables: list[list[list[list[str]]]] = []
        self.y = MARGIN
        self.new_page()

    def new_page(self) -> None:
        self.page = self.doc.new_page(width=PAGE_W, height=PAGE_H)
        for name, buffer in self._buffers.items():
            self.page.insert_font(fontname=name, fontbuffer=buffer)
        self.words.append([])
        self.tables.append([])
        self.y = MARGIN

    def room(self, height: float) -> None:
        """A new page unless `height` more points fit above the footer."""
        if self.y + height > BOTTOM:
            self.new_page()

    def width(self, text: str, size: float, bold: bool = False) -> float:
        return self.fonts["B" if bold else "R"].text_length(text, fontsize=size)

    def text(self, x: float, y: float, text: str, size: float = 9.5, bold: bool = False, align: str = "left") -> None:
        """One line at baseline y; align right/center makes x its right edge/centre."""
        width = self.width(text, size, bold)
        x -= {"left": 0.0, "right": 1.0, "center": 0.5}[align] * width
        if x < MARGIN - 1 or x + width > PAGE_W - MARGIN + 1:  # a layout bug, not a document to learn from
            raise ValueError(f"{text!r} runs off the page ({self.family}, {size} pt)")
        self.page.insert_text((x, y), text, fontname="B" if bold else "R", fontsize=size)
        self.words[-1] += text.split()

    def lines(self, x: float, y: float, lines: list[str], size: float = 9.5, align: str = "left",
              bold_first: bool = False) -> float:
        """Lines top-down from baseline y; returns the baseline after the last."""
        for i, line in enumerate(lines):
            self.text(x, y, line, size, bold=bold_first and i == 0, align=align)
            y += size * 1.35
        return y

    def wrap(self, text: str, width: float, size: float) -> list[str]:
        out: list[str] = []
        for word in text.split():
            if out and self.width(f"{out[-1]} {word}", size) <= width:
                out[-1] += f" {word}"
            else:
                out.append(word)
        return out

    def finish(self) -> bytes:
        count = len(self.doc)
        if count > 1:
            for i in range(count):  # "Page i of n" once the count is known; its words belong to page i
                self.doc[i].insert_text((PAGE_W / 2 - 20, PAGE_H - 30), f"Page {i + 1} of {count}",
                                        fontname="R", fontsize=8)
                self.words[i] += ["Page", str(i + 1), "of", str(count)]
        self.doc.subset_fonts()
        data = self.doc.tobytes(garbage=3, deflate=True, no_new_id=True)  # no random /ID: same bytes per seed
        self.doc.close()
        return data


# --- tables


@dataclass(frozen=True)
class TableStyle:
    bordered: bool
    shaded: bool  # a grey header row
    size: float


def table(sheet: Sheet, header: list[str], rows: list[list[str]], right: set[int], style: TableStyle,
          x0: float = MARGIN, x1: float = PAGE_W - MARGIN, stretch: int = 0) -> None:
    """A table from sheet.y down, onto more pages when it must (header printed again). Columns in `right` are
    right-aligned; column `stretch` takes the width left over."""
    size, pad = style.size, 5.0
    while True:  # the font shrinks until the natural widths fit
        natural = [max(sheet.width(r[c], size, bold=r is header) for r in [header, *rows]) + 2 * pad
                   for c in range(len(header))]
        if sum(natural) <= x1 - x0 or size <= 6:
            break
        size -= 0.5
    natural[stretch] += max(0.0, x1 - x0 - sum(natural))
    lefts = [x0 + sum(natural[:c]) for c in range(len(header))]
    row_h = size * 1.9

    def draw(row: list[str], bold: bool) -> None:
        top = sheet.y
        for c, cell in enumerate(row):
            rect = pymupdf.Rect(lefts[c], top, lefts[c] + natural[c], top + row_h)
            if bold and style.shaded:
                sheet.page.draw_rect(rect, color=None, fill=(0.86, 0.86, 0.86), width=0)
            if style.bordered:
                sheet.page.draw_rect(rect, color=(0, 0, 0), width=0.5)
            if cell:
                x = rect.x1 - pad if c in right else rect.x0 + pad
                sheet.text(x, top + (row_h + size * 0.7) / 2, cell, size, bold, "right" if c in right else "left")
        sheet.y += row_h
        if bold and not style.bordered:
            sheet.page.draw_line((x0, sheet.y), (x1, sheet.y), color=(0, 0, 0), width=0.8)

    part = [header]
    sheet.room(3 * row_h)
    draw(header, True)
    for row in rows:
        if sheet.y + row_h > BOTTOM:
            sheet.tables[-1].append(part)
            sheet.new_page()
            part = [header]
            draw(header, True)
        draw(row, False)
        part.append(row)
    sheet.tables[-1].append(part)
    if not style.bordered:
        sheet.page.draw_line((x0, sheet.y), (x1, sheet.y), color=(0, 0, 0), width=0.5)
    sheet.y += 14


def key_values(sheet: Sheet, x: float, y: float, pairs: list[tuple[str, str]], size: float) -> float:
    """A label: value block, values aligned after the longest label; returns the baseline after it."""
    label_w = max(sheet.width(label, size, bold=True) for label, _ in pairs) + 14
    for label, value in pairs:
        sheet.text(x, y, label, size, bold=True)
        sheet.text(x + label_w, y, value, size)
        y += size * 1.45
    return y


TERMS = [
    "Payment is due within the period stated on this invoice.",
    "Late payments accrue interest at 1.5% per month on the outstanding balance.",
    "Goods remain the property of the seller until paid in full.",
    "Claims for damaged or missing goods must be made in writing within 7 days of delivery.",
    "Returns are accepted only with prior written authorisation and may incur a restocking fee.",
    "Prices exclude shipping unless stated otherwise and are subject to change without notice.",
    "The seller is not liable for indirect or consequential losses arising from late delivery.",
    "Any dispute shall be governed by the laws of the country of the seller's registered office.",
    "Warranty claims require proof of purchase and are limited to repair or replacement.",
    "Cancellation of custom orders after production has started is not possible.",
    "Delivery dates are estimates and do not constitute a binding commitment.",
    "Please quote the invoice number with every payment so that it can be allocated correctly.",
    "Bank charges for international transfers are borne by the customer.",
    "These terms apply to every order unless agreed otherwise in writing.",
]


def two_columns(sheet: Sheet, rng: random.Random, size: float) -> None:
    """A 'Terms and Conditions' heading and numbered clauses in two columns: the left column is read first."""
    clauses = rng.sample(TERMS, rng.randint(9, len(TERMS)))
    gutter = 24.0
    col_w = (PAGE_W - 2 * MARGIN - gutter) / 2
    lines: list[str] = []
    for i, clause in enumerate(clauses):
        lines += sheet.wrap(f"{i + 1}. {clause}", col_w, size)
    half = (len(lines) + 1) // 2
    step = size * 1.4
    sheet.room(28 + half * step)
    sheet.text(MARGIN, sheet.y + 12, "Terms and Conditions", size + 3, bold=True)
    top = sheet.y + 32
    for col, chunk in enumerate((lines[:half], lines[half:])):
        sheet.lines(MARGIN + col * (col_w + gutter), top, chunk, size)
    sheet.y = top + half * step


# --- the documents

VENDORS = ["Northwind Traders Ltd", "Contoso Fabrication GmbH", "Globex Logistics Inc.", "Initech Systems LLC",
           "Umbrella Foods plc", "Stark Industrial Supply", "Oceanic Freight Co.", "Acme Tooling S.A.",
           "Blue Harbor Consulting", "Vandelay Imports", "Wayne Components B.V.", "Hooli Cloud Services"]
CUSTOMERS = ["Riverside Dental Clinic", "Maria Gonzalez", "Peak Outdoor Gear", "Johnson & Sons Builders",
             "Lakeside Bakery", "Orion Analytics Ltd", "Emily Carter", "Greenfield Schools Trust",
             "Harper Legal LLP", "Atlas Property Management", "Lukas Becker", "Sophie Martin"]
PRODUCTS = ["Hex bolt M8x40 zinc", "Stainless washer 8 mm", "Bearing 6204-2RS", "Hydraulic hose 1/2 in",
            "Cable ties 300 mm (100 pcs)", "Safety gloves size L", "Drill bit HSS 6.5 mm", "Copper pipe 15 mm",
            "PVC elbow 90 deg 32 mm", "LED panel 600x600 40W", "Circuit breaker C16", "Epoxy adhesive 50 ml",
            "Pallet wrap 500 mm", "Thermal paste 4 g", "Timing belt HTD 8M", "Spring pin 5x30",
            "Office chair ergonomic", "Printer toner black", "A4 paper 80 g (5 reams)", "USB-C docking station"]
VARIANTS = ["", "", " - black", " - white", " (pack of 10)", " (pack of 50)", " - large", " - small"]
SERVICES = ["Consulting hours", "On-site installation", "Software licence (annual)", "Support plan - Gold",
            "Data migration", "Training workshop", "Website maintenance", "Cloud hosting (monthly)"]
INVOICE_IDS = [lambda r: f"INV-{r.randint(2024, 2026)}-{r.randint(1, 99999):05d}",
               lambda r: f"{r.randint(10000, 99999)}", lambda r: f"A-{r.randint(1000, 9999)}",
               lambda r: f"{r.randint(2024, 2026)}/{r.randint(1, 9999):04d}"]
BANKS = ["First Harbor Bank", "Northern Trust Savings", "Banco Solar", "Lloyds Mercantile", "Union Alpine Bank",
         "Meridian Credit Union"]
PEOPLE = ["Rachael Dean", "Thomas Miller", "Anna Schmidt", "James O'Connor", "Claire Dubois", "Pieter de Vries",
          "Olivia Brown", "Marco Rossi", "Hannah Weber", "Daniel Kim"]


def _day(rng: random.Random) -> dt.date:
    return dt.date(2025, 1, 1) + dt.timedelta(days=rng.randint(0, 540))


def _slug(name: str) -> str:
    return "".join(ch for ch in name.split()[0].lower() if ch.isalnum())


def _iban(rng: random.Random, country: str) -> str:
    code = {"UK": "GB", "IE": "IE"}.get(country, country)
    digits = "".join(str(rng.randint(0, 9)) for _ in range(18))
    return f"{code}{rng.randint(10, 99)} " + " ".join(digits[i:i + 4] for i in range(0, 18, 4))


def _items(rng: random.Random, count: int) -> list[dict[str, Any]]:
    services = count <= len(SERVICES) and rng.random() < 0.3  # hours of work: fractional quantities
    pool = SERVICES if services else [f"{name}{variant}" for name in PRODUCTS for variant in VARIANTS]
    out = []
    for name in rng.sample(pool, count):
        quantity = float(rng.choice([0.5, 1.5, 2.5, 4.0, 7.5, 8.0])) if services else float(rng.randint(1, 60))
        unit = rng.randint(150, 250_000 if services else 40_000) / 100
        out.append({"description": name, "quantity": quantity, "unit_price": unit,
                    "total_price": round(quantity * unit, 2)})
    return out


def invoice(rng: random.Random) -> tuple[Sheet, dict[str, Any], dict[str, Any]]:
    loc = pick_locale(rng)
    layout = {"header": rng.choice(["left", "right"]), "addresses": rng.choice([1, 2]),
              "font": rng.choice(FAMILIES), "bordered": rng.random() < 0.5, "long": rng.random() < 0.25,
              "terms": rng.random() < 0.4, "currency": loc.currency, "date_format": loc.date_format,
              "european_numbers": loc.european}
    sheet = Sheet(layout["font"])
    size = rng.choice([9.0, 9.5, 10.0])
    vendor, customer = rng.choice(VENDORS), rng.choice(CUSTOMERS)
    vendor_addr, bill_addr, ship_addr = loc.address(rng), loc.address(rng), loc.address(rng)
    email, phone = f"billing@{_slug(vendor)}.com", loc.phone(rng)
    vat = f"{'GB' if loc.country == 'UK' else loc.country}{rng.randint(100_000_000, 999_999_999)}"
    issued = _day(rng)
    terms_days = rng.choice([14, 30, 45])
    due = issued + dt.timedelta(days=terms_days)
    number = rng.choice(INVOICE_IDS)(rng)
    order = f"PO-{rng.randint(1000, 99999)}" if rng.random() < 0.5 else None
    items = _items(rng, rng.randint(34, 46) if layout["long"] else rng.randint(3, 12))
    subtotal = round(sum(item["total_price"] for item in items), 2)
    rate = {"USD": rng.choice([7.25, 8.0, 8.25]), "GBP": 20.0, "EUR": rng.choice([19.0, 20.0, 21.0])}[loc.currency]
    tax = round(subtotal * rate / 100, 2)
    total = round(subtotal + tax, 2)

    # Header: the vendor on one side, the title and the invoice's numbers on the other.
    vendor_lines = [vendor, *vendor_addr.lines(), phone, email]
    if loc.currency != "USD":
        vendor_lines.append(f"VAT ID: {vat}")
    labels = {"number": rng.choice(["Invoice No.", "Invoice #", "Invoice Number"]),
              "issued": rng.choice(["Invoice Date", "Date", "Issue Date", "Date of Issue"]),
              "due": rng.choice(["Due Date", "Payment Due", "Due"])}
    meta = [(f"{labels['number']}:", number), (f"{labels['issued']}:", loc.date(issued)),
            (f"{labels['due']}:", loc.date(due))]
    if order:
        meta.append(("Order No.:", order))
    title = rng.choice(["INVOICE", "Invoice", "Tax Invoice"])
    right_x = PAGE_W - MARGIN
    if layout["header"] == "left":
        end = sheet.lines(MARGIN, MARGIN + 14, vendor_lines, size, bold_first=True)
        sheet.text(right_x, MARGIN + 16, title, 20, bold=True, align="right")
        end = max(end, key_values(sheet, right_x - 210, MARGIN + 44, meta, size))
    else:
        sheet.text(MARGIN, MARGIN + 16, title, 20, bold=True)
        end = key_values(sheet, MARGIN, MARGIN + 44, meta, size)
        end = max(end, sheet.lines(right_x, MARGIN + 14, vendor_lines, size, align="right", bold_first=True))
    y = end + 18
    sheet.lines(MARGIN, y, ["Bill to:", customer, *bill_addr.lines()], size, bold_first=True)
    if layout["addresses"] == 2:
        sheet.lines(PAGE_W / 2 + 20, y, ["Ship to:", customer, *ship_addr.lines()], size, bold_first=True)
    sheet.y = y + 5 * size * 1.35 + 16

    # Items.
    qty_head = rng.choice(["Qty", "Quantity", "Hours" if items[0]["quantity"] % 1 else "Units"])
    header = ["Description", qty_head, rng.choice(["Unit Price", "Rate", "Price"]),
              rng.choice(["Amount", "Total", "Line Total"])]
    rows = [[it["description"], loc.quantity(it["quantity"]), loc.number(it["unit_price"]),
             loc.number(it["total_price"])] for it in items]
    numbered = rng.random() < 0.4
    if numbered:
        header, rows = ["#", *header], [[str(i + 1), *row] for i, row in enumerate(rows)]
    style = TableStyle(layout["bordered"], rng.random() < 0.5, size - 0.5)
    table(sheet, header, rows, right={len(header) - 3, len(header) - 2, len(header) - 1}, style=style,
          stretch=1 if numbered else 0)

    # Totals, right-aligned under the table.
    tax_label = {"USD": f"Sales Tax ({loc.number(rate, 2).rstrip('0').rstrip('.,')}%)"}.get(
        loc.currency, rng.choice(["VAT", "Tax"]) + f" ({loc.number(rate, 0)}%)")
    total_label = rng.choice(["Total", "Total Due", "Invoice Total", "Grand Total"])
    sheet.room(4 * size * 1.6)
    y = sheet.y + 4
    for label, value, bold in (("Subtotal", subtotal, False), (tax_label, tax, False), (total_label, total, True)):
        sheet.text(right_x - 190, y, f"{label}:", size, bold=bold)
        sheet.text(right_x, y, loc.money(value), size, bold=bold, align="right")
        y += size * 1.6
    sheet.y = y + 10

    # Payment notes.
    payment_terms = f"Net {terms_days} days"
    bank = {"bank_name": rng.choice(BANKS), "iban": _iban(rng, loc.country),
            "swift_bic": f"{rng.choice(['HARB', 'NTSV', 'SOLR', 'MERC'])}{loc.country[:2]}2X"}
    notes = [f"Payment terms: {payment_terms}"]
    if loc.currency != "USD":
        notes.append(f"Bank: {bank['bank_name']}  IBAN: {bank['iban']}  BIC: {bank['swift_bic']}")
    notes.append("Thank you for your business.")
    sheet.room(len(notes) * size * 1.4)
    sheet.y = sheet.lines(MARGIN, sheet.y + 6, notes, size - 0.5)
    if layout["terms"]:
        sheet.y += 10
        two_columns(sheet, rng, size - 1.5)

    fields: dict[str, Any] = {
        "invoice_id": number, "invoice_issue_date": issued.isoformat(), "invoice_due_date": due.isoformat(),
        "issuer_name": vendor, "issuer_address": vendor_addr.invoice_fields(), "issuer_email": email,
        "issuer_phone": phone, "customer_name": customer, "customer_billing_address": bill_addr.invoice_fields(),
        "items": items, "currency": loc.currency, "subtotal": subtotal, "tax_amount": tax, "tax_percentage": rate,
        "total_amount": total, "payment_terms": payment_terms,
    }
    if loc.currency != "USD":
        fields["issuer_vat_id"] = vat
        fields["bank_details"] = bank
    if order:
        fields["order_id"] = order
    if layout["addresses"] == 2:
        fields["customer_shipping_address"] = ship_addr.invoice_fields()
    return sheet, fields, layout


MERCHANTS = ["FreshMart Grocery", "Corner Cafe", "City Hardware", "Bella Napoli Pizzeria", "QuickFuel Station",
             "Green Leaf Pharmacy", "BookNook", "Sunrise Bakery"]
GROCERIES = ["Whole milk 1L", "Sourdough bread", "Free range eggs x6", "Bananas 1kg", "Cheddar 200g",
             "Espresso", "Cappuccino", "Croissant", "Olive oil 500ml", "Pasta 500g", "Tomatoes 1kg", "AA batteries x4",
             "Paint brush 50mm", "Screws 4x40 (100)", "Ibuprofen 200mg", "Notebook A5", "Orange juice 1L",
             "Greek yogurt", "Chocolate bar", "Sparkling water"]
CASHIERS = ["Anna", "Tom", "Priya", "Luis", "Mia", "Jonas"]


def receipt(rng: random.Random) -> tuple[Sheet, dict[str, Any], dict[str, Any]]:
    """A till receipt: a narrow column in the middle of the A4 page, as a scanned slip would be."""
    loc = pick_locale(rng)
    layout = {"font": rng.choice(FAMILIES), "columns": rng.choice([3, 4]), "currency": loc.currency,
              "date_format": loc.date_format, "european_numbers": loc.european}
    sheet = Sheet(layout["font"])
    size = 9.0
    x0, x1 = PAGE_W / 2 - 135, PAGE_W / 2 + 135
    merchant, addr, phone = rng.choice(MERCHANTS), loc.address(rng), loc.phone(rng)
    when = dt.datetime.combine(_day(rng), dt.time(rng.randint(7, 21), rng.randint(0, 59)))
    number, cashier = f"{rng.randint(1, 99):02d}-{rng.randint(1000, 99999)}", rng.choice(CASHIERS)
    items = []
    for name in rng.sample(GROCERIES, rng.randint(3, 12)):
        quantity = float(rng.choice([1, 1, 1, 2, 3]))
        unit = rng.randint(50, 2500) / 100
        items.append({"description": name, "quantity": quantity, "unit_price": unit,
                      "total_price": round(quantity * unit, 2)})
    subtotal = round(sum(item["total_price"] for item in items), 2)
    rate = {"USD": 8.0, "GBP": 20.0, "EUR": 19.0}[loc.currency]
    tax = round(subtotal * rate / 100, 2)
    total = round(subtotal + tax, 2)
    card = rng.choice([("credit card", "Visa"), ("debit card", "Mastercard"), ("cash", None)])
    last4 = f"{rng.randint(0, 9999):04d}"

    centre = PAGE_W / 2
    y = sheet.lines(centre, MARGIN + 20, [merchant], 13, align="center", bold_first=True)
    y = sheet.lines(centre, y + 2, [*addr.lines()[:2], f"Tel: {phone}"], size, align="center")
    meta = [("Receipt:", number), ("Date:", f"{loc.date(when.date())} {when:%H:%M}"), ("Cashier:", cashier)]
    y = key_values(sheet, x0, y + 12, meta, size)
    sheet.y = y
    if layout["columns"] == 4:
        header = ["Item", "Qty", "Price", "Total"]
        rows = [[it["description"], loc.quantity(it["quantity"]), loc.number(it["unit_price"]),
                 loc.number(it["total_price"])] for it in items]
    else:  # no unit price column: the truth has none either
        header = ["Item", "Qty", "Amount"]
        rows = [[it["description"], loc.quantity(it["quantity"]), loc.number(it["total_price"])] for it in items]
        items = [{k: v for k, v in it.items() if k != "unit_price"} for it in items]
    table(sheet, header, rows, right=set(range(1, len(header))), style=TableStyle(False, False, size), x0=x0, x1=x1)
    y = sheet.y
    tax_label = f"{'Sales tax' if loc.currency == 'USD' else 'VAT'} {loc.number(rate, 0)}%"
    for label, value, bold in (("Subtotal", subtotal, False), (tax_label, tax, False), ("TOTAL", total, True)):
        sheet.text(x0, y, label, size + (1 if bold else 0), bold=bold)
        sheet.text(x1, y, loc.money(value), size + (1 if bold else 0), bold=bold, align="right")
        y += size * 1.6
    paid = "Paid: CASH" if card[1] is None else f"Paid: {card[1].upper()} **** {last4}"
    y = sheet.lines(x0, y + 8, [paid], size)
    sheet.lines(centre, y + 14, ["Thank you for shopping with us!"], size, align="center")

    payment: dict[str, Any] = {"type": card[0]}
    if card[1]:
        payment |= {"card_type": card[1], "card_last_4": last4}
    printed_address = {k: v for k, v in addr.invoice_fields().items() if k != "country"}  # the slip has none
    fields = {"receipt_id": number, "transaction_date": when.isoformat(), "merchant_name": merchant,
              "merchant_address": printed_address, "merchant_phone": phone, "cashier_name": cashier,
              "items": items, "subtotal": subtotal, "tax": tax, "total": total, "currency": loc.currency,
              "payment_method": payment}
    return sheet, fields, layout


PAYEES = ["Card purchase TESCO STORES 2231", "Direct debit VODAFONE", "ATM withdrawal HIGH ST", "Standing order RENT",
          "Card purchase SHELL 0412", "Direct debit CITY ENERGY", "Card purchase AMAZON MKTPLACE", "Insurance premium",
          "Transfer to savings", "Card purchase CAFE NERO", "Gym membership", "Water utilities"]
PAYERS = ["Salary ACME CORP", "Refund AMAZON MKTPLACE", "Transfer from savings", "Interest paid", "Cash deposit",
          "Tax refund HMRC", "Invoice payment ORION LTD"]


def bank_statement(rng: random.Random) -> tuple[Sheet, dict[str, Any], dict[str, Any]]:
    loc = pick_locale(rng)
    layout = {"font": rng.choice(FAMILIES), "amounts": rng.choice(["split", "signed"]),
              "bordered": rng.random() < 0.4, "long": rng.random() < 0.3, "currency": loc.currency,
              "date_format": loc.date_format, "european_numbers": loc.european}
    sheet = Sheet(layout["font"])
    size = rng.choice([9.0, 9.5])
    bank, bank_addr = rng.choice(BANKS), loc.address(rng)
    client, client_addr = rng.choice(PEOPLE), loc.address(rng)
    account = (_iban(rng, loc.country) if loc.currency == "EUR"
               else " ".join(str(rng.randint(1000, 9999)) for _ in range(3)))
    account_type = rng.choice(["Checking", "Savings", "Current Account", "Business Checking"])
    first = _day(rng).replace(day=1)
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    issued = last + dt.timedelta(days=rng.randint(1, 4))
    opening = rng.randint(50_000, 900_000) / 100

    balance, transactions, rows = opening, [], []
    days = sorted(first + dt.timedelta(days=rng.randint(0, (last - first).days))
                  for _ in range(rng.randint(44, 58) if layout["long"] else rng.randint(8, 20)))
    for day in days:
        deposit = rng.random() < 0.3
        amount = rng.randint(20_000, 450_000) / 100 if deposit else rng.randint(250, 60_000) / 100
        balance = round(balance + (amount if deposit else -amount), 2)
        description = rng.choice(PAYERS if deposit else PAYEES)
        kind = "deposit" if deposit else "withdrawal"
        transactions.append({f"transaction_{kind}_date": day.isoformat(),
                             f"transaction_{kind}_description": description,
                             f"transaction_{kind}": amount, "ending_daily_balance": balance})
        money = loc.number(amount)
        if layout["amounts"] == "split":
            rows.append([loc.date(day), description, "" if deposit else money, money if deposit else "",
                         loc.number(balance)])
        else:
            rows.append([loc.date(day), description, money if deposit else f"-{money}", loc.number(balance)])
    deposits = round(sum(t.get("transaction_deposit", 0.0) for t in transactions), 2)
    withdrawals = round(sum(t.get("transaction_withdrawal", 0.0) for t in transactions), 2)

    right_x = PAGE_W - MARGIN
    end = sheet.lines(MARGIN, MARGIN + 14, [bank, *bank_addr.lines()], size, bold_first=True)
    sheet.text(right_x, MARGIN + 16, rng.choice(["Account Statement", "Statement of Account", "Bank Statement"]),
               16, bold=True, align="right")
    y = sheet.lines(MARGIN, end + 18, [client, *client_addr.lines()], size, bold_first=True)
    period = [("Statement Period:", f"{loc.date(first)} to {loc.date(last)}")]
    summary_x = PAGE_W / 2 - 30
    if rng.random() < 0.5 or sheet.width(f"Statement Period:  {period[0][1]}", size, True) > right_x - summary_x:
        period = [("From:", loc.date(first)), ("To:", loc.date(last))]
    summary = [("Account Number:", account), ("Account Type:", account_type), *period,
               ("Statement Date:", loc.date(issued))]
    y = max(y, key_values(sheet, summary_x, end + 18, summary, size))
    opening_label = rng.choice(["Opening Balance", "Starting Balance", "Balance brought forward"])
    closing_label = rng.choice(["Closing Balance", "Ending Balance", "Balance carried forward"])
    totals = [(f"{opening_label}:", loc.money(opening)), ("Total Deposits:", loc.money(deposits)),
              ("Total Withdrawals:", loc.money(withdrawals)), (f"{closing_label}:", loc.money(balance))]
    y = key_values(sheet, MARGIN, y + 14, totals, size)
    sheet.y = y + 6
    if layout["amounts"] == "split":
        money_heads = rng.choice([["Withdrawals", "Deposits"], ["Debit", "Credit"], ["Money out", "Money in"]])
        header = ["Date", "Description", *money_heads, "Balance"]
    else:
        header = ["Date", "Description", "Amount", "Balance"]
    table(sheet, header, rows, right=set(range(2, len(header))),
          style=TableStyle(layout["bordered"], rng.random() < 0.5, size - 0.5), stretch=1)

    fields = {"bank_name": bank, "bank_address": bank_addr.statement_fields(), "client_name": client,
              "client_address": client_addr.statement_fields(), "account_number": account,
              "account_type": account_type, "statement_date": issued.isoformat(),
              "statement_start_date": first.isoformat(), "statement_end_date": last.isoformat(),
              "starting_balance": opening, "ending_balance": balance, "total_deposits": deposits,
              "total_withdrawals": withdrawals, "table_item": transactions}
    return sheet, fields, layout


BUILDERS = {"invoice": invoice, "receipt": receipt, "bank-statement": bank_statement}

# --- renderings and scans


def render(pdf: bytes) -> list[Image.Image]:
    with pymupdf.open("pdf", pdf) as doc:
        pixmaps = [page.get_pixmap(matrix=pymupdf.Matrix(DPI / 72, DPI / 72), alpha=False) for page in doc]
    return [Image.frombytes("RGB", (p.width, p.height), p.samples) for p in pixmaps]


def scan(image: Image.Image, rng: np.random.Generator) -> bytes:
    """What a cheap office scanner makes of a printed page: a JPEG, slightly skewed, soft, grey and noisy."""
    image = image.rotate(float(rng.uniform(-1.0, 1.0)), resample=Image.Resampling.BICUBIC, fillcolor="white")
    image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.4, 0.9))))
    pixels = np.asarray(image, dtype=np.float32) * rng.uniform(0.86, 0.94) + rng.uniform(8, 22)
    pixels += rng.normal(0.0, rng.uniform(5, 10), pixels.shape[:2])[..., None]
    out = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(out, format="JPEG",
                                                                  quality=int(rng.integers(45, 70)))
    return out.getvalue()


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=3)  # noisy scans compress badly: level 3 is 3x faster than 6
    return out.getvalue()


@dataclass(eq=False)
class Doc:
    kind: str
    seed: int
    pdf: bytes
    words: list[list[str]]
    tables: list[list[list[list[str]]]]
    fields: dict[str, Any]
    layout: dict[str, Any] = field(default_factory=dict)  # what the seed chose, for reports
    scanned: bool = False
    rotation: int = 0

    @property
    def page_count(self) -> int:
        return len(self.words)

    @cached_property
    def clean_images(self) -> list[Image.Image]:
        """The born-digital renderings, upright and noise-free."""
        return render(self.pdf)

    @cached_property
    def scans(self) -> list[bytes]:
        """Each page turned by `rotation` and scanned (JPEG), the same for a given seed."""
        return [scan(img.rotate(-self.rotation, expand=True), np.random.default_rng([self.seed, i]))
                for i, img in enumerate(self.clean_images)]

    @cached_property
    def images(self) -> list[Image.Image]:
        """The page images the benchmark reads: scans when `scanned`, renderings otherwise; turned by `rotation`."""
        if self.scanned:
            return [Image.open(io.BytesIO(jpeg)).convert("RGB") for jpeg in self.scans]
        return [img.rotate(-self.rotation, expand=True) for img in self.clean_images]

    @cached_property
    def pages(self) -> list[bytes]:
        return [_png(img) for img in self.images]

    @cached_property
    def scanned_pdf(self) -> bytes:
        """The scan as a PDF: one JPEG image per page, no text layer."""
        doc = pymupdf.open()
        for jpeg in self.scans:
            width, height = Image.open(io.BytesIO(jpeg)).size
            page = doc.new_page(width=width * 72 / DPI, height=height * 72 / DPI)
            page.insert_image(page.rect, stream=jpeg)
        data = doc.tobytes(garbage=3, deflate=True, no_new_id=True)
        doc.close()
        return data


def generate(kind: str, seed: int, *, scanned: bool = False, rotation: int = 0) -> Doc:
    if kind not in BUILDERS:
        raise ValueError(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
    if rotation not in ROTATIONS:
        raise ValueError(f"rotation must be one of {ROTATIONS}, not {rotation}")
    rng = random.Random(f"{kind}:{seed}")  # a str seed is hashed with SHA-512: the same on every run
    sheet, fields, layout = BUILDERS[kind](rng)
    words, tables = sheet.words, sheet.tables
    pdf = sheet.finish()
    layout |= {"font": sheet.family, "pages": len(words)}
    return Doc(kind, seed, pdf, words, tables, fields, layout, scanned, rotation)


def main(argv: list[str]) -> None:
    kind, seed, stem = argv[0], int(argv[1]), Path(argv[2])
    doc = generate(kind, seed, scanned="--scanned" in argv)
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".pdf").write_bytes(doc.pdf)
    for i, png in enumerate(doc.pages):
        Path(f"{stem}-{i + 1}.png").write_bytes(png)
    truth = {"layout": doc.layout, "fields": doc.fields, "tables": doc.tables, "words": doc.words}
    stem.with_suffix(".json").write_text(json.dumps(truth, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1:])
