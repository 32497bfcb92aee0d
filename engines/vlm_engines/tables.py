"""Table stage: the grid of a table region. rapid-table's bundled SLANet-plus (`slanet-plus.onnx`) predicts the
table's HTML structure (rows, cells, rowspan/colspan) and a rough box per cell; the page's OCR lines are then put
into the grid here.

Why not rapid-table's own matcher: its cell boxes overlap their neighbours by up to a third of a column, and it
pairs a line with the box of least 1 - IoU, which sends short words to the wrong cell. Here the boxes only place
the grid lines (between the median edges of neighbouring columns and rows); each OCR line then falls into the
grid cell under its centre. The session is built here from the bundled file (threads, no spinning); pre- and
post-processing are rapid-table's own."""

from __future__ import annotations

from bisect import bisect
from dataclasses import replace
from pathlib import Path
from statistics import median

import numpy as np
from PIL import Image

from .layout import rows
from .onnx import onnx_cpu_session
from .page import Cell, Line, Region, TableGrid

# SLANet-plus reads the crop resized so that its long side is this, padded to a square.
INPUT_SIDE = 488
# The crop is the layout box as is: its own margin suits the model, which reads wider crops worse (a 20 px
# margin turned a 4-column header row into one cell and a colspan=3).
# Lines whose centre is this close outside the box still belong to the table.
LINE_TOLERANCE_PX = 4


class TableModel:
    def __init__(self, threads: int = 1) -> None:
        import rapid_table
        from rapid_table.table_matcher import TableMatch
        from rapid_table.table_structure.utils import TableLabelDecode, TablePreprocess

        path = Path(rapid_table.__file__).parent / "models" / "slanet-plus.onnx"
        self._session = onnx_cpu_session(path, threads)
        tokens = self._session.get_modelmeta().custom_metadata_map["character"].splitlines()
        self._input = self._session.get_inputs()[0].name
        self._pre = TablePreprocess()
        self._decode = TableLabelDecode(tokens)
        self._logic = TableMatch().decode_logic_points

    def structure(self, crop: np.ndarray) -> tuple[list[str], np.ndarray, list[list[int]]]:
        """(HTML tokens, one [x0, y0, x1, y1] box per cell in crop pixels, one [row0, row1, col0, col1] per cell,
        in the order of the cells' <td> tokens) for a BGR crop of the table."""
        image, shape = self._pre({"image": crop})
        loc, probs = self._session.run(None, {self._input: image[None].astype(np.float32)})
        decoded = self._decode({"loc_preds": loc, "structure_probs": probs}, [shape[None]])
        tokens = decoded["structure_batch_list"][0][0]
        polygons = decoded["bbox_batch_list"][0]
        if not tokens or len(polygons) == 0:
            return [], np.zeros((0, 4)), []
        h, w = crop.shape[:2]
        # SLANet-plus boxes are relative to the padded square, not to the resized crop (rapid-table's
        # adapt_slanet_plus undoes it the same way).
        ratio = min(INPUT_SIDE / h, INPUT_SIDE / w)
        polygons = polygons.astype(np.float64)
        polygons[:, 0::2] *= INPUT_SIDE / (w * ratio)
        polygons[:, 1::2] *= INPUT_SIDE / (h * ratio)
        boxes = np.stack([polygons[:, 0::2].min(1), polygons[:, 1::2].min(1),
                          polygons[:, 0::2].max(1), polygons[:, 1::2].max(1)], axis=1)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return tokens, boxes, self._logic(tokens)

    def read(self, image: Image.Image, region: Region, lines: list[Line]) -> TableGrid | None:
        """The table in `region` as cells with text and boxes in page pixels; None when no text or no cell is found.
        `lines` are the page's lines (any order): those whose centre lies in the region fill the cells."""
        left, top = max(0, int(region.x0)), max(0, int(region.y0))
        right, bottom = min(image.width, int(np.ceil(region.x1))), min(image.height, int(np.ceil(region.y1)))
        if right - left < 8 or bottom - top < 8:
            return None
        tol = LINE_TOLERANCE_PX
        inside = [ln for ln in lines
                  if region.x0 - tol <= ln.cx <= region.x1 + tol and region.y0 - tol <= ln.cy <= region.y1 + tol]
        if not inside:  # no text: the model would still draw a grid of empty cells
            return None
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        crop = np.ascontiguousarray(np.asarray(rgb.crop((left, top, right, bottom)))[:, :, ::-1])
        _, boxes, logic = self.structure(crop)
        if not logic or len(logic) != len(boxes):
            return None
        return grid_of(region, boxes + [left, top, left, top], logic, inside)


def grid_of(region: Region, boxes: np.ndarray, logic: list[list[int]], lines: list[Line]) -> TableGrid:
    """Cells from the model's spans and boxes (page pixels), filled with the lines under them."""
    n_rows = max(r1 for _, r1, _, _ in logic) + 1
    n_cols = max(c1 for _, _, _, c1 in logic) + 1
    xs = _grid_lines([(c0, c1, b[0], b[2]) for (_, _, c0, c1), b in zip(logic, boxes, strict=True)],
                     n_cols, region.x0, region.x1)
    ys = _grid_lines([(r0, r1, b[1], b[3]) for (r0, r1, _, _), b in zip(logic, boxes, strict=True)],
                     n_rows, region.y0, region.y1)
    owner: dict[tuple[int, int], int] = {}
    for i, (r0, r1, c0, c1) in enumerate(logic):
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                owner.setdefault((r, c), i)
    filled: list[list[Line]] = [[] for _ in logic]
    for line in lines:
        row, col = bisect(ys[1:-1], line.cy), bisect(xs[1:-1], line.cx)
        i = owner.get((row, col))
        if i is None:  # a hole in the predicted grid: the nearest cell of that row, else of the table
            i = min(range(len(logic)), key=lambda k: (logic[k][0] > row or logic[k][1] < row,
                                                       min(abs(logic[k][2] - col), abs(logic[k][3] - col))))
        filled[i].append(line)
    cells = []
    for (r0, r1, c0, c1), cell_lines in zip(logic, filled, strict=True):
        x0, y0, x1, y1 = xs[c0], ys[r0], xs[c1 + 1], ys[r1 + 1]
        if cell_lines:  # the box holds all of the cell's text
            x0, y0 = min(x0, *(ln.x0 for ln in cell_lines)), min(y0, *(ln.y0 for ln in cell_lines))
            x1, y1 = max(x1, *(ln.x1 for ln in cell_lines)), max(y1, *(ln.y1 for ln in cell_lines))
        text = " ".join(ln.text for row in rows(cell_lines) for ln in row)
        cells.append(Cell(text, r0, c0, x0, y0, x1, y1, rowspan=r1 - r0 + 1, colspan=c1 - c0 + 1))
    cells, n_cols = drop_empty_columns(cells, n_cols)
    return TableGrid(tuple(cells), n_rows, n_cols, region.x0, region.y0, region.x1, region.y1)


def drop_empty_columns(cells: list[Cell], n_cols: int) -> tuple[list[Cell], int]:
    """Without the columns no text starts in: the model splits a wide column (a long description) in two,
    and the empty half would become a nameless column in every row."""
    used = {c.col for c in cells if c.text}
    empty = [k for k in range(n_cols) if k not in used]
    if not empty or len(empty) == n_cols:
        return cells, n_cols
    out = []
    for cell in cells:
        first, last = cell.col, cell.col + cell.colspan - 1
        kept = [k for k in range(first, last + 1) if k not in empty]
        if not kept:
            continue  # an empty cell of a dropped column
        shift = sum(1 for k in empty if k < kept[0])
        out.append(replace(cell, col=kept[0] - shift, colspan=len(kept)))
    return out, n_cols - len(empty)


def _grid_lines(spans: list[tuple[int, int, float, float]], n: int, start: float, end: float) -> list[float]:
    """n + 1 grid lines along one axis: the table's edges, and between tracks k-1 and k the middle of the median
    far edge of k-1 and the median near edge of k. spans: (first track, last track, near edge, far edge)."""
    near: list[list[float]] = [[] for _ in range(n)]
    far: list[list[float]] = [[] for _ in range(n)]
    for first, last, lo, hi in spans:
        if first == last:
            near[first].append(lo)
            far[first].append(hi)
    for first, last, lo, hi in spans:  # tracks only spanned over: split the spanning box evenly
        step = (hi - lo) / (last - first + 1)
        for k in range(first, last + 1):
            if not near[k]:
                near[k].append(lo + (k - first) * step)
                far[k].append(lo + (k - first + 1) * step)
    out = [start]
    for k in range(1, n):
        edges = ([median(far[k - 1])] if far[k - 1] else []) + ([median(near[k])] if near[k] else [])
        out.append(sum(edges) / len(edges) if edges else out[-1])  # a track no cell covers has no width
    return [start, *sorted(min(max(v, start), end) for v in out[1:]), end]
