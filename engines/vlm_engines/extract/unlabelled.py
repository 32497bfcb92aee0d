"""Values the page prints without a label of their own, read where documents put them:

- the parties (parties.py): from their blocks (`Bill To:`), the issuer from the top of the page with the
  email and phone printed in its letterhead, a recipient without a label (a statement's account holder) from
  the first block of a name over an address at the top of the first page;
- the one email (or phone number) on the page, where the schema has exactly one field for it;
- the issuing state of an identity card from the state's name in its header, its kind (`DRIVER LICENSE`)
  where the schema lists the kinds;
- the one address shaped like an address (`SACRAMENTO, CA 95818`), where the schema has one address;
- how a receipt was paid, from its tender line (`VISA **** 1234`, `Paid: CASH`);
- a full name from the first, middle and last names;
- from the layout regions: the footer's text, the document's title; `Page 1 of 2` as page information;
- the currency from the symbol printed with the amounts (`$` -> USD).

Each is scored below a labelled value, so its confidence says it was not labelled."""

from __future__ import annotations

import re

from rapidfuzz import fuzz

from ..page import Line, Region
from . import us_states
from .address import city_line
from .dates import parse_date
from .evidence import Found
from .labels import Plan, Target
from .match import Matcher
from .money import currency_code
from .parties import (
    PARTY_SCORE,
    TITLE_SCORE,
    TOP_AREA,
    TOP_SCORE,
    from_parties,
    is_title,
    top_name,
    unfilled,
    unlabelled_party,
)
from .reading import found_of, read_address
from .text import fold
from .values import ReadContext, parse_value, semantic, site_of

SOLE_SCORE = 0.7  # the only email or phone on the page
INFERRED_CURRENCY = 0.7  # the currency read off the amounts' symbols, not labelled


def fill(plan: Plan, found: dict[int, Found], matcher: Matcher, ctx: ReadContext) -> None:
    by_path = {t.path: t for t in plan.targets}
    from_parties(plan, found, matcher, ctx)
    top_name(by_path, found, matcher, ctx)
    unlabelled_party(plan, by_path, found, matcher, ctx)
    _sole_contacts(plan, found, matcher, ctx)
    _site_links(plan, found, matcher, ctx)
    _issuing_state(by_path, found, matcher)
    _document_kind(plan, found, matcher)
    _sole_address(plan, found, matcher, ctx)
    _tender(plan, found, matcher)
    _full_name(plan, found)
    _layout_texts(by_path, found, matcher)
    _currency(plan, found)


def _sole_contacts(plan: Plan, found: dict[int, Found], matcher: Matcher, ctx: ReadContext) -> None:
    for kind in ("email", "phone", "date", "datetime"):
        targets = [t for t in plan.targets if t.kind == "value" and semantic(t.name, t.node) == kind
                   and (len(t.path) == 1 or kind in ("email", "phone"))]
        if len(targets) != 1 or targets[0].index in found:
            continue
        seen: dict[str, tuple[int, int]] = {}
        for p, view in enumerate(matcher.views):
            for i, line in enumerate(view.lines):
                if i in matcher.excluded[p] or not matcher.free(p, i):
                    continue
                if kind in ("date", "datetime") and parse_date(line.text, ctx.date_order, fast=True) is None:
                    continue  # (the patterns are enough to tell a date line, dateparser is slow)
                value = parse_value(line.text, targets[0].name, targets[0].node, ctx)
                if value is not None:
                    seen.setdefault(value, (p, i))
        if len(seen) == 1:
            value, (p, i) = next(iter(seen.items()))
            found[targets[0].index] = Found(value, p, [matcher.views[p].lines[i]], SOLE_SCORE)


def _site_links(plan: Plan, found: dict[int, Found], matcher: Matcher, ctx: ReadContext) -> None:
    """`linkedin.com/in/jane` for a `linkedin` field: a link to the site a field is named after."""
    for target in plan.targets:
        site = site_of(target.name)
        if not site or target.kind != "value" or target.index in found or semantic(target.name,
                                                                                        target.node) != "url":
            continue
        for p, view in enumerate(matcher.views):
            line = next((ln for i, ln in enumerate(view.lines) if site in ln.text.lower() and matcher.free(p, i)), None)
            if line is not None and (value := parse_value(line.text, target.name, target.node, ctx)):
                found[target.index] = Found(value, p, [line], SOLE_SCORE)
                break


