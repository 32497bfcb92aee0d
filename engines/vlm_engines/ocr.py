"""OCR engine: rapidocr (PP-OCR ONNX models bundled in the rapidocr 3.10.0 wheel) on onnxruntime/CPU."""

from typing import Any

import numpy as np
from PIL import Image

from .layout import reading_order, to_markdown
from .page import Line

# Detection runs on the page scaled so its longer side is this many pixels: an A4 page at 150 dpi
# (1240 x 1754) is read at 0.73x, where 6 pt text is still ~9 px tall, for about half the detector's time.
DETECT_SIDE = 1280
# Boxes grown by this much around the detected text: a taller crop is a narrower one once scaled to the
# recogniser's 48-pixel height, and recognition time grows with the crop's width.
UNCLIP_RATIO = 2.0


class OcrEngine:
    DOMAINS = ("document.ocr", "document.markdown")

    def __init__(self, params: dict[str, str]) -> None:
        from rapidocr import RapidOCR

        threads = int(params.get("intra_op_threads", "2"))
        # Only runtime knobs are set here: any other model, language or OCR version makes rapidocr
        # download weights at run time, while the default route uses the files inside its wheel.
        self._ocr = RapidOCR(
            params={
                "Global.log_level": "error",
                # Per-line 0/180 classification costs ~30 ms a page; whole pages are turned upright before OCR.
                "Global.use_cls": (params.get("line_classifier") or "false").lower() == "true",
                "Det.limit_side_len": int(params.get("detect_side") or DETECT_SIDE),
                "Det.limit_type": "max",
                "Det.unclip_ratio": float(params.get("unclip_ratio") or UNCLIP_RATIO),
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )

    def lines(self, image: Image.Image) -> list[Line]:
        """Text lines in reading order, boxes in pixels."""
        out = self._ocr(image)
        if out.boxes is None or out.txts is None:
            return []
        lines = []
        for box, text, score in zip(out.boxes, out.txts, out.scores, strict=True):
            text = text.strip()
            if not text:
                continue
            pts = np.asarray(box, dtype=float)
            x0, y0 = pts.min(axis=0)
            x1, y1 = pts.max(axis=0)
            lines.append(Line(text, float(score), float(x0), float(y0), float(x1), float(y1)))
        return reading_order(lines)

    def run(self, image: Image.Image, domain: str, config: dict[str, Any], text_hint: str) -> dict[str, Any]:
        # The plain OCR engine reads every page from its pixels; the document engine (document.py) adds the
        # text layer, orientation, layout and tables.
        lines = self.lines(image)
        if domain == "document.markdown":
            return {"content": to_markdown(lines), "tables": [], "figures": []}
        return ocr_page(lines, *image.size)


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
