"""Reading order and Markdown from OCR lines (pure Python, no OCR dependency)."""

from statistics import median

from .page import Line

# Same row: vertical centres closer than this fraction of the (mean) line height.
SAME_ROW = 0.5
# Paragraph break: vertical gap between rows larger than this many median line heights.
PARAGRAPH_GAP = 1.0
# Headings: row height relative to the median line height.
HEADING_2 = 1.35
HEADING_1 = 1.8


def rows(lines: list[Line]) -> list[list[Line]]:
    """Group lines into rows (top to bottom), each row sorted left to right."""
    out: list[list[Line]] = []
    for line in sorted(lines, key=lambda ln: ln.cy):
        if out:
            row = out[-1]
            row_cy = sum(ln.cy for ln in row) / len(row)
            row_h = sum(ln.height for ln in row) / len(row)
            if abs(line.cy - row_cy) <= SAME_ROW * (line.height + row_h) / 2:
                row.append(line)
                continue
        out.append([line])
    return [sorted(row, key=lambda ln: ln.x0) for row in out]


def reading_order(lines: list[Line]) -> list[Line]:
    return [line for row in rows(lines) for line in row]


def _escape(text: str) -> str:
    # OCR text that starts like Markdown syntax must not turn into a heading or list by accident.
    return "\\" + text if text[:1] in "#>" or text[:2] in ("- ", "* ", "+ ") else text


def to_markdown(lines: list[Line]) -> str:
    """Rows become Markdown lines; large gaps split paragraphs; clearly taller rows become headings."""
    grouped = rows(lines)
    if not grouped:
        return ""
    med = median(line.height for line in lines) or 1.0
    blocks: list[list[str]] = []
    prev_bottom: float | None = None
    prev_heading = False
    for row in grouped:
        text = " ".join(line.text for line in row)
        top = min(line.y0 for line in row)
        ratio = max(line.height for line in row) / med
        heading = ratio >= HEADING_2
        new_block = (
            not blocks
            or heading
            or prev_heading
            or (prev_bottom is not None and top - prev_bottom > PARAGRAPH_GAP * med)
        )
        if heading:
            text = ("# " if ratio >= HEADING_1 else "## ") + text
        else:
            text = _escape(text)
        if new_block:
            blocks.append([text])
        else:
            blocks[-1].append(text)
        prev_bottom = max(line.y1 for line in row)
        prev_heading = heading
    return "\n\n".join("\n".join(block) for block in blocks)
