"""How vlmctl shows things: a live status line with a page progress bar on stderr (redrawn in place on a
terminal, one line per change otherwise), streamed model output, tables, JSON on stdout."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from pydantic import BaseModel

BAR_WIDTH = 24


def to_json(value: Any) -> str:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", by_alias=True)
    elif isinstance(value, list):
        value = [v.model_dump(mode="json", by_alias=True) if isinstance(v, BaseModel) else v for v in value]
    return json.dumps(value, indent=2, ensure_ascii=False)


def bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    if total <= 0:
        return "[" + "." * width + "]"
    filled = min(width, round(width * done / total))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


class Live:
    """The status line of a prediction being followed, and the text a model streams (output deltas)."""

    def __init__(self, out: TextIO = sys.stderr, quiet: bool = False):
        self.out, self.quiet = out, quiet
        self.tty = out.isatty()
        self.last_line = ""
        self.open_line = False  # a redrawn status line is on screen (tty only)
        self.streaming = False  # the cursor is in the middle of streamed model text

    def status(self, prediction_id: str, status: str, done: int, total: int, message: str = "") -> None:
        line = f"{prediction_id[:12]} {status:<9} {bar(done, total)} {done}/{total}"
        if message and status in ("failed", "paused"):
            line += f"  {message}"
        if self.quiet or line == self.last_line:
            return
        self.last_line = line
        self._end_stream()
        if self.tty:
            self.out.write("\r\x1b[2K" + line)
            self.open_line = True
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def delta(self, text: str) -> None:
        if self.quiet or not text:
            return
        if self.open_line:
            self.out.write("\n")
            self.open_line = False
        self.out.write(text)
        self.streaming = not text.endswith("\n")
        self.out.flush()

    def upload(self, sent: int, total: int) -> None:
        if self.quiet:
            return
        line = f"upload    {bar(sent, total)} {size(sent)}/{size(total)}"
        if self.tty:
            self.out.write("\r\x1b[2K" + line)
            self.open_line = True
        elif sent == total:  # a log gets the finished line only
            self.out.write(line + "\n")
        self.out.flush()

    def _end_stream(self) -> None:
        if self.streaming:
            self.out.write("\n")
            self.streaming = False

    def close(self) -> None:
        self._end_stream()
        if self.open_line:
            self.out.write("\n")
            self.open_line = False
        self.out.flush()


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str], out: TextIO = sys.stdout) -> None:
    rows = [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    for row in [list(headers), *rows]:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
