"""Line recognition spread over the cores: rapidocr's recogniser, run by several threads at once.

One onnxruntime run with two intra-op threads splits every small convolution between them, and with idle threads
asleep (onnx.py) each split wakes one: on 2 cores that gave 1.1-1.2x over a single thread. Threads that each run
whole crops on a single-threaded session never wait on each other: measured on the benchmark's A4 pages, 0.85x
the page time of rapidocr's batched loop on 2 intra-op threads. Crops go one per run, so none is padded to a
wider neighbour (in batches of 6 a tenth of the work was padding).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np


class SplitRecogniser:
    """Stands in for rapidocr 3.10.0's TextRecognizer (`RapidOCR.text_rec`): same call, same output."""

    def __init__(self, recogniser: Any, threads: int) -> None:
        from rapidocr.ch_ppocr_rec import TextRecInput, TextRecOutput

        self._recogniser = recogniser
        self._recognise = type(recogniser).__call__  # its own batched loop, called on each thread's share
        self._input, self._output = TextRecInput, TextRecOutput
        recogniser.rec_batch_num = 1
        self._threads = max(1, threads)
        self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="ocr-rec")

    def __call__(self, args: Any) -> Any:
        started = time.perf_counter()
        crops = [args.img] if isinstance(args.img, np.ndarray) else list(args.img)
        if self._threads == 1 or len(crops) < 2:
            return self._recognise(self._recogniser, args)
        # Dealt out in order of width, so every thread gets as many columns as the others.
        order = np.argsort([crop.shape[1] / crop.shape[0] for crop in crops], kind="stable")
        shares = [order[k::self._threads] for k in range(self._threads)]
        outputs = self._pool.map(
            lambda share: self._recognise(self._recogniser, self._input(img=[crops[i] for i in share])), shares)
        texts, scores = [""] * len(crops), [0.0] * len(crops)
        for share, output in zip(shares, outputs, strict=True):
            for i, text, score in zip(share, output.txts, output.scores, strict=True):
                texts[i], scores[i] = text, score
        # Word boxes are not asked for (return_word_box is off), as rapidocr's own output has them then.
        return self._output(imgs=crops, txts=tuple(texts), scores=scores,
                            word_results=tuple(("", 1.0, None) for _ in crops),
                            elapse=time.perf_counter() - started)
