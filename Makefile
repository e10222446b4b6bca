# Set-up is part of every target, so each works on a fresh clone with nothing installed.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: serve test lint format train

# The shipped model's recipe (weights/README.md); rerun the same command to resume after a kill.
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

train: $(BIN)/camserve
	$(BIN)/camserve train --data $(DATA) --run-dir runs/resnet34 --cache-dir runs/cache
