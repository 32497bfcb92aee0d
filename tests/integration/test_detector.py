"""The `detector` Triton model (CenterNet, COCO) on a real embedded tritonserver, called over gRPC streaming,
on photos that ship inside scikit-image (skimage.data) and compositions of them with hand-set boxes."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import pytest_asyncio
from PIL import Image
from tritonclient.grpc import InferInput
from tritonclient.grpc.aio import InferenceServerClient

from vlmgrpc.catalog import Catalog
from vlmgrpc.inference.embedded import EmbeddedTriton, TritonStartError

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MODEL = "detector"
DOMAINS = ("image.object-detection", "image.person-detection")
BUILD = ROOT / "scripts" / "build_detector.py"
DEFAULT_MODEL_FILE = ROOT / "var" / "models" / "centernet-3.3.6.onnx"

# Ground truth in each photo's own pixels (x1, y1, x2, y2), set once by eye: each photo was drawn with a 50-px
# grid, then its box edges read on 3x crops with a 10-px grid (hair top, suit/coat edge, glove, cup rim...).
PHOTOS: dict[str, list[tuple[str, tuple[int, int, int, int]]]] = {
    "astronaut": [("person", (10, 15, 362, 512))],  # 512x512; the helmet she holds is not part of her
    "camera": [("person", (0, 63, 332, 512))],  # 512x512; the cameraman to his glove, not camera or tripod
    "coffee": [("cup", (172, 18, 410, 300))],  # 600x400; cup with handle, not saucer or spoon
    "chelsea": [("cat", (0, 0, 400, 300))],  # 451x300
}
# The labelled set: photos alone and side by side (scaled to one height), plus a blank page.
SCENES: dict[str, tuple[str, ...]] = {
    "astronaut": ("astronaut",),
    "coffee": ("coffee",),
    "chelsea": ("chelsea",),
    "astronaut+camera": ("astronaut", "camera"),
    "chelsea+astronaut": ("chelsea", "astronaut"),
    "camera+coffee": ("camera", "coffee"),
    "astronaut+coffee+camera": ("astronaut", "coffee", "camera"),
    "blank": (),
}


def photo(name: str) -> Image.Image:
    from skimage import data  # scikit-image: a test dependency; its photos ship inside the wheel

    return Image.fromarray(getattr(data, name)()).convert("RGB")


def scene(names: tuple[str, ...], height: int = 512) -> tuple[Image.Image, list[tuple[str, list[float]]]]:
    """Photos side by side at one height, and their labelled boxes normalised to the composition (xyxy)."""
    if not names:
        return Image.new("RGB", (640, 480), "white"), []
    parts, boxes, x = [], [], 0
    for name in names:
        img = photo(name)
        scale = height / img.height
        parts.append((img.resize((round(img.width * scale), height), Image.BILINEAR), x))
        boxes += [(label, [x + b[0] * scale, b[1] * scale, x + b[2] * scale, b[3] * scale])
                  for label, b in PHOTOS[name]]
        x += parts[-1][0].width
    out = Image.new("RGB", (x, height))
    for img, left in parts:
        out.paste(img, (left, 0))
    return out, [(label, [b[0] / x, b[1] / height, b[2] / x, b[3] / height]) for label, b in boxes]


def labelled_set() -> dict[str, tuple[bytes, list[tuple[str, list[float]]]]]:
    """scene name -> (PNG, [(label, normalised x1, y1, x2, y2)]); shared with bench/detection.py."""
    out = {}
    for name, names in SCENES.items():
        img, truth = scene(names)
        buf = io.BytesIO()
        img.save(buf, "PNG")
        out[name] = (buf.getvalue(), truth)
    return out


def iou(a: list[float], b: list[float]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def xyxy(detection: dict) -> list[float]:
    x, y, w, h = detection["bbox"]["xywh"]
    return [x, y, x + w, y + h]


def match(detections: list[dict], truth: list[tuple[str, list[float]]], threshold: float = 0.5):
    """Greedy matching, most confident first, same label and IoU >= threshold: (matched truth indexes, number of
    detections that matched nothing)."""
    matched: set[int] = set()
    unmatched = 0
    for det in detections:
        best = max(((iou(xyxy(det), box), i) for i, (label, box) in enumerate(truth)
                    if label == det["label"] and i not in matched), default=(0.0, -1))
        if best[0] >= threshold:
            matched.add(best[1])
        else:
            unmatched += 1
    return matched, unmatched


def _bytes_input(name: str, values: list[bytes]) -> InferInput:
    tensor = InferInput(name, [len(values)], "BYTES")
    tensor.set_data_from_numpy(np.array(values, dtype=np.object_))
    return tensor


async def detect(client: InferenceServerClient, images: list[bytes], domain: str) -> tuple[list[dict], str | None]:
    """One streamed request (IMAGES, DOMAIN, CONFIG "{}", TEXT_HINT): (response bodies, error message or None)."""
    inputs = [_bytes_input("IMAGES", images), _bytes_input("DOMAIN", [domain.encode()]),
              _bytes_input("CONFIG", [b"{}"]), _bytes_input("TEXT_HINT", [b""] * len(images))]

    async def requests():
        yield {"model_name": MODEL, "inputs": inputs}

    bodies: list[dict] = []
    async for result, error in client.stream_infer(requests(), stream_timeout=120):
        if error is not None:
            return bodies, str(error.message())
        bodies.append(json.loads(result.as_numpy("RESPONSE")[0]))
        if result.get_response().parameters["triton_final_response"].bool_param:
            break
    return bodies, None


def model_file() -> Path:
    """The ONNX file, built with the install step when absent; skips only when it cannot be built here."""
    path = Path(os.environ.get("VLM_DETECTOR_MODEL") or DEFAULT_MODEL_FILE)
    if not path.is_file():
        done = subprocess.run([sys.executable, str(BUILD), "--output", str(path)], capture_output=True, text=True,
                              timeout=900)
        if done.returncode != 0 or not path.is_file():
            tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
            pytest.skip(f"detector model {path} is absent and `python scripts/build_detector.py` failed: "
                        + " | ".join(tail))
    return path


def repository(dest: Path) -> Path:
    """A repository holding the detector the way the tests of the other models do: 1/ is a symlink."""
    folder = dest / MODEL
    folder.mkdir(parents=True)
    (folder / "1").symlink_to(ROOT / "triton_models" / MODEL / "1")
    shutil.copy(ROOT / "triton_models" / MODEL / "config.pbtxt", folder / "config.pbtxt")
    return dest


@pytest_asyncio.fixture(scope="module")
async def triton(tmp_path_factory):
    path = model_file()
    # The default path is left to the model's own resolution (relative to the checkout, through the symlink).
    params = {} if path.resolve() == DEFAULT_MODEL_FILE.resolve() else {"model_file": str(path.resolve())}
    root = tmp_path_factory.mktemp("detector")
    server = EmbeddedTriton(repository(root / "repo"), root / "triton", startup_timeout_s=120,
                            restart_backoff_max_s=2, models={MODEL: params})
    started = time.monotonic()
    await server.start()
    print(f"embedded Triton with the detector ready in {time.monotonic() - started:.1f}s")
    supervisor = asyncio.create_task(server.supervise())
    yield server
    await server.stop()
    await asyncio.wait_for(supervisor, 10)


@pytest_asyncio.fixture(scope="module")
async def client(triton):
    async with InferenceServerClient(triton.grpc_url) as c:
        yield c


@pytest.fixture(scope="module")
def scenes():
    return labelled_set()


def check_schema(body: dict, domain: str) -> None:
    jsonschema.validate(body["result"], Catalog().schema(domain).json_schema)
    detections = body["result"]["detections"]
    assert [d["confidence"] for d in detections] == sorted((d["confidence"] for d in detections), reverse=True)
    for d in detections:
        x, y, w, h = d["bbox"]["xywh"]
        assert w > 0 and h > 0 and x + w <= 1.0001 and y + h <= 1.0001


async def test_config_announces_domains(client):
    config = await client.get_model_config(MODEL, as_json=True)
    assert config["config"]["parameters"]["domains"]["string_value"] == ",".join(DOMAINS)


@pytest.mark.parametrize("name", [n for n, names in SCENES.items() if "astronaut" in names or "camera" in names])
async def test_every_person_found_and_nothing_else(client, scenes, name):
    png, truth = scenes[name]
    started = time.monotonic()
    bodies, error = await detect(client, [png], "image.person-detection")
    print(f"{name}: {time.monotonic() - started:.2f}s {bodies and bodies[0]['result']}")
    assert error is None and len(bodies) == 1
    check_schema(bodies[0], "image.person-detection")
    persons = [t for t in truth if t[0] == "person"]
    detections = bodies[0]["result"]["detections"]
    assert all(d["label"] == "person" for d in detections)
    matched, unmatched = match(detections, persons)
    assert matched == set(range(len(persons))), f"persons found: {sorted(matched)} of {len(persons)}"
    assert unmatched == 0


@pytest.mark.parametrize(("name", "label"), [("coffee", "cup"), ("chelsea", "cat"), ("astronaut", "person")])
async def test_objects_found_with_their_coco_label(client, scenes, name, label):
    png, truth = scenes[name]
    bodies, error = await detect(client, [png], "image.object-detection")
    assert error is None
    check_schema(bodies[0], "image.object-detection")
    detections = bodies[0]["result"]["detections"]
    matched, _ = match(detections, truth)
    assert matched == {0}, f"no {label} with IoU >= 0.5 in {detections}"
    assert detections[0]["label"] == label  # the most confident detection is the photo's subject


async def test_blank_image_reports_nothing(client, scenes):
    png, _ = scenes["blank"]
    for domain in DOMAINS:
        bodies, error = await detect(client, [png, png], domain)
        assert error is None
        assert [b["result"] for b in bodies] == [{"detections": []}] * 2


async def test_images_answered_in_order_with_their_size(client, scenes):
    pngs = [scenes["blank"][0], scenes["astronaut+camera"][0]]
    bodies, error = await detect(client, pngs, "image.person-detection")
    assert error is None
    assert [(b["index"], b["width"], b["height"]) for b in bodies] == [(0, 640, 480), (1, 1024, 512)]
    assert len(bodies[1]["result"]["detections"]) == 2


async def test_other_domain_is_not_served(client, scenes):
    bodies, error = await detect(client, [scenes["blank"][0]], "document.ocr")
    assert bodies == [] and error.startswith("DOMAIN_NOT_SERVED: ")


async def test_missing_model_file_fails_the_load_naming_the_install_step(tmp_path):
    server = EmbeddedTriton(repository(tmp_path / "repo"), tmp_path / "triton", startup_timeout_s=120,
                            models={MODEL: {"model_file": str(tmp_path / "absent.onnx")}})
    try:
        with pytest.raises(TritonStartError, match="build_detector.py"):
            await server.start()
    finally:
        await server.stop()
