# DALIA site kit. `make demo` and `make test` set up everything they need on a fresh Debian machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo test bench system-deps lint clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,postgres]'
	@rm -f $(VENV)/.installed-*
	@touch $@

system-deps:
	@bash scripts/system-deps.sh

demo: $(STAMP)
	$(PY) cli.py demo

test: $(STAMP) system-deps
	$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

bench: $(STAMP)
	@bash scripts/system-deps.sh bench
	$(PY) bench/run.py

lint: $(STAMP)
	$(VENV)/bin/ruff check dalia_site tests bench cli.py
	$(VENV)/bin/ruff format --check dalia_site tests bench cli.py
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache
