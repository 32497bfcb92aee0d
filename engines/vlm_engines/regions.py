"""Layout stage: blocks of the page (text, title, table, figure, captions, header, footer...) found by rapid-layout's
bundled PP-PicoDet model `layout_cdla.onnx` (CDLA's 10 classes) on onnxruntime/CPU.

The session is built here from the bundled file (rapid-layout's own engine cannot turn thread spinning off, and
any other of its models is downloaded at run time); pre- and post-processing are rapid-layout's own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .onnx import onnx_cpu_session
from .page import REGION_KINDS, Region

# Below this the model's boxes are mostly duplicates of better ones or noise (rapid-layout's default too).
SCORE_THRESHOLD = 0.5
# Same-class non-maximum suppression inside rapid-layout's post-processing.
NMS_IOU = 0.5
# A box this much covered by higher-scored boxes (any class) repeats them: the model often gives one block two
# classes (text and reference, figure_caption and reference) or a page-wide box over two columns.
COVERED = 0.7


class LayoutModel:
    def __init__(self, threads: int = 1) -> None:
        import rapid_layout
        from rapid_layout.model_handler.pp.post_process import PPPostProcess
        from rapid_layout.model_handler.pp.pre_process import PPPreProcess

        path = Path(rapid_layout.__file__).parent / "models" / "layout_cdla.onnx"
        self._session = onnx_cpu_session(path, threads)
        labels = self._session.get_modelmeta().custom_metadata_map["character"].splitlines()
        if tuple(labels) != REGION_KINDS:
            raise RuntimeError(f"layout_cdla.onnx has classes {labels}, expected {REGION_KINDS}")
        self._input = self._session.get_inputs()[0].name
        self._outputs = [o.name for o in self._session.get_outputs()]
        # The graph's fixed input is 800 high x 608 wide (pages are squashed to it, as rapid-layout does).
        self._pre = PPPreProcess(img_size=(800, 608))
        self._post = PPPostProcess(labels, SCORE_THRESHOLD, NMS_IOU)

    def regions(self, image: Image.Image) -> list[Region]:
        """The page's blocks in pixels of `image`, best score first, without duplicates."""
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        bgr = np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])  # the model was trained on OpenCV's BGR
        batch = self._pre(bgr)
        preds = self._session.run(self._outputs, {self._input: batch})
        boxes, scores, kinds = self._post(bgr.shape[:2], batch, preds)
        found = [Region(kind, float(score), *(float(v) for v in box))
                 for box, score, kind in zip(boxes, scores, kinds, strict=True)]
        return without_duplicates(found)


def _area(r: Region) -> float:
    return max(0.0, r.x1 - r.x0) * max(0.0, r.y1 - r.y0)


def _intersection(a: Region, b: Region) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def without_duplicates(found: list[Region]) -> list[Region]:
    """Best first; a region mostly covered by better ones (of any class) is dropped."""
    kept: list[Region] = []
    for region in sorted(found, key=lambda r: -r.score):
        area = _area(region)
        if area <= 0:
            continue
        covered = sum(_intersection(region, k) for k in kept)
        if covered < COVERED * area:
            kept.append(region)
    return kept
