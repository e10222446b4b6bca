# Set-up is part of every target, so each works on a fresh clone with nothing installed.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: serve test lint format train train-gpu

# The photo folder for train and train-gpu.
DATA ?= ../shared/data/catsdogs

$(BIN)/camserve: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[test,train]'
	touch $@

serve: $(BIN)/camserve
	$(BIN)/camserve serve

lint: $(BIN)/camserve
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint Dockerfile

test: lint
	$(BIN)/python -m pytest

format: $(BIN)/camserve
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The CPU recipe (about 1 h 45 min on 2 cores, 92.7%: weights/README.md); rerun to resume after a kill.
train: $(BIN)/camserve
	$(BIN)/camserve train --data $(DATA) --run-dir runs/resnet34 --cache-dir runs/cache

# The shipped model's recipe, on one CUDA GPU (about 5 minutes on an H200: weights/README.md).
train-gpu: $(BIN)/camserve
	PYTHON=$(BIN)/python scripts/train_gpu.sh $(DATA) runs/gpu 60 1800
