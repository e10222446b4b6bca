# Set-up is part of every target, so each works on a fresh clone with nothing installed.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: serve dev-env test test-all test-fast lint format train train-gpu

# The photo folder for train and train-gpu, and the version their checkpoints are written with.
DATA ?= ../shared/data/catsdogs
MODEL_VERSION ?= 0.0.0-dev

# Two environments in the one .venv: make serve installs only what serving needs (about 650 MB: no PyTorch; it serves
# the int8 graph and the ONNX export committed in weights/), everything else adds PyTorch and the test, training and
# benchmark extras (about 7 GB) on top. Each stamp is redone when pyproject.toml changes.
SERVE_ENV := $(VENV)/.serve-env
DEV_ENV := $(VENV)/.dev-env


$(SERVE_ENV): pyproject.toml
	@echo "make serve: installing what serving needs into $(VENV) (about 650 MB, no PyTorch)"
	python3 -m venv $(VENV)
	$(BIN)/pip install --progress-bar off --disable-pip-version-check --no-compile -e .
	touch $@

$(DEV_ENV): pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[test,train,bench]'
	touch $@

dev-env: $(DEV_ENV)

serve: $(SERVE_ENV)
	$(BIN)/camserve serve

# mypy cannot follow the editable install's folder mapping (pyproject.toml), so it checks an installed copy:
# its messages name build/typecheck/camserve/models/... for models/..., and so on. The benchmarks (bench/, not
# installed) are checked from the checkout, against that copy of camserve.
lint: $(DEV_ENV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	rm -rf build/typecheck
	$(BIN)/pip install --quiet --no-deps --no-build-isolation --no-compile --target build/typecheck .
	MYPYPATH=build/typecheck $(BIN)/mypy -p camserve -p bench -p scripts.cluster
	$(BIN)/hadolint Dockerfile

# What CI runs: lint, type check, and every test but the slow ones (the browser tests need Debian's chromium;
# .ci/run installs it). CI has 25 minutes; the slow ones (the container image, the GPU ablation) took 8 of them.
test: lint
	$(BIN)/python -m pytest -m "not slow"

# Everything, the slow tests too.
test-all: lint
	$(BIN)/python -m pytest

# The quick run while working: no browser, container or cluster tools needed, no lint.
test-fast: $(DEV_ENV)
	$(BIN)/python -m pytest -m "not browser and not container and not cluster and not memory_limit and not slow"

format: $(DEV_ENV)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The CPU recipe (about 1 h 45 min on 2 cores, 92.7%: weights/README.md); rerun to resume after a kill.
train: $(DEV_ENV)
	$(BIN)/camserve train --data $(DATA) --run-dir runs/resnet34 --cache-dir runs/cache --model-version $(MODEL_VERSION)

# The shipped model's recipe, on one CUDA GPU (about 5 minutes on an H200: weights/README.md).
train-gpu: $(DEV_ENV)
	PYTHON=$(BIN)/python MODEL_VERSION=$(MODEL_VERSION) scripts/train_gpu.sh $(DATA) runs/gpu 60 1800
