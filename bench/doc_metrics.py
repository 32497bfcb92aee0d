"""Scores of a document engine's answers against generated truth (vlm_engines.testing.documents).

- words: bag-of-words recall (and precision) with counts; words are whitespace tokens with punctuation and
  currency signs stripped at their edges, compared case-sensitively;
- word order: the share of the truth's consecutive word pairs that the answer has consecutively too (a page
  read row-wise across two columns loses the pairs at every line end);
- tables: the predicted table aligned to the truth (columns by their contents, then rows, both in order), then
  the share of non-empty truth cells whose text matches exactly after whitespace normalisation;
- fields: every leaf of the truth compared with the answer's (ISO dates as dates, amounts within 0.01, other
  strings ignoring case and whitespace); list items (line items, transactions) are paired with the answer's
  best-matching item first.
"""

from __future__ import annotations

import datetime as dt
import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

EDGE = string.punctuation + "“”‘’«»‹›…–—·•€£$¥"
AMOUNT_TOLERANCE = 0.01 + 1e-9  # floats: 0.1 + 0.2 must still be within a cent of 0.3


def tokens(text: str) -> list[str]:
    return [word for raw in text.split() if (word := raw.strip(EDGE))]


@dataclass(frozen=True)
class WordScore:
    recall: float  # truth words found (each answer word used once)
    precision: float  # answer words that are in the truth
    found: int
    truth: int
    answer: int


def word_score(truth_words: Iterable[str], text: str) -> WordScore:
    truth, answer = Counter(tokens(" ".join(truth_words))), Counter(tokens(text))
    found = sum((truth & answer).values())
    n_truth, n_answer = sum(truth.values()), sum(answer.values())
    return WordScore(found / n_truth if n_truth else 1.0, found / n_answer if n_answer else float(not n_truth),
                     found, n_truth, n_answer)


def word_accuracy(truth_words: Iterable[str], text: str) -> float:
    """Bag-of-words recall with counts (precision: word_score)."""
    return word_score(truth_words, text).recall


def word_order(truth_words: Iterable[str], text: str) -> float:
    """Consecutive truth word pairs that the answer also has consecutively (counts respected)."""
    truth, answer = tokens(" ".join(truth_words)), tokens(text)
    want, have = Counter(zip(truth, truth[1:], strict=False)), Counter(zip(answer, answer[1:], strict=False))
    total = sum(want.values())
    return sum((want & have).values()) / total if total else 1.0


# --- tables

Grid = list[list[str]]


def _norm(text: Any) -> str:
    return " ".join(str(text).split()) if text is not None else ""


def parse_markdown_table(markdown: str) -> Grid:
    """Rows of a GitHub-flavoured markdown table (the |---| line dropped, \\| kept as a pipe)."""
    rows = []
    for line in markdown.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            continue
        cells = [c.replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip("|"))]
        if all(re.fullmatch(r"\s*:?-{1,}:?\s*", c) for c in cells):
            continue
        rows.append([_norm(c) for c in cells])
    return rows


def as_grid(predicted: str | Sequence[Any] | None) -> Grid:
    """A markdown table, a list of rows, or a list of cells ({"content"/"text", "index": [row, col]})."""
    if not predicted:
        return []
    if isinstance(predicted, str):
        return parse_markdown_table(predicted)
    first = predicted[0]
    if isinstance(first, dict):
        cells = [(c["index"][0], c["index"][1], c.get("content", c.get("text", ""))) for c in predicted]
        rows, cols = max(r for r, _, _ in cells) + 1, max(c for _, c, _ in cells) + 1
        grid = [["" for _ in range(cols)] for _ in range(rows)]
        for r, c, text in cells:
            grid[r][c] = _norm(text)
        return grid
    return [[_norm(cell) for cell in row] for row in predicted]


def _align(n: int, m: int, score: Callable[[int, int], float]) -> tuple[float, list[tuple[int, int]]]:
    """The in-order pairing of 0..n-1 with 0..m-1 (each used at most once) of highest total score."""
    best = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            best[i][j] = max(best[i + 1][j], best[i][j + 1], best[i + 1][j + 1] + score(i, j))
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if best[i][j] == best[i + 1][j]:
            i += 1
        elif best[i][j] == best[i][j + 1]:
            j += 1
        else:
            pairs.append((i, j))
            i, j = i + 1, j + 1
    return best[0][0], pairs


