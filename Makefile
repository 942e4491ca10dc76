# The two commands of the quick start: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test bench lint

demo: $(VENV)/.installed  ## set up, replay the bundled sample into statscache.db, show a statistic
	$(BIN)/statscache replay --sample
	$(BIN)/statscache show volume-by-category-1d --format csv | tail -n 5

test: lint  ## lint, then the whole test suite (needs PostgreSQL on 127.0.0.1:5432)
	$(BIN)/python -m pytest

bench: $(VENV)/.installed  ## every benchmark, about 14 minutes (see bench/README.md)
	$(BIN)/python bench/replay.py
	$(BIN)/python bench/live.py
	$(BIN)/python bench/backfill.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/scaleout.py

lint: $(VENV)/.installed  ## ruff and mypy --strict
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy src

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==26.3
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@
