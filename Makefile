# Set-up is part of every target, so each works on a fresh clone with nothing installed.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: serve test lint format

$(BIN)/camserve: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[test]'
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