def _issuing_state(by_path: dict[tuple[str, ...], Target], found: dict[int, Found], matcher: Matcher) -> None:
    target = by_path.get(("issuing_state",))
    if not unfilled(found, target) or not matcher.views:
        return
    view = matcher.views[0]
    for line in view.lines:
        if line.y1 <= view.page.height * TOP_AREA and (code := us_states.named(line.text)):
            found[target.index] = Found(code, 0, [line], TOP_SCORE)
            return


def _full_name(plan: Plan, found: dict[int, Found]) -> None:
    by_path = {t.path: t for t in plan.targets}
    for target in plan.targets:
        if target.name != "full_name" or target.index in found:
            continue
        parts = [by_path.get((*target.path[:-1], n)) for n in ("first_name", "middle_name", "last_name")]
        got = [found[t.index] for t in parts if t is not None and t.index in found]
        first_and_last = all(t is not None and t.index in found for t in (parts[0], parts[2]))
        if first_and_last and all(isinstance(f.value, str) for f in got):
            lines = list(dict.fromkeys(ln for f in got for ln in f.lines))
            found[target.index] = Found(" ".join(f.value for f in got), got[0].page, lines,
                                        min(f.score for f in got))



def _document_kind(plan: Plan, found: dict[int, Found], matcher: Matcher) -> None:
    """`document_type: drivers_license` from a `DRIVER LICENSE` heading."""
    if not matcher.views:
        return
    view = matcher.views[0]
    for target in plan.targets:
        if len(target.path) != 1 or not target.node.enum or not target.name.endswith("type") or target.index in found:
            continue
        members = [(fold(str(m).replace("_", " ")), m) for m in target.node.enum if isinstance(m, str)]
        for line in view.lines:
            if line.y1 > view.page.height * TOP_AREA:
                continue
            text = fold(line.text)
            best = max(((fuzz.ratio(text, folded), m) for folded, m in members), default=(0, None))
            if best[0] >= TITLE_SCORE:
                found[target.index] = Found(best[1], 0, [line], TOP_SCORE)
                break


def _sole_address(plan: Plan, found: dict[int, Found], matcher: Matcher, ctx: ReadContext) -> None:
    """An identity card prints its holder's address without a label: the one line shaped like a city line."""
    addresses = [t for t in plan.targets if t.kind == "address" and len(t.path) == 1]
    if len(addresses) != 1 or addresses[0].index in found or not matcher.views:
        return
    view = matcher.views[0]
    cities = [i for i, line in enumerate(view.lines) if matcher.free(0, i) and city_line(line.text)]
    if len(cities) != 1:
        return
    city = cities[0]
    above = [i for i in range(len(view.lines)) if matcher.free(0, i) and i != city
             and view.lines[i].y1 <= view.lines[city].y0 + 1
             and view.lines[city].y0 - view.lines[i].y1 <= view.line_height
             and abs(view.lines[i].x0 - view.lines[city].x0) <= 1.5 * view.line_height]
    chain = sorted(above, key=lambda i: view.lines[i].y0)[-1:] + [city]
    read = read_address(addresses[0], [view.lines[i].text for i in chain], ctx)
    if read:
        found[addresses[0].index] = found_of(read, 0, [view.lines[i] for i in chain], SOLE_SCORE)


TENDERS = ("cash", "visa", "mastercard", "master card", "amex", "american express", "discover", "debit",
           "credit", "debit card", "credit card", "check", "cheque", "apple pay", "google pay", "paypal",
           "gift card", "ebt")
PAID_LABELS = ("paid", "paid by", "paid with", "payment", "payment method", "tender", "tendered", "method of payment",
               "payment type")
_PAID = frozenset(fold(label) for label in PAID_LABELS)
CARD_BRANDS = ("visa", "mastercard", "master card", "amex", "american express", "discover")


