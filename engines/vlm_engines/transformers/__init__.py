"""Any Hugging Face image-text-to-text checkpoint from a local folder: the engine of the `transformers`
Triton model (triton_models/transformers). Nothing here downloads: the hub is switched off below."""

import os

# huggingface_hub and transformers read these once, at import: set them before anything imports them.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

from .engine import Engine, EngineOptions, Job  # noqa: E402
from .requests import RequestError, parse_request  # noqa: E402

__all__ = ["Engine", "EngineOptions", "Job", "RequestError", "parse_request"]
