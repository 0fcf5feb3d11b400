# hld: set-up, demo, tests, lint, benchmarks. Every target creates the virtual
# environment on first use from the lock, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench lock clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)          ## run the main job on embedded defaults (DEMO_ARGS=--exit to stop after the report)
	$(BIN)/hld demo $(DEMO_ARGS)

test: $(STAMP)          ## the whole suite, with branch coverage
	$(BIN)/python -m pytest --cov --cov-report=term:skip-covered -q $(PYTEST_ARGS)

lint: $(STAMP)          ## ruff and mypy --strict
	$(BIN)/ruff check src tests
	$(BIN)/mypy

bench: $(STAMP)         ## every benchmark against its peers
	$(BIN)/hld bench all

lock:                   ## re-resolve requirements.lock from pyproject.toml (needs uv)
	uv pip compile pyproject.toml --extra bench --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