def _tender(plan: Plan, found: dict[int, Found], matcher: Matcher) -> None:
    """A receipt's payment (`VISA **** 1234`): the tender as printed, the card brand, the card's last digits."""
    parts = {t.name: t for t in plan.targets if len(t.path) == 2 and "payment" in t.path[0]}
    kind = parts.get("type")
    if kind is None or kind.index in found:
        return
    for p, view in enumerate(matcher.views):
        for i, line in enumerate(view.lines):
            if i in matcher.excluded[p]:
                continue
            head, colon, rest = line.text.partition(":")  # `Paid: VISA **** 1234`, `Tender: CASH`
            printed_text = rest.strip() if colon and fold(head) in _PAID else line.text
            text = fold(printed_text)
            tender = next((t for t in sorted(TENDERS, key=len, reverse=True)
                           if text == fold(t) or text.startswith(fold(t) + " ")), None)
            if tender is None:
                continue
            printed = " ".join(printed_text.split()[:len(tender.split())])
            found[kind.index] = Found(printed, p, [line], PARTY_SCORE)
            brand = parts.get("card_type")
            if brand is not None and brand.index not in found and tender in CARD_BRANDS:
                found[brand.index] = Found(printed, p, [line], PARTY_SCORE)
            last4 = parts.get("card_last_4")
            digits = re.search(r"[*xX#•]{2,}\s*(\d{4})\b", line.text)
            if last4 is not None and last4.index not in found and digits:
                found[last4.index] = Found(digits.group(1), p, [line], PARTY_SCORE)
            return


_PAGE_OF = re.compile(r"\bpage\s*\d+\s*(?:of|/)\s*\d+\b", re.IGNORECASE)


def _inside(line: Line, region: Region) -> bool:
    return region.x0 <= line.cx <= region.x1 and region.y0 <= line.cy <= region.y1


def _layout_texts(by_path: dict[tuple[str, ...], Target], found: dict[int, Found], matcher: Matcher) -> None:
    """`footer_text` from the footer region, `statement_title` from the title at the top, `page_information`
    from `Page 1 of 2`."""
    if not matcher.views:
        return
    view = matcher.views[0]
    free = [(i, ln) for i, ln in enumerate(view.lines) if matcher.free(0, i)]
    for path, target in by_path.items():
        if len(path) != 1 or target.kind != "value" or target.node.kind != "string" or target.index in found:
            continue
        lines: list[Line] = []
        if "footer" in target.name:
            footers = [r for r in view.page.regions if r.kind == "footer"]
            lines = [ln for _, ln in free if any(_inside(ln, r) for r in footers)]
        elif target.name.endswith("title"):
            titles = [r for r in view.page.regions if r.kind == "title" and r.y1 <= view.page.height * TOP_AREA]
            lines = [ln for _, ln in free if any(_inside(ln, r) for r in titles) or (
                ln.y1 <= view.page.height * TOP_AREA and is_title(ln.text))][:1]
        elif target.name == "page_information":
            lines = [ln for _, ln in free if _PAGE_OF.search(ln.text)][:1]
        if lines:
            found[target.index] = Found(" ".join(ln.text.strip() for ln in lines), 0, lines, TOP_SCORE)


def _currency(plan: Plan, found: dict[int, Found]) -> None:
    """The document's currency, where no label gives it: the code of the symbol printed with its amounts."""
    target = next((t for t in plan.targets if t.path == ("currency",) and t.kind == "value"), None)
    if target is None or target.index in found:
        return
    votes: dict[str, list[Found]] = {}
    for other in plan.targets:
        hit = found.get(other.index)
        if hit is None or other.node.kind not in ("number", "integer") or len(other.path) != 1:
            continue
        for line in hit.lines:
            code = currency_code(line.text)
            if code:
                votes.setdefault(code, []).append(hit)
                break
    if votes:
        code, hits = max(votes.items(), key=lambda item: len(item[1]))
        found[target.index] = Found(code, hits[0].page, hits[0].lines, INFERRED_CURRENCY)

