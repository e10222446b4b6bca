# camserve: the HTTP service with its committed weights baked in.
#
#   docker build -t camserve .                              # CPU image (the default target)
#   docker build -t camserve:cuda --target cuda .           # CUDA image: PyTorch's CUDA build; run with --gpus all
#   docker run -p 8000:8000 -v camserve-data:/data camserve
#
# scripts/container_smoke.sh builds and checks the CPU image with podman, as CI does.
#
# Three stages. "build" installs camserve with PyTorch, exports the weights to ONNX (the graph the CPU
# runtimes serve; exporting needs torch) and builds camserve's wheel. "cpu" installs that wheel with every
# dependency except PyTorch and the exporter, plus the export: ONNX Runtime and OpenVINO serve it, so the
# image holds no torch, CUDA or triton. "cuda" copies the build stage's whole environment, PyTorch included,
# for the CUDA path. No apt packages are needed: every dependency ships manylinux wheels.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

# torch first, in its own layer: by far the largest download, and it changes least often. The versions
# must match pyproject.toml, so the `pip install .` below finds them already satisfied.
RUN python -m venv /opt/venv \
    && pip install torch==2.14.1 torchvision==0.29.1

WORKDIR /src
# README.md is the package's readme in pyproject.toml, so the build needs it. pyproject.toml maps models/,
# service/ and weights/ into camserve, and the wheel holds all of them (weights and int8 graph included).
COPY pyproject.toml README.md ./
COPY camserve/ camserve/
COPY models/ models/
COPY service/ service/
COPY weights/ weights/
COPY scripts/image_artifacts.py scripts/
# The checkout itself with its torch extra (the exporter; torch is pinned above), not a registry package to pin.
# hadolint ignore=DL3013
RUN pip install '.[torch]' \
    && pip wheel --no-deps --wheel-dir /wheels . \
    && python scripts/image_artifacts.py /opt/onnx /wheels/serving-requirements.txt


FROM ${PYTHON_IMAGE} AS runtime-base

# The service runs as this unprivileged user; /data is created and owned by it before VOLUME, so a
# fresh named volume starts with that ownership and the SQLite store is writable.
RUN groupadd --system --gid 10001 camserve \
    && useradd --system --uid 10001 --gid camserve --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin camserve \
    && mkdir /data \
    && chown camserve:camserve /data

WORKDIR /app
# The store, and the timings CAMSERVE_BACKEND=auto takes of the machine at the first start, live in the
# volume: a restart with the same volume skips the timing. glibc's allocator: 2 arenas (its default of 8 a core
# kept large photos' freed memory in many of them) and buffers of 1 MiB and more always mapped on their own
# (its default raises that bound as large buffers are freed, so they then stay in the heap); with camserve's
# malloc_trim after large work, a burst's memory comes back (python -m bench.memory). jemalloc is no option:
# OpenVINO aborts beside it.
ENV PATH=/opt/venv/bin:$PATH \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=1048576 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CAMSERVE_HOST=0.0.0.0 \
    CAMSERVE_STORE_PATH=/data/camserve.sqlite3 \
    CAMSERVE_RUNTIME_CACHE_DIR=/data/runtime-choice \
    CAMSERVE_ONNX_CACHE_DIR=/opt/onnx

VOLUME ["/data"]
EXPOSE 8000
# Liveness only (/healthz), with the standard library because slim has no curl; urlopen raises, and so
# exits non-zero, on a refused connection, a timeout or an HTTP error. The start period covers the models'
# load and, at a first start, the timing of the runtimes for each.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CAMSERVE_PORT', '8000'), timeout=4)"]
CMD ["camserve", "serve"]


FROM runtime-base AS cuda

# Root-owned and read-only for the camserve user, as in the CPU image.
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/onnx /opt/onnx
# The camserve user, by number: Kubernetes' runAsNonRoot can only verify a numeric user.
USER 10001:10001


FROM runtime-base AS cpu

# Root-owned and read-only for the camserve user: the code, the weights and the ONNX export.
COPY --from=build /wheels /tmp/wheels
RUN python -m venv /opt/venv \
    && pip install --no-cache-dir --requirement /tmp/wheels/serving-requirements.txt \
    && pip install --no-cache-dir --no-deps /tmp/wheels/camserve-*.whl \
    && rm -r /tmp/wheels
COPY --from=build /opt/onnx /opt/onnx
USER 10001:10001
