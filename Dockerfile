# camserve: the HTTP service with its committed weights baked in.
#
#   docker build -t camserve .                                        # CPU image (default)
#   docker build -t camserve:cuda --build-arg TORCH_VARIANT=cu130 .    # CUDA 13.0 image; run with --gpus all
#   docker run -p 8000:8000 -v camserve-data:/data camserve
#
# Two stages: "build" installs everything into a virtual environment at /opt/venv; "runtime" copies only
# that venv and the weights onto a fresh slim base, so pip, its caches and the sources stay out of the image.
# No apt packages are needed: every dependency ships manylinux wheels that bundle their native libraries
# (torch its OpenMP and, in a CUDA variant, CUDA via nvidia-* wheels; opencv is the headless build).

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build

# The PyTorch wheel index to install from: cpu (a few hundred MB instead of several GB), or a CUDA build
# such as cu130 or cu128; a CUDA image needs only the NVIDIA driver on the host.
ARG TORCH_VARIANT=cpu

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

# torch first, in its own layer: it is by far the largest download and changes least often.
# The versions must match pyproject.toml, so the `pip install .` below finds them already satisfied.
RUN python -m venv /opt/venv \
    && pip install --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}" torch==2.14.1 torchvision==0.29.1

WORKDIR /src
# README.md is the package's readme in pyproject.toml, so the build needs it. camserve/ links to models/,
# service/ and weights/, and the wheel holds all of them (weights included) under the one name camserve.
COPY pyproject.toml README.md ./
COPY camserve/ camserve/
COPY models/ models/
COPY service/ service/
COPY weights/ weights/
RUN pip install .


FROM ${PYTHON_IMAGE} AS runtime

# The service runs as this unprivileged user; /data is created and owned by it before VOLUME, so a
# fresh named volume starts with that ownership and the SQLite store is writable.
RUN groupadd --system --gid 10001 camserve \
    && useradd --system --uid 10001 --gid camserve --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin camserve \
    && mkdir /data \
    && chown camserve:camserve /data

# Root-owned and read-only for the camserve user, weights included (they ship inside the package).
COPY --from=build /opt/venv /opt/venv
WORKDIR /app

# The ONNX export of the weights (CPU images) is made at the first start and kept in the volume beside the store.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CAMSERVE_HOST=0.0.0.0 \
    CAMSERVE_STORE_PATH=/data/camserve.sqlite3 \
    CAMSERVE_ONNX_CACHE_DIR=/data/onnx

VOLUME ["/data"]
# The camserve user, by number: Kubernetes' runAsNonRoot can only verify a numeric user.
USER 10001:10001
EXPOSE 8000

# Liveness only (/healthz), with the standard library because slim has no curl; urlopen raises, and so
# exits non-zero, on a refused connection, a timeout or an HTTP error. The start period covers model load.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CAMSERVE_PORT', '8000'), timeout=4)"]

CMD ["camserve", "serve"]
