"""onnxruntime CPU sessions of the engines (detector and document stages), built one way."""

from __future__ import annotations

from pathlib import Path


def onnx_cpu_session(path: str | Path, threads: int):
    """An onnxruntime CPU session whose idle threads sleep: on a few cores spinning threads starve the OCR and the
    Triton stub around each run (another model here went from 160 to 82 ms on 2 cores)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
