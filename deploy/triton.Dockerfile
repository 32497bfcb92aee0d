# NVIDIA's Triton 24.10 (tritonserver 2.51, the version the nvidia-pytriton wheel embeds) plus the
# python packages that triton_models/vlm/1 imports. Not built in CI: see README "Docker".
#
# The model repository is not copied in: compose.gpu.yaml mounts ../triton_models at /models.
# The 24.10 image is Ubuntu 22.04 with Python 3.10; its python backend stub runs model.py with that
# system interpreter, so the packages go into it (no venv). Keep the versions in step with pyproject.toml:
#   rapidocr pinned (3.10.0 bundles its default PP-OCR ONNX models: no download at load time),
#   numpy < 2, and only the headless OpenCV (the image has no libGL).

ARG TRITON_IMAGE=nvcr.io/nvidia/tritonserver:24.10-py3
FROM ${TRITON_IMAGE}

RUN python3 -m pip install --no-cache-dir \
      "rapidocr==3.10.0" \
      "onnxruntime>=1.17" \
      "opencv-python-headless>=4.8,<5" \
      "pillow>=10" \
      "numpy>=1.24,<2" \
 && python3 -c "import rapidocr, onnxruntime, cv2, PIL, numpy; assert numpy.__version__.startswith('1.'), numpy.__version__"
