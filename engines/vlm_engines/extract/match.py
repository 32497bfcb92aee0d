"""Labels on the pages matched to the schema's fields, and each field's value read next to its label.

Every place a label may stand (a line's first words, the words before a colon) is scored against every label
of every field at once (rapidfuzz cdist over folded text). Then, best score first, a field takes a label whose
value reads as the field's type: after the label on its line, else on the line right of it, else under it.
A label, and a value's words, serve one field only."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

from .evidence import Found
from .geometry import PageView, below, block_under, right_of
from .labels import IN_SECTION, NO_SECTION, Label, Plan, Target, cutoff
from .money import parse_amount
from .reading import found_of, read_address, read_list, read_party, read_value
from .sections import bare, headings, section_of_lines
from .text import fold
from .tokens import Spot, Tokens
from .values import ReadContext, semantic

ORPHAN = 0.9  # a label with unclaimed words before it on its line (`Please pay by:`)
INLINE = 0.95  # an upper-case label inside a line, with no colon after it
SHARE_WEIGHT = 0.9  # a label this sure of two fields fills both
_LOWEST_CUTOFF = 85


@dataclass(frozen=True)
class Hit:
    score: float
    raw: int  # the fuzzy score of the label text alone
    target: int
    page: int
    spot: Spot
    label: Label


class Matcher:
    def __init__(self, plan: Plan, views: list[PageView], excluded: list[set[int]], ctx: ReadContext) -> None:
        self.plan, self.views, self.excluded, self.ctx = plan, views, excluded, ctx
        self.tokens = [[Tokens.of(line.text) for line in view.lines] for view in views]
        heads = [headings(view, plan.sections, excluded[p]) for p, view in enumerate(views)]
        self.sections = [section_of_lines(view, heads[p]) for p, view in enumerate(views)]
        # Bare headings are no labels; `Insurance: Aetna` heads a section and is a label too.
        self.heads = [{i: name for i, name in h.items() if bare(view, i)} for h, view in zip(heads, views, strict=True)]
        self.claimed: dict[tuple[int, int], set[int]] = defaultdict(set)
        self.used: set[tuple[int, int]] = set()  # lines taken whole, as values
        self.labelish: set[tuple[int, int]] = {(p, i) for p, heads in enumerate(self.heads) for i in heads}
        self.boundary: dict[tuple[int, int, int], int] = {}  # (page, line, colon token) -> where its label starts
        self.inline_stops: dict[tuple[int, int], list[int]] = defaultdict(list)  # where inline labels start
        first_words = {label.text.split(" ")[0] for t in plan.targets for label in t.labels if label.text}
        self.first_words = frozenset(first_words)
        self.found: dict[int, Found] = {}
        self.shared: dict[tuple[int, int, int, int], tuple[str, int]] = {}  # label spot -> its value's text, line

    # --- scoring ------------------------------------------------------------------------------------------

    def _spots(self) -> list[tuple[int, Spot, str]]:
        out = []
        for p, page_tokens in enumerate(self.tokens):
            for i, toks in enumerate(page_tokens):
                if i in self.excluded[p] or i in self.heads[p] or not len(toks):
                    continue
                out.extend((p, spot, fold(toks.words(spot.start, spot.end)))
                           for spot in toks.spots(i, self.first_words))
        return out

    def hits(self) -> list[Hit]:
        spots = self._spots()
        by_text: dict[str, list[Label]] = defaultdict(list)
        for target in self.plan.targets:
            for label in target.labels:
                by_text[label.text].append(label)
        label_texts = list(by_text)
        spot_texts = sorted({text for _, _, text in spots if text})
        if not label_texts or not spot_texts:
            return []
        column = {text: j for j, text in enumerate(spot_texts)}
        matches = _matches(label_texts, spot_texts)
        out: list[Hit] = []
        best_at_colon: dict[tuple[int, int, int], tuple[float, int, int]] = {}
        for p, spot, text in spots:
            for r, raw in matches.get(column.get(text, -1), ()):
                for label in by_text[label_texts[r]]:
                    score = self._weigh(label, p, spot, raw)
                    if score <= 0:
                        continue
                    out.append(Hit(score, raw, label.target, p, spot, label))
                    if spot.colon or spot.end == len(self.tokens[p][spot.line]):
                        self.labelish.add((p, spot.line))  # `Name:` or a bare `Total`: no value for another label
                    if spot.inline:
                        self.inline_stops[(p, spot.line)].append(spot.start)
                    if spot.colon:
                        key = (p, spot.line, spot.end)
                        best_at_colon[key] = max(best_at_colon.get(key, (0, 0, 0)),
                                                 (score, spot.end - spot.start, spot.start))
        self._boundaries(best_at_colon)
        for stops in self.inline_stops.values():
            stops.sort()
        out.sort(key=lambda h: (-h.score, -(h.spot.end - h.spot.start), h.target, h.page, h.spot.line, h.spot.start))
        return out

    def _weigh(self, label: Label, page: int, spot: Spot, raw: int) -> float:
        weight = label.weight
        toks = self.tokens[page][spot.line]
        if not spot.colon and len(toks) - spot.end >= 2 and toks.words(spot.end, spot.end + 1)[:1].islower():
            return 0.0  # words of a sentence (`from late delivery.`), not a label and its value
        if label.scope is not None:
            section = self.sections[page][spot.line]
            if section == label.scope:
                weight *= IN_SECTION
            elif section is None:
                # Outside its object's section, a part's bare name (`City`, `Country`) followed by more words with
                # no colon between is the start of a name or a sentence (`City Hardware`), not a label.
                if not spot.colon and spot.end < len(self.tokens[page][spot.line]):
                    return 0.0
                weight *= NO_SECTION
            else:
                return 0.0
        if spot.orphan:
            weight *= ORPHAN
        if spot.inline:
            weight *= INLINE
        return raw / 100 * weight

    def _boundaries(self, best_at_colon: dict[tuple[int, int, int], tuple[float, int, int]]) -> None:
        for p, page_tokens in enumerate(self.tokens):
            for i, toks in enumerate(page_tokens):
                if toks.text.rstrip().endswith(":"):
                    self.labelish.add((p, i))
                for (start, _end), colon in zip(toks.segments(), toks.colons, strict=False):
                    found = best_at_colon.get((p, i, colon))
                    # An unknown label before a colon: take its last word (`Ref:`), keep the rest as a value.
                    self.boundary[(p, i, colon)] = found[2] if found else max(start, colon - 1)

    # --- assigning ----------------------------------------------------------------------------------------

    def run(self) -> dict[int, Found]:
        for hit in self.hits():
            if hit.target in self.found:
                continue
            if self._rate_in_label(hit):
                continue
            key = (hit.page, hit.spot.line)
            if key in self.used or self.claimed[key] & set(range(hit.spot.start, hit.spot.end)):
                self._share(hit)
                continue
            self._try(hit)
        return self.found

    def _rate_in_label(self, hit: Hit) -> bool:
        """A rate printed inside the label of its amount (`Tax (20%): $12.00`, `VAT 19%:`) fills a percentage
        field; the label stays free for the amount."""
        target = self.plan.targets[hit.target]
        if target.kind != "value" or semantic(target.name, target.node) != "percent":
            return False
        words = self.tokens[hit.page][hit.spot.line].words(hit.spot.start, hit.spot.end)
        if "%" not in words:
            return False
        values = read_value(target, words, hit.label.part, self.ctx)
        if values is None:
            return False
        self.found[target.index] = Found(values[0], hit.page, [self.views[hit.page].lines[hit.spot.line]], hit.score)
        return True

    def _share(self, hit: Hit) -> None:
        """A label that is exactly one of this field's own labels too (`Amount Due` for the total and the balance
        due) gives its value to both."""
        source = self.shared.get((hit.page, hit.spot.line, hit.spot.start, hit.spot.end))
        target = self.plan.targets[hit.target]
        if source is None or target.kind != "value" or hit.raw < 100 or hit.score < SHARE_WEIGHT:
            return
        text, line = source
        values = read_value(target, text, hit.label.part, self.ctx)
        if values is not None:
            self.found[target.index] = Found(values[0], hit.page, [self.views[hit.page].lines[line]], hit.score)

    def value_span(self, page: int, spot: Spot) -> tuple[int, int]:
        toks = self.tokens[page][spot.line]
        start = spot.end + (1 if spot.end in toks.colons else 0)
        end = len(toks)
        for colon in toks.colons:
            if colon >= start:
                end = self.boundary[(page, spot.line, colon)]
                break
        for stop in self.inline_stops.get((page, spot.line), ()):
            if start <= stop < end and stop >= spot.end:
                end = stop
                break
        return start, max(start, end)

    def free(self, page: int, line: int | None) -> bool:
        """Whether line `line` can be read as a value: no label on it, nothing taken from it."""
        key = (page, line)
        return (line is not None and key not in self.used and key not in self.labelish
                and not self.claimed.get(key) and line not in self.excluded[page])

    def _try(self, hit: Hit) -> None:
        target = self.plan.targets[hit.target]
        p, spot = hit.page, hit.spot
        view, toks = self.views[p], self.tokens[p][spot.line]
        start, end = self.value_span(p, spot)
        text = toks.words(start, end).strip()
        at_end = not text and start >= len(toks)
        right = right_of(view, spot.line) if at_end else None
        right = right if self.free(p, right) else None
        below_line = below(view, spot.line) if at_end else None
        below_line = below_line if self.free(p, below_line) else None
        if target.kind == "value":
            if text and end >= len(toks):  # `Tax (8%)  $98.76`: what follows the label may still be label
                right = right_of(view, spot.line)
                right = right if self.free(p, right) else None
            sources = [(text, spot.line)] if text else []
            sources += [(view.lines[i].text, i) for i in (right, below_line) if i is not None]
            for source_text, line in sources:
                if line != spot.line and not _whole_value(target, source_text):
                    continue
                if line == below_line and self._heads_a_column(target, p, line):
                    continue
                if line == spot.line:
                    source_text = _last_amount(target, source_text)
                values = read_value(target, source_text, hit.label.part, self.ctx)
                if values is None:
                    continue
                found = Found(values[0], p, [view.lines[line]], hit.score)
                same_line = bool(text) and line == spot.line
                if hit.raw == 100 and hit.score >= SHARE_WEIGHT:
                    self.shared[(p, spot.line, spot.start, spot.end)] = (source_text, line)
                span = (start, self._consumed(target, hit.label, toks, start, end, values)) if same_line else None
                self._claim(p, spot, line, span)
                self.found[target.index] = found
                if values[1] is not None:
                    self._range_sibling(target, hit.label, Found(values[1], p, [view.lines[line]], hit.score))
                return
            return
        # Blocks (lists, addresses, parties) start after the label on its line, or right of it, or under it.
        first = spot.line if text else right
        anchor = first if first is not None else spot.line
        chain = ([first] if first is not None else []) + block_under(
            view, anchor, lambda i: not self.free(p, i))
        if not chain:
            return
        texts = [text if i == spot.line else view.lines[i].text for i in chain]
        reader = {"list": read_list, "address": read_address, "party": read_party}[target.kind]
        read = reader(target, texts, self.ctx)
        if read is None:
            return
        self.found[target.index] = found_of(read, p, [view.lines[i] for i in chain], hit.score)
        self._claim(p, spot, None, (start, end) if text else None)
        self.used.update((p, chain[k]) for k in read.used if chain[k] != spot.line)

    def _heads_a_column(self, target: Target, page: int, line: int) -> bool:
        """A label over a column of amounts (`Total` over the items' totals) is a column's header: the amount under
        it is one item's, not the field's."""
        if target.node.kind not in ("number", "integer"):
            return False
        view = self.views[page]
        under = below(view, line)
        return under is not None and _whole_value(target, view.lines[under].text) and bool(
            parse_amount(view.lines[under].text, self.ctx.decimal_comma))

    def _consumed(self, target: Target, label: Label, toks: Tokens, start: int, end: int, values: tuple) -> int:
        """Where the value read from tokens [start, end) ends: a date, amount or code may be followed by the
        next label and its value (`DOB 08/31/1977 EXP 08/31/2026`); free text takes it all."""
        if target.node.kind == "string" and not target.node.enum and semantic(target.name, target.node) == "string":
            return end
        for stop in range(start + 1, end):
            if read_value(target, toks.words(start, stop), label.part, self.ctx) == values:
                return stop
        return end

    def _claim(self, page: int, spot: Spot, value_line: int | None, span: tuple[int, int] | None) -> None:
        self.claimed[(page, spot.line)].update(range(spot.start, spot.end))
        if span is not None:
            self.claimed[(page, spot.line)].update(range(*span))
        if value_line is not None and value_line != spot.line:
            self.used.add((page, value_line))

    def _range_sibling(self, target: Target, label: Label, found: Found) -> None:
        """`Period: 01/03 - 31/03/2024` fills the end date beside the start date (and the other way round)."""
        for other in self.plan.targets:
            if other.path[:-1] == target.path[:-1] and other.index != target.index and other.index not in self.found:
                if any(lb.part is not None and lb.part != label.part for lb in other.labels):
                    self.found[other.index] = found
                    return


_AMOUNT_ALONE = re.compile(r"[^A-Za-z]*(?:[A-Za-z]{1,3}\.?)?[^A-Za-z]*")  # `$1,234.56`, `1.234,56 EUR`, `(50.00) CR`


_TRAILING_AMOUNT = re.compile(r"(?:[-−(]\s*)?(?:[A-Z]{3}\s?|[$€£¥]\s?)?\d[\d.,' ]*(?:[.,]\d{1,2})\)?"
                              r"(?:\s?(?:[A-Z]{3}|[$€£¥]|CR))?\s*$")


def _last_amount(target: Target, text: str) -> str:
    """The amount at the end of a label's line where counts come before it (`Total (3 items)  $44.63`); where an
    amount comes first (`12.25 Tax 1.01`), the first."""
    if target.node.kind not in ("number", "integer") or semantic(target.name, target.node) == "percent":
        return text
    m = _TRAILING_AMOUNT.search(text)
    before = text[:m.start()] if m else ""
    if m is None or not re.search(r"\d", before) or re.search(r"\d[.,]\d{2}\b|[$€£¥]", before):
        return text
    return m.group(0).strip()


def _whole_value(target: Target, text: str) -> bool:
    """A line of its own read as an amount holds the amount alone (a currency, a sign beside it), not a sentence
    that starts with a number (`9. Claims for damaged goods ...`)."""
    return target.node.kind not in ("number", "integer") or bool(_AMOUNT_ALONE.fullmatch(text.strip()))


def _matches(labels: list[str], spots: list[str]) -> dict[int, list[tuple[int, int]]]:
    """Spot text index -> (label text index, fuzzy score) for every pair that scores the label's cutoff: one
    cdist for all (it skips pairs whose lengths rule the cutoff out on its own)."""
    scores = process.cdist(labels, spots, scorer=fuzz.ratio, score_cutoff=_LOWEST_CUTOFF, dtype=np.uint8)
    needed = np.array([cutoff(text) for text in labels], dtype=np.uint8)[:, None]
    out: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for r, c in zip(*np.nonzero((scores >= needed) & (scores > 0)), strict=True):
        out[int(c)].append((int(r), int(scores[r, c])))
    return out
