#!/usr/bin/env python3
"""Install step of the `detector` model: build the CenterNet ONNX file once and cache it.

The model (MobileNetV3-CenterNet, 80 COCO classes, MIT) ships as a TFJS graph inside the npm package
@vladmandic/human 3.3.6. This script fetches that package with `npm pack`, converts its graph to ONNX with
tf2onnx in a throwaway venv (tensorflow never enters the project's venv), checks the result with onnxruntime
on a photo from the same package, and writes it to the cache (default var/models/centernet-3.3.6.onnx;
--output or $VLM_DETECTOR_MODEL override it) with a manifest beside it.

tf2onnx does not write byte-identical files from run to run (node names differ; the numbers are the same), so the
script pins what goes in (the sha256 of the package's model files) and what comes out (the top detections on the
check photo, within a small tolerance); the manifest records the built file's sha256. When the cached file
matches its manifest the script does nothing, so `make serve`, CI and the Dockerfile can run it every time.

    python scripts/build_detector.py [--output PATH] [--check] [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE, VERSION = "@vladmandic/human", "3.3.6"
DEFAULT_OUTPUT = ROOT / "var" / "models" / f"centernet-{VERSION}.onnx"
# The files used from the package, with their sha256 (the package's own integrity is checked by npm).
SOURCES = {
    "models/centernet.json": "bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05",
    "models/centernet.bin": "1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef",
    "assets/samples.jpg": "cc08cc353cbb38beb0ac32a0900a92e78a3656acb477212ac360e3da6331bb9e",
}
# The converter, pinned (onnx 1.17.0 is the last release that accepts protobuf < 4).
CONVERTER = ["tensorflow-cpu==2.15.1", "tf2onnx==1.16.1", "onnx==1.17.0", "numpy<2", "protobuf<4"]
OUTPUT_NAME = "tower_0/detections"
# Top 5 rows (x1, y1, x2, y2 in 512-px input coordinates, score, class) of the model on assets/samples.jpg
# resized to 512x512 (Pillow bilinear), as the verified conversion gave them; all persons.
EXPECTED = [
    (65.51, -0.18, 123.11, 73.31, 0.5364, 0),
    (148.84, 1.64, 209.87, 63.64, 0.4728, 0),
    (96.38, 204.79, 157.39, 500.20, 0.3892, 0),
    (279.89, 2.65, 307.83, 71.04, 0.3703, 0),
    (416.36, 238.39, 508.24, 505.65, 0.3489, 0),
]
BOX_TOLERANCE_PX, SCORE_TOLERANCE = 1.0, 0.005  # room for other CPUs, onnxruntime and JPEG decoder builds


def log(message: str) -> None:
    print(f"build_detector: {message}", flush=True)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_path(output: Path) -> Path:
    return output.with_name(output.name + ".json")


def manifest(output: Path) -> dict:
    return {"package": f"{PACKAGE}@{VERSION}", "sources": SOURCES, "converter": CONVERTER,
            "expected": EXPECTED, "sha256": sha256(output)}


def up_to_date(output: Path) -> bool:
    try:
        recorded = json.loads(manifest_path(output).read_text())
    except (OSError, ValueError):
        return False
    return output.is_file() and recorded == json.loads(json.dumps(manifest(output)))


def run(cmd: list[str], what: str, **kwargs) -> None:
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-30:])
        sys.exit(f"build_detector: {what} failed (exit {done.returncode}): {' '.join(cmd)}\n{tail}")
    log(f"{what}: {time.monotonic() - started:.1f}s")


def fetch(work: Path) -> Path:
    """The package's model files and check photo, their sha256 checked; returns the folder holding them."""
    if not shutil.which("npm"):
        sys.exit("build_detector: npm is needed to fetch the package (e.g. apt-get install npm)")
    run(["npm", "pack", f"{PACKAGE}@{VERSION}", "--silent", "--pack-destination", str(work)],
        f"npm pack {PACKAGE}@{VERSION}", cwd=work)
    (tarball,) = work.glob("*.tgz")
    src = work / "package"
    with tarfile.open(tarball) as tar:
        for name in SOURCES:
            member = tar.getmember(f"package/{name}")
            dest = src / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(tar.extractfile(member).read())
    for name, digest in SOURCES.items():
        if sha256(src / name) != digest:
            sys.exit(f"build_detector: {PACKAGE}@{VERSION} {name} has sha256 {sha256(src / name)}, expected {digest}")
    return src


