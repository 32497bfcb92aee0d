"""The `detector` model (CenterNet from @vladmandic/human, ONNX on onnxruntime/CPU): milliseconds per image and
precision/recall on the labelled set of tests/integration/test_detector.py.

One embedded Triton with the detector alone, called directly (tritonclient.grpc.aio `stream_infer`, a fresh stream
per request, one image per request, IMAGES/DOMAIN/CONFIG "{}"/TEXT_HINT ""), one request at a time:

- latency: every scene of the labelled set in turn (photos of skimage.data alone and side by side, 451x300 to
  1792x512 px, and a blank page), PNG-encoded, domain image.object-detection; after a warm-up round. It covers
  PNG decoding, the letterbox resize, the model and the post-processing inside Triton, and the gRPC round trip.
- accuracy: each scene once per domain. A detection is a true positive when it has the label of a hand-set box
  not matched yet and IoU >= 0.5 with it (greedy, most confident first); every other detection is a false
  positive, every box left unmatched a false negative. Labelled: persons, a cup and a cat; any other object
  the model reports (e.g. the table under the cup) counts against precision.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image
from tritonclient.grpc.aio import InferenceServerClient

from bench import common
from tests.integration import test_detector as labelled
from vlmgrpc.inference.embedded import EmbeddedTriton

NAME = "detection"
ROUNDS, SMOKE_ROUNDS = 25, 1  # latency rounds over the labelled set
DOMAINS = ("image.object-detection", "image.person-detection")
TARGETS = {"p50_ms": 150.0, "person_recall": 0.9, "person_precision": 0.9, "object_recall": 0.8}


def model_file() -> Path:
    """The ONNX file; built with the install step when absent."""
    path = Path(os.environ.get("VLM_DETECTOR_MODEL") or labelled.DEFAULT_MODEL_FILE)
    if not path.is_file():
        done = subprocess.run([sys.executable, str(labelled.BUILD), "--output", str(path)], capture_output=True,
                              text=True)
        if done.returncode != 0:
            raise RuntimeError(f"scripts/build_detector.py failed: {(done.stdout + done.stderr)[-2000:]}")
    return path.resolve()


def score(found: dict[str, list[dict]], truth: dict[str, list], labels: set[str] | None) -> dict[str, Any]:
    """Counts over the set; `labels` restricts the truth to those labels (None: every label)."""
    tp = fp = fn = 0
    for name, detections in found.items():
        boxes = [t for t in truth[name] if labels is None or t[0] in labels]
        matched, unmatched = labelled.match(detections, boxes)
        tp, fp, fn = tp + len(matched), fp + unmatched, fn + len(boxes) - len(matched)
    return {"tp": tp, "fp": fp, "fn": fn, "precision": tp / (tp + fp) if tp + fp else 1.0,
            "recall": tp / (tp + fn) if tp + fn else 1.0}


async def run(smoke: bool) -> dict[str, Any]:
    path = model_file()
    scenes = labelled.labelled_set()
    workdir = Path(tempfile.mkdtemp(prefix="bench-detection-"))
    triton = EmbeddedTriton(labelled.repository(workdir / "repo"), workdir / "triton", startup_timeout_s=120,
                            models={"detector": {"model_file": str(path)}})
    await triton.start()
    client = InferenceServerClient(triton.grpc_url)
    try:
        async def call(png: bytes, domain: str) -> list[dict]:
            bodies, error = await labelled.detect(client, [png], domain)
            if error is not None:
                raise RuntimeError(f"detector: {error}")
            return bodies[0]["result"]["detections"]

        for png, _ in scenes.values():  # warm-up: connections, model, code paths
            await call(png, DOMAINS[0])
        samples: list[float] = []
        for _ in range(SMOKE_ROUNDS if smoke else ROUNDS):
            for png, _ in scenes.values():
                started = time.perf_counter()
                await call(png, DOMAINS[0])
                samples.append(time.perf_counter() - started)
        latency = common.summary(samples)
        truth = {name: t for name, (_, t) in scenes.items()}
        found = {domain: {name: await call(png, domain) for name, (png, _) in scenes.items()} for domain in DOMAINS}
        accuracy = {
            "objects": score(found["image.object-detection"], truth, None),
            "persons": score(found["image.person-detection"], truth, {"person"}),
        }
        objects, persons = accuracy["objects"], accuracy["persons"]
        print(f"  p50 {latency['p50_ms']:.1f} ms p99 {latency['p99_ms']:.1f} ms per image | persons P "
              f"{persons['precision']:.2f} R {persons['recall']:.2f} | objects P {objects['precision']:.2f} "
              f"R {objects['recall']:.2f}", flush=True)
        result = {
            "smoke": smoke,
            "setup": {"model": "detector (CenterNet, @vladmandic/human 3.3.6, ONNX)", "domain": DOMAINS[0],
                      "scenes": {name: {"size": list(image_size(png)), "labelled": [t[0] for t in tr]}
                                 for name, (png, tr) in scenes.items()},
                      "rounds": SMOKE_ROUNDS if smoke else ROUNDS, "iou": 0.5,
                      "note": "one request of one PNG at a time on a fresh stream; client and Triton share the CPUs"},
            "latency": latency,
            "accuracy": accuracy,
            "detections": found,
            "targets": {
                "p50_ms": {"target": f"p50 <= {TARGETS['p50_ms']:.0f} ms per image (direct, one at a time)",
                           "measured": f"p50 {latency['p50_ms']:.1f} ms, p99 {latency['p99_ms']:.1f} ms",
                           "met": latency["p50_ms"] <= TARGETS["p50_ms"]},
                "persons": {"target": f"person recall >= {TARGETS['person_recall']} and precision >= "
                                      f"{TARGETS['person_precision']} at IoU 0.5 (image.person-detection)",
                            "measured": f"recall {persons['recall']:.2f}, precision {persons['precision']:.2f} "
                                        f"({persons['tp']} TP, {persons['fp']} FP, {persons['fn']} FN)",
                            "met": persons["recall"] >= TARGETS["person_recall"]
                            and persons["precision"] >= TARGETS["person_precision"]},
                "objects": {"target": f"object recall >= {TARGETS['object_recall']} at IoU 0.5, label matching "
                                      "(image.object-detection; precision reported)",
                            "measured": f"recall {objects['recall']:.2f}, precision {objects['precision']:.2f} "
                                        f"({objects['tp']} TP, {objects['fp']} FP, {objects['fn']} FN)",
                            "met": objects["recall"] >= TARGETS["object_recall"]},
            },
        }
        common.write_result(NAME, result)
        return result
    finally:
        await common.shut_down((client,), (), triton, workdir)


def image_size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as img:
        return img.size


if __name__ == "__main__":
    print(asyncio.run(run(smoke="--smoke" in sys.argv))["targets"])
