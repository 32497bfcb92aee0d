"""Object and person detection: MobileNetV3-CenterNet (COCO, 80 classes, MIT) from the npm package
@vladmandic/human 3.3.6, converted to ONNX at install time by scripts/build_detector.py, on onnxruntime/CPU."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .onnx import onnx_cpu_session

INPUT_SIZE = 512  # the graph's fixed input: [1, 512, 512, 3]
DEFAULT_MODEL_FILE = "var/models/centernet-3.3.6.onnx"  # where scripts/build_detector.py caches it
# Class ids 0..79 of the model, in the order of human's src/object/labels.ts (COCO's 80 names).
LABELS = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)
PERSON = 0


def model_file(value: str | None, root: str | Path) -> Path:
    """The ONNX path of the `model_file` parameter: "$NAME" parts come from the environment, an empty value is
    the build script's cache, and relative paths resolve against `root` (the checkout holding triton_models/)."""
    path = Path(os.path.expandvars((value or "").strip()) or DEFAULT_MODEL_FILE)
    return path if path.is_absolute() else Path(root) / path


def letterbox(width: int, height: int) -> tuple[float, int, int, int, int]:
    """Scale and placement of the image inside the 512x512 input: (scale, dx, dy, new width, new height)."""
    scale = INPUT_SIZE / max(width, height)
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    return scale, (INPUT_SIZE - w) // 2, (INPUT_SIZE - h) // 2, w, h


def preprocess(image: Image.Image) -> np.ndarray:
    """RGB image -> [1, 512, 512, 3] float32 0..255, letterboxed: resized keeping its aspect (bilinear) and centred
    on black, no normalisation. That is how upstream trained and ran the model (610265158/mobilenetv3_centernet:
    aspect-kept resize onto a zero canvas); a plain squash to 512x512, as human does, loses objects in wide images."""
    scale, dx, dy, w, h = letterbox(*image.size)
    canvas = np.zeros((1, INPUT_SIZE, INPUT_SIZE, 3), dtype=np.float32)
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    # reducing_gap: big photos shrink by an integer factor first (2x faster on 12 MP, the same to the model).
    canvas[0, dy:dy + h, dx:dx + w] = np.asarray(rgb.resize((w, h), Image.BILINEAR, reducing_gap=2.0))
    return canvas


def normalised_boxes(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """x1, y1, x2, y2 in input (512-px, letterboxed) coordinates -> fractions 0..1 of the original image."""
    scale, dx, dy, _, _ = letterbox(width, height)
    out = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    out[:, [0, 2]] = (out[:, [0, 2]] - dx) / scale / width
    out[:, [1, 3]] = (out[:, [1, 3]] - dy) / scale / height
    return np.clip(out, 0.0, 1.0)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of box a [4] against boxes b [n, 4], all x1, y1, x2, y2."""
    w = np.clip(np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0]), 0, None)
    h = np.clip(np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1]), 0, None)
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def postprocess(raw: np.ndarray, width: int, height: int, score_threshold: float, max_detections: int,
                nms_iou: float, person_only: bool = False) -> list[dict[str, Any]]:
    """Model rows [n, 6] (x1, y1, x2, y2 in 512-px input coordinates, score, class) for an image of width x height
    -> detections, most confident first, boxes as normalised xywh clipped to the image.

    The graph keeps the top 100 heatmap peaks, and neighbouring peaks repeat one object, so overlapping boxes of
    one class are suppressed (greedy NMS, as human does after the model). NMS is per class: a rider and the
    horse under them overlap and are both kept."""
    rows = np.asarray(raw, dtype=np.float64).reshape(-1, 6)
    rows = rows[np.isfinite(rows).all(axis=1)]
    cls = rows[:, 5].round()
    keep = (rows[:, 4] >= score_threshold) & (cls >= 0) & (cls < len(LABELS))
    if person_only:
        keep &= cls == PERSON
    rows, cls = rows[keep], cls[keep].astype(int)
    boxes = normalised_boxes(rows[:, :4], width, height)
    sized = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    rows, cls, boxes = rows[sized], cls[sized], boxes[sized]
    order = np.argsort(-rows[:, 4], kind="stable")
    chosen: list[int] = []
    for i in order:
        if len(chosen) >= max_detections:
            break
        same = [j for j in chosen if cls[j] == cls[i]]
        if same and iou(boxes[i], boxes[same]).max() > nms_iou:
            continue
        chosen.append(i)
    out = []
    for i in chosen:
        x0, y0, x1, y1 = (round(float(v), 4) for v in boxes[i])
        out.append({
            "label": LABELS[cls[i]],
            "confidence": round(min(max(float(rows[i, 4]), 0.0), 1.0), 4),
            "bbox": {"xywh": [x0, y0, round(x1 - x0, 4), round(y1 - y0, 4)]},
        })
    return out


class DetectorEngine:
    DOMAINS = ("image.object-detection", "image.person-detection")

    def __init__(self, params: dict[str, str]) -> None:
        path = model_file(params.get("model_file"), params.get("repository_root") or Path.cwd())
        if not path.is_file():
            raise FileNotFoundError(f"detector model file {path} is missing: build it once with "
                                    "`python scripts/build_detector.py` (or set the model_file parameter)")
        self.score_threshold = float(params.get("score_threshold") or 0.3)
        self.max_detections = int(params.get("max_detections") or 50)
        self.nms_iou = float(params.get("nms_iou") or 0.5)
        # Idle threads sleep instead of spinning: on a few cores, spinning starves the Triton stub and server
        # around each run (p50 160 -> 82 ms per image through Triton on 2 cores).
        self._session = onnx_cpu_session(path, int(params.get("intra_op_threads") or 2))
        self._input = self._session.get_inputs()[0].name
        self._output = self._session.get_outputs()[0].name

    def raw(self, image: Image.Image) -> np.ndarray:
        """The model's rows [100, 6] for one image."""
        return self._session.run([self._output], {self._input: preprocess(image)})[0][0]

    def run(self, image: Image.Image, domain: str, config: dict[str, Any], text_hint: str) -> dict[str, Any]:
        # Boxes and confidences are always returned, so config.grounding/confidence need nothing; the prompt and
        # text layer mean nothing to a detector.
        person = domain == "image.person-detection"
        return {"detections": postprocess(self.raw(image), image.width, image.height, self.score_threshold,
                                          self.max_detections, self.nms_iou, person_only=person)}