def patch_graph(src: Path, dest: Path) -> Path:
    """TFJS's model.json omits two attributes TensorFlow needs to import the graph: TArgs of the fused
    convolutions and index_type of TopKV2 (the graph's peak picking)."""
    graph = json.loads((src / "models" / "centernet.json").read_text())
    for node in graph["modelTopology"]["node"]:
        attr = node.setdefault("attr", {})
        if node["op"] in ("_FusedConv2D", "FusedDepthwiseConv2dNative"):
            attr["TArgs"] = {"list": {"type": ["DT_FLOAT"] * int(attr.get("num_args", {}).get("i", "0"))}}
        elif node["op"] == "TopKV2":
            attr["index_type"] = {"type": "DT_INT32"}
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "centernet.json").write_text(json.dumps(graph))
    shutil.copyfile(src / "models" / "centernet.bin", dest / "centernet.bin")  # the name weightsManifest uses
    return dest / "centernet.json"


def convert(graph: Path, work: Path, onnx: Path) -> None:
    if sys.version_info[:2] not in ((3, 9), (3, 10), (3, 11)):
        sys.exit(f"build_detector: tensorflow-cpu 2.15.1 needs Python 3.9-3.11, this is {sys.version.split()[0]}")
    venv = work / "venv"
    run([sys.executable, "-m", "venv", str(venv)], "throwaway venv")
    python = str(venv / "bin" / "python")
    run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *CONVERTER],
        f"pip install {' '.join(CONVERTER)}")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    run([python, "-m", "tf2onnx.convert", "--tfjs", str(graph), "--output", str(onnx), "--opset", "13",
         "--outputs", OUTPUT_NAME], "tf2onnx.convert", env=env)


def check_image(src: Path):
    import numpy as np
    from PIL import Image

    with Image.open(src / "assets" / "samples.jpg") as img:
        return np.asarray(img.convert("RGB").resize((512, 512), Image.BILINEAR), dtype=np.float32)[None]


def verify(onnx: Path, image) -> None:
    """Fail loudly unless the model gives the recorded detections on the check photo."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    (inp,), outputs = session.get_inputs(), session.get_outputs()
    if list(inp.shape) != [1, 512, 512, 3] or [o.name for o in outputs] != [OUTPUT_NAME]:
        sys.exit(f"build_detector: {onnx} has input {inp.shape}, outputs {[o.name for o in outputs]}")
    rows = session.run(None, {inp.name: image})[0][0]
    top = rows[np.argsort(-rows[:, 4], kind="stable")[:len(EXPECTED)]]
    expected = np.array(EXPECTED)
    ok = (np.abs(top[:, :4] - expected[:, :4]).max() <= BOX_TOLERANCE_PX
          and np.abs(top[:, 4] - expected[:, 4]).max() <= SCORE_TOLERANCE
          and (top[:, 5].round() == expected[:, 5]).all())
    if not ok:
        got = "\n".join("  " + ", ".join(f"{v:.2f}" for v in r[:4]) + f", {r[4]:.4f}, {int(r[5])}" for r in top)
        sys.exit(f"build_detector: {onnx} does not give the recorded detections on assets/samples.jpg; got\n{got}")
    log(f"checked: top {len(EXPECTED)} detections on assets/samples.jpg match")


def build(output: Path) -> None:
    try:  # the check needs these; fail before the minute of downloading and converting, not after
        import numpy  # noqa: F401
        import onnxruntime  # noqa: F401
        import PIL  # noqa: F401
    except ImportError as e:
        sys.exit(f"build_detector: {e.name} is missing: run this with the project's venv (.venv/bin/python)")
    with tempfile.TemporaryDirectory(prefix="build_detector-") as tmp:
        work = Path(tmp)
        src = fetch(work)
        onnx = work / "centernet.onnx"
        convert(patch_graph(src, work / "tfjs"), work, onnx)
        verify(onnx, check_image(src))
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(output.name + ".partial")
        shutil.copyfile(onnx, partial)
        os.replace(partial, output)  # never a half-written model at the path the engine loads
    manifest_path(output).write_text(json.dumps(manifest(output), indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=Path(os.environ.get("VLM_DETECTOR_MODEL") or DEFAULT_OUTPUT),
                        help=f"the ONNX file to produce (default $VLM_DETECTOR_MODEL or {DEFAULT_OUTPUT})")
    parser.add_argument("--check", action="store_true", help="also re-run the detection check on a cached file")
    parser.add_argument("--force", action="store_true", help="rebuild even when the cached file is up to date")
    args = parser.parse_args()
    output = args.output.resolve()
    started = time.monotonic()
    if not args.force and up_to_date(output):
        if args.check:
            with tempfile.TemporaryDirectory(prefix="build_detector-") as tmp:
                verify(output, check_image(fetch(Path(tmp))))
        log(f"{output} is up to date (sha256 matches its manifest): nothing to do "
            f"({time.monotonic() - started:.1f}s)")
        return
    log(f"building {output} from {PACKAGE}@{VERSION}")
    build(output)
    log(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB) in {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()
