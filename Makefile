# The two commands of the quick start: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test bench lint browser

demo: $(VENV)/.installed  ## set up, replay the bundled sample into statscache.db, show a statistic
	$(BIN)/statscache replay --sample
	$(BIN)/statscache show volume-by-category-1d --format csv | tail -n 5

test: lint browser  ## lint, then the whole test suite (needs PostgreSQL on 127.0.0.1:5432)
	$(BIN)/python -m pytest

bench: $(VENV)/.installed  ## every benchmark, about 16 minutes (see bench/README.md)
	$(BIN)/python bench/replay.py
	$(BIN)/python bench/live.py
	$(BIN)/python bench/backfill.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/scaleout.py
	$(BIN)/python bench/chart.py
	$(BIN)/python bench/retention.py

# The page tests drive Debian's chromium through Playwright (never `playwright install`, which
# downloads a browser of its own). Installing it needs root; as another user, install it first.
browser:  ## Debian's chromium for tests/test_pages.py, installed when /usr/bin/chromium is missing
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" != 0 ]; then echo "make browser: /usr/bin/chromium is missing; as root: apt-get install chromium" >&2; exit 1; fi; \
	  apt-get install -y --no-install-recommends chromium || \
	  { apt-get update && apt-get install -y --no-install-recommends chromium; }; }

lint: $(VENV)/.installed  ## ruff and mypy --strict
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy src

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==26.3
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@
