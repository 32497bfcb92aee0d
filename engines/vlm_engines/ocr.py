"""OCR engine: rapidocr (PP-OCR ONNX models bundled in the rapidocr 3.10.0 wheel) on onnxruntime/CPU."""

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .layout import reading_order, to_markdown
from .onnx import onnx_cpu_session
from .page import Line
from .recognise import SplitRecogniser

# Detection runs on the page scaled so its longer side is this many pixels: an A4 page at 150 dpi
# (1240 x 1754) is read at 0.73x, where 6 pt text is still ~9 px tall, for about half the detector's time.
DETECT_SIDE = 1280
# rapidocr's own box growth. Larger boxes make narrower crops at the recogniser's fixed 48-px height (it costs
# ~42 us per crop pixel column here), but 2.0 already lost words on small print; 1.6 read them all.
UNCLIP_RATIO = 1.6
# Blank bands of the page are cut out before detection (whose time grows with the area), keeping this many
# pixels of white around the ink so every line keeps its margin; an A4 invoice loses ~40 % of its rows.
BLANK_MARGIN = 24
INK = 128  # a pixel darker than this is ink
# Line crops are batched at least this wide (rapidocr's default 320 pads every short crop, "12" or "£4.01", to
# 320 columns: on an invoice page a third of the recogniser's work was padding).
MIN_CROP_WIDTH = 96


class OcrEngine:
    DOMAINS = ("document.ocr", "document.markdown")

    def __init__(self, params: dict[str, str]) -> None:
        import rapidocr
        from rapidocr import RapidOCR

        threads = int(params.get("intra_op_threads", "2"))
        # Only runtime knobs are set here: any other model, language or OCR version makes rapidocr
        # download weights at run time, while the default route uses the files inside its wheel.
        self.detect_side = int(params.get("detect_side") or DETECT_SIDE)
        self._ocr = RapidOCR(
            params={
                "Global.log_level": "error",
                # Per-line 0/180 classification costs ~30 ms a page; whole pages are turned upright before OCR.
                "Global.use_cls": (params.get("line_classifier") or "false").lower() == "true",
                "Det.limit_side_len": self.detect_side,
                "Det.limit_type": "max",
                "Det.unclip_ratio": float(params.get("unclip_ratio") or UNCLIP_RATIO),
                "Rec.rec_img_shape": [3, 48, MIN_CROP_WIDTH],
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )

        # rapidocr 3.10.0 reads the detector's limit_side_len on every call: it is set per page below, so that
        # a page with its blank bands cut out is detected at the scale of the whole page.
        self._detector = self._ocr._load_det_model()
        # Its sessions spin idle threads, which inside Triton starve the stub and the server on a few cores: the
        # same bundled model files get sessions whose idle threads sleep.
        recogniser = self._ocr._load_rec_model()
        models = Path(rapidocr.__file__).parent / "models"
        self._detector.session.session = onnx_cpu_session(models / "PP-OCRv6_det_small.onnx", threads)
        # Lines are recognised on `threads` threads at once, each on one core (recognise.py).
        recogniser.session.session = onnx_cpu_session(models / "PP-OCRv6_rec_small.onnx", 1)
        self._ocr.text_rec = SplitRecogniser(recogniser, threads)

    def lines(self, image: Image.Image) -> list[Line]:
        """Text lines in reading order, boxes in pixels."""
        inked = without_blank_bands(image)
        if inked is None:
            return []
        page, rows, left = inked
        self._detector.limit_side_len = max(32, round(self.detect_side * max(page.size) / max(image.size)))
        out = self._ocr(page)
        if out.boxes is None or out.txts is None:
            return []
        lines = []
        last = len(rows) - 1
        for box, text, score in zip(out.boxes, out.txts, out.scores, strict=True):
            text = text.strip()
            if not text:
                continue
            pts = np.asarray(box, dtype=float)
            x0, y0 = pts.min(axis=0)
            x1, y1 = pts.max(axis=0)
            y0, y1 = rows[min(max(int(y0), 0), last)], rows[min(max(int(np.ceil(y1)), 0), last)]
            lines.append(Line(text, float(score), float(x0 + left), float(y0), float(x1 + left), float(y1)))
        return reading_order(lines)

    def run(self, image: Image.Image, domain: str, config: dict[str, Any], text_hint: str) -> dict[str, Any]:
        # The plain OCR engine reads every page from its pixels; the document engine (document.py) adds the
        # text layer, orientation, layout and tables.
        lines = self.lines(image)
        if domain == "document.markdown":
            return {"content": to_markdown(lines), "tables": [], "figures": []}
        return ocr_page(lines, *image.size)


def without_blank_bands(image: Image.Image) -> tuple[Image.Image, np.ndarray, int] | None:
    """The page with its blank rows (beyond BLANK_MARGIN of any ink) and blank side margins cut out, the page row
    of each remaining row, and the left offset; None for a page with no ink at all."""
    dark = np.asarray(image.convert("L")) < INK
    ink_rows = dark.sum(axis=1) > 1
    if not ink_rows.any():
        return None
    window = np.ones(2 * BLANK_MARGIN + 1, dtype=np.int32)
    rows = np.flatnonzero(np.convolve(ink_rows.astype(np.int32), window, mode="same") > 0)
    cols = np.flatnonzero(dark.sum(axis=0) > 1)
    left = max(int(cols[0]) - BLANK_MARGIN, 0)
    right = min(int(cols[-1]) + BLANK_MARGIN + 1, image.width)
    if len(rows) == image.height and left == 0 and right == image.width:
        return image, rows, 0
    rgb = np.asarray(image.convert("RGB"))
    return Image.fromarray(np.ascontiguousarray(rgb[rows, left:right])), rows, left


def ocr_page(lines: list[Line], width: int, height: int) -> dict[str, Any]:
    """A document.ocr page from its lines."""
    return {
        "text": "\n".join(line.text for line in lines),
        "lines": [
            {
                "text": line.text,
                "confidence": round(min(max(line.confidence, 0.0), 1.0), 4),
                "bbox": {"xywh": normalised_xywh(line, width, height)},
            }
            for line in lines
        ],
    }


def normalised_xywh(line: Line, width: int, height: int) -> list[float]:
    """Box as [x, y, w, h] in 0..1 of the page size (VLM Run grounding convention), clipped to the page."""
    x0 = min(max(line.x0 / width, 0.0), 1.0)
    y0 = min(max(line.y0 / height, 0.0), 1.0)
    x1 = min(max(line.x1 / width, 0.0), 1.0)
    y1 = min(max(line.y1 / height, 0.0), 1.0)
    return [round(x0, 4), round(y0, 4), round(x1 - x0, 4), round(y1 - y0, 4)]
