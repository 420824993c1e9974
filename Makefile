# DALIA site kit. `make demo` and `make test` set up everything they need on a fresh Debian machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Installs are pinned and hashed: requirements/dev.txt (tests, lint) and requirements/deploy.txt
# (servers) are generated from pyproject.toml by `make lock`, the one way to change a version.
LOCK := requirements/dev.txt
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) | cksum | cut -d' ' -f1)
FLOORS_VENV := .venv-floors
# The unit tests and every web test on SQLite (the PostgreSQL half is left to `make test`), on two
# pytest-xdist workers: every direct dependency is exercised at its floor.
FLOORS_TESTS := tests/unit tests/web

.PHONY: demo test bench system-deps lint clean lock floors

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

# The newest versions pyproject.toml allows, for Python 3.11 (Debian 12), with the hash of every file.
lock: $(STAMP)
	$(VENV)/bin/uv pip compile --quiet --upgrade --generate-hashes --python-version 3.11 \
		pyproject.toml --extra dev --extra postgres -o requirements/dev.txt
	$(VENV)/bin/uv pip compile --quiet --generate-hashes --python-version 3.11 \
		pyproject.toml --extra postgres -c requirements/dev.txt -o requirements/deploy.txt

# The floors of pyproject.toml are true: unit and SQLite web tests pass with every direct
# dependency at its lowest allowed version (the test tools themselves from the lock).
floors: $(STAMP) system-deps
	rm -rf $(FLOORS_VENV)
	$(VENV)/bin/uv venv --quiet --python $(PY) $(FLOORS_VENV)
	$(VENV)/bin/uv pip install --quiet --python $(FLOORS_VENV)/bin/python \
		--resolution lowest-direct -e '.[postgres]'
	$(VENV)/bin/uv pip install --quiet --python $(FLOORS_VENV)/bin/python -c $(LOCK) \
		pytest hypothesis pytest-xdist bandit
	$(FLOORS_VENV)/bin/python -m pytest -p no:cacheprovider -q -m 'not postgres' -n 2 --dist loadgroup $(FLOORS_TESTS)

system-deps:
	@bash scripts/system-deps.sh

# `make demo PORT=5001` when 5000 is taken (checked before the demo year is built).
PORT ?= 5000
demo: $(STAMP)
	$(PY) cli.py demo --port $(PORT)

# Two pytest-xdist workers (PYTEST_WORKERS=0: one process); the tests marked xdist_group (browser,
# demo, wheel) each stay in one worker, so their session fixtures are built once.
PYTEST_WORKERS ?= 2
test: $(STAMP) system-deps
	$(PY) -m pytest -p no:cacheprovider -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

bench: $(STAMP)
	@bash scripts/system-deps.sh bench
	$(PY) bench/run.py

lint: $(STAMP)
	$(VENV)/bin/ruff check dalia_site tests bench cli.py
	$(VENV)/bin/ruff format --check dalia_site tests bench cli.py
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) $(FLOORS_VENV) .pytest_cache
