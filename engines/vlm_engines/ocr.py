"""OCR engine: rapidocr (PP-OCR ONNX models bundled in the rapidocr 3.10.0 wheel) on onnxruntime/CPU."""

from typing import Any

import numpy as np
from PIL import Image

from .layout import Line, reading_order, to_markdown


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
        # The embedded text layer (text_hint) is not used: the page is always read from its pixels.
        lines = self.lines(image)
        if domain == "document.markdown":
            return {"content": to_markdown(lines), "tables": [], "figures": []}
        w, h = image.size
        return {
            "text": "\n".join(line.text for line in lines),
            "lines": [
                {
                    "text": line.text,
                    "confidence": round(min(max(line.confidence, 0.0), 1.0), 4),
                    "bbox": {"xywh": _normalised_xywh(line, w, h)},
                }
                for line in lines
            ],
        }


def _normalised_xywh(line: Line, width: int, height: int) -> list[float]:
    """Box as [x, y, w, h] in 0..1 of the page size (VLM Run grounding convention), clipped to the page."""
    x0 = min(max(line.x0 / width, 0.0), 1.0)
    y0 = min(max(line.y0 / height, 0.0), 1.0)
    x1 = min(max(line.x1 / width, 0.0), 1.0)
    y1 = min(max(line.y1 / height, 0.0), 1.0)
    return [round(x0, 4), round(y0, 4), round(x1 - x0, 4), round(y1 - y0, 4)]
