"""A value read from the page with what it was read from: the lines (for boxes) and how sure the reading is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..page import Line

HI, MED = 0.9, 0.6


@dataclass
class Found:
    value: Any
    page: int
    lines: list[Line] = field(default_factory=list)
    score: float = 1.0  # how well the label matched (0..1); lower for a value found without a label
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)  # boxes that are no line (cells)
    text: str | None = None  # what the boxes hold, where they are no lines (a table cell)
    ocr: float = 1.0  # the recogniser's confidence where no line is given (a table cell without a line)
    parts: dict[str, Found] = field(default_factory=dict)  # an address's parts, each with its own lines

    @property
    def confidence(self) -> str:
        ocr = min((ln.confidence for ln in self.lines), default=self.ocr)
        sure = min(self.score, ocr)
        return "hi" if sure >= HI else "med" if sure >= MED else "low"

    @property
    def content(self) -> str:
        return self.text if self.text is not None else "\n".join(ln.text for ln in self.lines)
