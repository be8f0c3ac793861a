# The two commands the README promises: `make run` and `make test`.
# Each bootstraps .venv with the standard library's venv and pip, and is a no-op when nothing changed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev

.PHONY: run test lint format bench sync check

$(PY):
	$(PYTHON) -m venv $(VENV)

$(RUNTIME): pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e .
	touch $@

$(DEV): pyproject.toml constraints.txt $(RUNTIME)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $@

run: $(RUNTIME)
	$(PY) -m bot

sync: $(RUNTIME)
	$(PY) -m bot sync

check: $(RUNTIME)
	$(PY) -m bot check

lint: $(DEV)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(DEV)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint
	$(PY) -m pytest -q

bench: $(DEV)
	$(PY) -m bench $(ARGS)
