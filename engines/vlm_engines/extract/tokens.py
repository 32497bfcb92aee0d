"""A line cut into words and colons, and the places in it where a label may stand."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .text import fold

# A colon between two digits is a time (`14:32`), not the end of a label.
_TOKEN = re.compile(r"(?:\d:(?=\d)|[^\s:])+|:")
MAX_PREFIX = 6  # words of a label at the start of a line
MAX_TRAILING = 5  # words of a label before a colon
MAX_INLINE = 3  # words of a label inside a line (`SEX M HGT 5'-08"`)
# A form's field number before its label (`4d DLN`, `15 SEX`): not part of the label.
_FIELD_NUMBER = re.compile(r"^\d{1,2}[a-z]?$")


@dataclass(frozen=True)
class Spot:
    """Where a label may stand in a line: tokens [start, end); `colon` when a colon follows it."""

    line: int
    start: int
    end: int
    colon: bool
    orphan: bool  # words before it that no label claims (`Please pay by:`)
    inline: bool = False  # an upper-case label in the middle of a line, with no colon


@dataclass
class Tokens:
    text: str
    spans: list[tuple[int, int]]
    colons: list[int]  # token indices of the colons

    @classmethod
    def of(cls, text: str) -> Tokens:
        spans = [m.span() for m in _TOKEN.finditer(text)]
        colons = [i for i, (a, b) in enumerate(spans) if text[a:b] == ":"]
        return cls(text, spans, colons)

    def __len__(self) -> int:
        return len(self.spans)

    def words(self, start: int, end: int) -> str:
        """The text of tokens [start, end) as printed (with its inner spacing)."""
        if start >= end:
            return ""
        return self.text[self.spans[start][0]:self.spans[end - 1][1]]

    def segments(self) -> list[tuple[int, int]]:
        """Token ranges between colons (the last one after the last colon)."""
        out, start = [], 0
        for colon in self.colons:
            out.append((start, colon))
            start = colon + 1
        out.append((start, len(self.spans)))
        return out

    def spots(self, line: int, first_words: frozenset[str]) -> list[Spot]:
        """Where labels may stand: the first words, the words before each colon, and upper-case words that
        begin a known label (`first_words`, folded) inside the line."""
        out: dict[tuple[int, int], Spot] = {}
        segments = self.segments()
        first_start, first_end = segments[0]
        if first_end - first_start > 1 and _FIELD_NUMBER.match(self.words(first_start, first_start + 1)):
            first_start += 1
        for k in range(1, min(MAX_PREFIX, first_end - first_start) + 1):
            end = first_start + k
            out[(first_start, end)] = Spot(line, first_start, end, bool(self.colons) and end == self.colons[0], False)
        for index in range(len(self.colons)):
            start, end = segments[index]
            for k in range(1, min(MAX_TRAILING, end - start) + 1):
                key = (end - k, end)
                if key not in out:
                    out[key] = Spot(line, end - k, end, True, index == 0 and end - k > start)
        for start in range(1, len(self.spans)):
            word = self.words(start, start + 1)
            if not (word.isupper() and sum(ch.isalpha() for ch in word) >= 2 and fold(word) in first_words):
                continue
            limit = next((c for c in self.colons if c >= start), len(self.spans) - 1)  # a value must follow
            for end in range(start + 1, min(start + MAX_INLINE, limit) + 1):
                if (start, end) not in out:
                    out[(start, end)] = Spot(line, start, end, end in self.colons, False, True)
        return list(out.values())
