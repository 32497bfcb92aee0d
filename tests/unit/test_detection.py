"""The detector engine's pre- and post-processing on synthetic arrays (no model file, no Triton)."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from PIL import Image
from vlm_engines import detection as det

from vlmgrpc.catalog import Catalog

ROOT = Path(__file__).resolve().parents[2]


def rows(*specs: tuple[float, float, float, float, float, int]) -> np.ndarray:
    """Model output rows: x1, y1, x2, y2 (512-px input coordinates), score, class."""
    return np.array(specs, dtype=np.float32).reshape(-1, 6)


def post(raw: np.ndarray, size=(512, 512), threshold=0.3, max_detections=50, nms_iou=0.5, person_only=False):
    return det.postprocess(raw, *size, threshold, max_detections, nms_iou, person_only)


def test_labels_are_the_80_coco_names_in_human_order():
    assert len(det.LABELS) == 80 and len(set(det.LABELS)) == 80
    assert all(label == label.lower() for label in det.LABELS)
    assert (det.LABELS[0], det.LABELS[15], det.LABELS[16], det.LABELS[41], det.LABELS[79]) == (
        "person", "cat", "dog", "cup", "toothbrush")


@pytest.mark.parametrize(("size", "expected"), [
    ((512, 512), (1.0, 0, 0, 512, 512)),
    ((1024, 512), (0.5, 0, 128, 512, 256)),
    ((300, 600), (512 / 600, 128, 0, 256, 512)),
    ((100, 50), (5.12, 0, 128, 512, 256)),  # small images are scaled up
])
def test_letterbox_keeps_the_aspect_and_centres(size, expected):
    scale, dx, dy, w, h = det.letterbox(*size)
    assert scale == pytest.approx(expected[0]) and (dx, dy, w, h) == expected[1:]


def test_preprocess_pads_with_black_and_keeps_0_255():
    img = Image.new("RGB", (1024, 512), (200, 100, 50))
    x = det.preprocess(img)
    assert x.shape == (1, 512, 512, 3) and x.dtype == np.float32
    assert (x[0, :128] == 0).all() and (x[0, 384:] == 0).all()  # bands above and below the image
    assert (x[0, 128:384] == [200, 100, 50]).all()  # no normalisation


@pytest.mark.parametrize("size", [(1000, 250), (240, 960), (512, 512), (333, 777)])
def test_boxes_map_back_to_the_original_image(size):
    """A white rectangle drawn at a known place is found back there: preprocess and the box mapping agree."""
    w, h = size
    box = (int(w * 0.2), int(h * 0.3), int(w * 0.7), int(h * 0.9))
    img = Image.new("RGB", size, "black")
    img.paste((255, 255, 255), box)
    x = det.preprocess(img)[0, :, :, 0]
    ys, xs = np.nonzero(x > 127)
    found = det.normalised_boxes([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], w, h)[0]
    expected = np.array([box[0] / w, box[1] / h, box[2] / w, box[3] / h])
    assert np.abs(found - expected).max() < 2 * max(w, h) / 512 / min(w, h)  # within a pixel of the input


def test_detection_fields_label_confidence_and_normalised_xywh():
    # 1024x512 image: the input's image band is y 128..384; this box covers the left half, full height.
    out = post(rows((0, 128, 256, 384, 0.8, 0), (256, 192, 384, 320, 0.6, 41)), size=(1024, 512))
    assert out == [
        {"label": "person", "confidence": 0.8, "bbox": {"xywh": [0.0, 0.0, 0.5, 1.0]}},
        {"label": "cup", "confidence": 0.6, "bbox": {"xywh": [0.5, 0.25, 0.25, 0.5]}},
    ]


def test_boxes_are_clipped_to_the_image_and_those_in_the_padding_dropped():
    out = post(rows((-20, 100, 100, 450, 0.9, 0), (10, 0, 100, 120, 0.8, 2)), size=(1024, 512))
    assert len(out) == 1  # the second box lies in the black band above the image
    x, y, w, h = out[0]["bbox"]["xywh"]
    assert x == 0.0 and y == 0.0 and y + h == 1.0 and w == pytest.approx(100 / 512, abs=1e-4)


def test_sorted_by_confidence_threshold_and_max_detections():
    raw = rows(*[(i * 40, 0, i * 40 + 30, 30, score, 0) for i, score in enumerate([0.2, 0.9, 0.31, 0.5, 0.3, 0.7])])
    assert [d["confidence"] for d in post(raw)] == [0.9, 0.7, 0.5, 0.31, 0.3]
    assert [d["confidence"] for d in post(raw, threshold=0.5)] == [0.9, 0.7, 0.5]
    assert [d["confidence"] for d in post(raw, max_detections=2)] == [0.9, 0.7]
    assert post(raw, threshold=0.95) == []


def test_duplicates_of_one_class_are_suppressed_other_classes_kept():
    raw = rows((100, 100, 300, 400, 0.6, 0), (105, 95, 310, 405, 0.4, 0),  # one person, two peaks
               (100, 200, 300, 500, 0.5, 17),  # the horse under them
               (320, 100, 450, 400, 0.35, 0))  # a second person beside
    out = post(raw)
    assert [(d["label"], d["confidence"]) for d in out] == [("person", 0.6), ("horse", 0.5), ("person", 0.35)]
    assert len(post(raw, nms_iou=0.99)) == 4


def test_person_domain_keeps_persons_only():
    raw = rows((0, 0, 100, 100, 0.9, 15), (200, 200, 300, 300, 0.5, 0))
    assert [d["label"] for d in post(raw, person_only=True)] == ["person"]


def test_invalid_rows_are_ignored():
    raw = rows((0, 0, 100, 100, 0.9, 0), (0, 0, 100, 100, np.nan, 0), (0, 0, 100, 100, 0.9, 80),
               (0, 0, 100, 100, 0.9, -1), (50, 50, 50, 90, 0.9, 2))
    assert [d["label"] for d in post(raw)] == ["person"]


@pytest.mark.parametrize(("domain", "person_only"), [("image.object-detection", False),
                                                      ("image.person-detection", True)])
def test_answers_validate_against_the_published_schema(domain, person_only):
    raw = rows((0, 0, 512, 512, 0.99, 0), (10, 10, 50, 50, 1.0, 41), (400, 300, 530, 530, 0.3, 0))
    result = {"detections": post(raw, size=(640, 480), person_only=person_only)}
    assert result["detections"]
    jsonschema.validate(result, Catalog().schema(domain).json_schema)
    jsonschema.validate({"detections": []}, Catalog().schema(domain).json_schema)


def test_model_file_resolution(monkeypatch, tmp_path):
    assert det.model_file("", "/repo") == Path("/repo/var/models/centernet-3.3.6.onnx")
    assert det.model_file("models/x.onnx", "/repo") == Path("/repo/models/x.onnx")
    assert det.model_file("/abs/x.onnx", "/repo") == Path("/abs/x.onnx")
    monkeypatch.setenv("DETECTOR_DIR", str(tmp_path))
    assert det.model_file("$DETECTOR_DIR/x.onnx", "/repo") == tmp_path / "x.onnx"


def test_missing_model_file_names_the_install_step(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape("python scripts/build_detector.py")):
        det.DetectorEngine({"model_file": "absent.onnx", "repository_root": str(tmp_path)})


def test_config_matches_the_engine():
    config = (ROOT / "triton_models" / "detector" / "config.pbtxt").read_text()
    domains = re.search(r'key: "domains"\s*value \{ string_value: "([^"]*)" \}', config).group(1)
    assert tuple(domains.split(",")) == det.DetectorEngine.DOMAINS
    default = re.search(r'key: "model_file"\s*value \{ string_value: "([^"]*)" \}', config).group(1)
    assert default == det.DEFAULT_MODEL_FILE


def test_install_step_writes_where_the_engine_looks():
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_detector", ROOT / "scripts" / "build_detector.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    assert build.DEFAULT_OUTPUT == ROOT / det.DEFAULT_MODEL_FILE