def table_cell_accuracy(truth_table: Grid, predicted: str | Sequence[Any] | None) -> float:
    """Non-empty truth cells matched exactly by the predicted table, best alignment of rows and columns."""
    truth = [[_norm(c) for c in row] for row in truth_table]
    pred = as_grid(predicted)
    total = sum(1 for row in truth for c in row if c)
    if not total or not pred:
        return 0.0 if total else 1.0
    t_cols, p_cols = max(map(len, truth)), max(map(len, pred))

    def column(grid: Grid, c: int) -> Counter[str]:
        return Counter(row[c] for row in grid if c < len(row) and row[c])

    t_bags, p_bags = [column(truth, c) for c in range(t_cols)], [column(pred, c) for c in range(p_cols)]
    # Columns first, by the cell texts they share whatever the rows: robust to missing or extra rows.
    _, col_pairs = _align(t_cols, p_cols, lambda i, j: sum((t_bags[i] & p_bags[j]).values()))

    def row_score(i: int, j: int) -> float:
        t_row, p_row = truth[i], pred[j]
        return sum(1 for tc, pc in col_pairs if tc < len(t_row) and pc < len(p_row) and t_row[tc]
                   and t_row[tc] == p_row[pc])

    matched, _ = _align(len(truth), len(pred), row_score)
    return matched / total


def best_table_accuracy(truth_table: Grid, predicted_tables: Sequence[Any]) -> float:
    """The truth table scored against whichever predicted table of the page matches it best."""
    return max((table_cell_accuracy(truth_table, p) for p in predicted_tables), default=0.0)


def cells(table: Grid) -> int:
    return sum(1 for row in table for c in row if _norm(c))


# --- fields

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?)?$")


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):  # "1,234.56", "$12.00", "1.234,56 €": an answer may keep the printed form
        text = re.sub(r"[^\d.,\-]", "", value)
        if re.search(r",\d{1,2}$", text):  # a decimal comma
            text = text.replace(".", "").replace(",", ".")
        text = text.replace(",", "")
        try:
            return float(text)
        except ValueError:
            return None
    return None


def _as_datetime(value: Any) -> tuple[dt.date, dt.time | None] | None:
    if not isinstance(value, str) or not re.match(r"^\d{4}-\d{2}-\d{2}", value.strip()):
        return None
    text = value.strip()
    try:
        day = dt.date.fromisoformat(text[:10])
    except ValueError:
        return None
    time_part = re.match(r"^[T ](\d{2}):(\d{2})", text[10:])
    return day, dt.time(int(time_part[1]), int(time_part[2])) if time_part else None


def same_value(truth: Any, predicted: Any) -> bool:
    """One leaf: amounts within a cent, ISO dates as dates (and times to the minute when both have one),
    other strings ignoring case and whitespace."""
    if predicted is None:
        return truth is None
    if isinstance(truth, bool):
        return predicted is truth
    if isinstance(truth, int | float):
        value = _as_float(predicted)
        return value is not None and abs(value - truth) <= AMOUNT_TOLERANCE
    if isinstance(truth, str) and ISO_DATE.match(truth):
        want, got = _as_datetime(truth), _as_datetime(predicted)
        if want is None or got is None or want[0] != got[0]:
            return False
        return want[1] is None or got[1] is None or want[1] == got[1]
    return "".join(str(truth).split()).casefold() == "".join(str(predicted).split()).casefold()


def _leaves(truth: Any, predicted: Any, path: str, out: dict[str, bool]) -> None:
    if isinstance(truth, dict):
        got = predicted if isinstance(predicted, dict) else {}
        for key, value in truth.items():
            _leaves(value, got.get(key), f"{path}.{key}" if path else key, out)
    elif isinstance(truth, list) and truth and isinstance(truth[0], dict):
        for i, j in _pair_items(truth, predicted if isinstance(predicted, list) else []):
            _leaves(truth[i], predicted[j] if j is not None else None, f"{path}[{i}]", out)
    else:
        out[path] = same_value(truth, predicted)


def _item_score(truth: dict[str, Any], predicted: Any) -> int:
    if not isinstance(predicted, dict):
        return 0
    return sum(same_value(v, predicted.get(k)) for k, v in truth.items())


def _pair_items(truth: list[dict[str, Any]], predicted: list[Any]) -> list[tuple[int, int | None]]:
    """Each truth item with its answer item: the in-order pairing that matches most fields."""
    _, pairs = _align(len(truth), len(predicted), lambda i, j: _item_score(truth[i], predicted[j]))
    paired = dict(pairs)
    return [(i, paired.get(i)) for i in range(len(truth))]


def field_accuracy(truth_fields: dict[str, Any], predicted: dict[str, Any] | None) -> dict[str, bool]:
    """Per truth leaf, by path ("invoice_id", "issuer_address.city", "items[3].unit_price"): is it right?"""
    out: dict[str, bool] = {}
    _leaves(truth_fields, predicted or {}, "", out)
    return out


def field_groups(results: Iterable[dict[str, bool]]) -> dict[str, float]:
    """Accuracy per field over many documents, list indices folded: "items[].unit_price"."""
    right: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for result in results:
        for path, ok in result.items():
            key = re.sub(r"\[\d+\]", "[]", path)
            seen[key] += 1
            right[key] += ok
    return {key: right[key] / seen[key] for key in sorted(seen)}
