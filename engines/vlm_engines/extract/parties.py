"""Parties without labels of their own on the page: a party's name, address, email and phone from its block
(`Bill To:` over a name and an address), and the issuer's name as the largest text at the top of the first
page, with its address in the lines under it."""

from __future__ import annotations

from rapidfuzz import fuzz

from .evidence import Found
from .geometry import PageView, block_under
from .labels import Plan, Target, role_of
from .match import Matcher
from .reading import found_of, is_name_line, read_address
from .synonyms import TITLES, TOP_NAMES
from .text import fold, has_letters
from .values import ReadContext, parse_value

PARTY_SCORE = 0.85  # read from a party block: its label names the party, not the field
TOP_SCORE = 0.75  # the largest text at the top
FIRST_LINE_SCORE = 0.55  # the first line, where no text stands out
TOP_AREA = 0.3  # of the page height
TALLER = 1.25  # than the median line: text that stands out
TITLE_SCORE = 88


def unfilled(found: dict[int, Found], target: Target | None) -> bool:
    return target is not None and target.index not in found


def from_parties(plan: Plan, found: dict[int, Found], matcher: Matcher, ctx: ReadContext) -> None:
    blocks = {t.role: found[t.index] for t in plan.targets if t.kind == "party" and t.index in found}
    for target in plan.targets:
        if len(target.path) != 1 or target.index in found or target.kind not in ("value", "address"):
            continue
        block = blocks.get(role_of(target.name))
        if block is None:
            continue
        entries: list[str] = block.value
        named = is_name_line(entries[0])
        attr = target.name.split("_")[-1]
        if target.kind == "address":
            rest = entries[1:] if named else entries
            read = read_address(target, rest, ctx)
            if read:
                lines = block.lines[1:] if named else block.lines
                found[target.index] = found_of(read, block.page, lines, PARTY_SCORE)
        elif attr == "name" and named:
            found[target.index] = Found(entries[0], block.page, [block.lines[0]], PARTY_SCORE)
        elif attr in ("email", "phone"):
            for k, entry in enumerate(entries):
                if (value := parse_value(entry, target.name, target.node, ctx)) is not None:
                    found[target.index] = Found(value, block.page, [block.lines[k]], PARTY_SCORE)
                    break


def is_title(text: str) -> bool:
    folded = fold(text)
    return any(fuzz.ratio(folded, fold(title)) >= TITLE_SCORE for title in TITLES)


def _top_line(view: PageView, matcher: Matcher) -> tuple[int, float] | None:
    """The line that names the issuer: the tallest one at the top, or the first one where none stands out."""
    top = view.page.height * TOP_AREA
    lines = [(i, ln) for i, ln in enumerate(view.lines) if ln.y1 <= top and matcher.free(0, i)
             and is_name_line(ln.text) and not is_title(ln.text)]
    if not lines:
        return None
    tallest = max(lines, key=lambda item: (item[1].height, -item[1].y0))
    if tallest[1].height >= TALLER * view.line_height:
        return tallest[0], TOP_SCORE
    first = min(lines, key=lambda item: (item[1].y0, item[1].x0))
    above = [ln for ln in view.lines if ln.y1 <= first[1].y0]
    if all(is_title(ln.text) for ln in above) and first[1].y1 <= view.page.height * 0.2:
        return first[0], FIRST_LINE_SCORE
    return None


def top_name(by_path: dict[tuple[str, ...], Target], found: dict[int, Found], matcher: Matcher,
              ctx: ReadContext) -> None:
    if not matcher.views:
        return
    view = matcher.views[0]
    for dotted in TOP_NAMES:
        target = by_path.get(tuple(dotted.split(".")))
        if not unfilled(found, target):
            continue
        top = _top_line(view, matcher)
        if top is None:
            return
        index, score = top
        line = view.lines[index]
        found[target.index] = Found(line.text.strip(), 0, [line], score)
        matcher.used.add((0, index))
        address = by_path.get((target.name.replace("_name", "_address"),))
        if unfilled(found, address) and address.kind == "address":
            under = block_under(view, index, lambda i: not matcher.free(0, i), most=4)
            read = read_address(address, [view.lines[i].text for i in under], ctx)
            if read:
                found[address.index] = found_of(read, 0, [view.lines[i] for i in under], score)
                matcher.used.update((0, under[k]) for k in read.used)
        contacts(by_path, found, matcher, ctx, target, index, score)
        return


CONTACTS = ("email", "phone", "fax", "website")
BLOCK_LINES = 9  # a party's block: its name, address and contact lines


def contacts(by_path: dict[tuple[str, ...], Target], found: dict[int, Found], matcher: Matcher, ctx: ReadContext,
             name: Target, index: int, score: float) -> None:
    """A party's email, phone, fax and website printed without labels in the block under its name (the issuer's
    letterhead: name, address, phone, email): a line that holds the value and little else (`Tel`, not
    `VAT ID: GB123456789`)."""
    prefix = name.name.removesuffix("_name")
    wanted = [t for attr in CONTACTS if unfilled(found, t := by_path.get((f"{prefix}_{attr}",)))
              and t.kind == "value"]
    if not wanted:
        return
    view = matcher.views[0]
    under = block_under(view, index, lambda i: i in matcher.excluded[0], most=BLOCK_LINES)
    for target in wanted:
        for i in under:
            if not matcher.free(0, i):
                continue
            text = view.lines[i].text
            value = parse_value(text, target.name, target.node, ctx)
            if value is not None and (not isinstance(value, str) or not has_letters(text.replace(value, ""), 7)):
                found[target.index] = Found(value, 0, [view.lines[i]], score)
                matcher.used.add((0, i))
                break


UNLABELLED_TOP = 0.5  # of the page height: where a letter's recipient block stands


def unlabelled_party(plan: Plan, by_path: dict[tuple[str, ...], Target], found: dict[int, Found], matcher: Matcher,
                     ctx: ReadContext) -> None:
    """A recipient printed without a label (a statement's account holder in the envelope window): the first
    free block at the top of the first page of a name line over an address with a city line, for a party whose
    name and address nothing else gave."""
    if not matcher.views:
        return
    view = matcher.views[0]
    labelled = {t.role for t in plan.targets if t.kind == "party" and t.index in found}
    for target in plan.targets:
        role = role_of(target.name)
        if (len(target.path) != 1 or target.kind != "value" or not target.name.endswith("_name") or role is None
                or role in labelled or role == "issuer" or target.index in found):
            continue
        address = by_path.get((target.name.removesuffix("_name") + "_address",))
        if address is None or address.kind != "address" or address.index in found:
            continue
        top = view.page.height * UNLABELLED_TOP
        for i, line in enumerate(view.lines):
            if line.y1 > top or not matcher.free(0, i) or not is_name_line(line.text) or is_title(line.text):
                continue
            under = block_under(view, i, lambda j: not matcher.free(0, j), most=4)
            read = read_address(address, [view.lines[j].text for j in under], ctx)
            if read is None or not ({"city", "postal_code", "zip_code"} & read.value.keys()):
                continue
            found[target.index] = Found(line.text.strip(), 0, [line], TOP_SCORE)
            found[address.index] = found_of(read, 0, [view.lines[j] for j in under], TOP_SCORE)
            matcher.used.add((0, i))
            matcher.used.update((0, under[k]) for k in read.used)
            contacts(by_path, found, matcher, ctx, target, i, TOP_SCORE)
            break
