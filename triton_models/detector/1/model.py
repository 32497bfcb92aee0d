"""Triton python backend model `detector` (decoupled): one JSON RESPONSE per input image. See ../../README.md."""

import json
from pathlib import Path

from vlm_engines.page_model import PageModel

# The folder holding triton_models/ (symlinks followed: test repositories link this folder): relative
# `model_file` paths resolve against it, so var/models/... finds the file scripts/build_detector.py built.
ROOT = Path(__file__).resolve().parents[3]


class TritonPythonModel(PageModel):
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        config.setdefault("parameters", {}).setdefault("repository_root", {"string_value": str(ROOT)})
        super().initialize({**args, "model_config": json.dumps(config)})
