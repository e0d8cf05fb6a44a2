# kefu: `make run` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench soak eval migrate install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

migrate: $(STAMP)
	$(BIN)/kefu db upgrade

run: migrate
	$(BIN)/kefu serve --host 127.0.0.1 --port 8000

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy core
	$(BIN)/mypy bots handlers

pytest: $(STAMP)
	$(BIN)/pytest -q -m "not soak"

# Longer fault runs: more kills, a PostgreSQL restart (it restarts the machine's PostgreSQL).
soak: $(STAMP)
	KEFU_SOAK=1 $(BIN)/pytest -q -m "soak" tests/reliability
	KEFU_SOAK=1 $(BIN)/pytest -q tests/reliability/test_crash.py

test: lint typecheck pytest

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

# Every benchmark, then one table of kefu figures beside their baselines (BENCH_QUICK=1: smaller sizes).
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.run_all

eval: $(STAMP)
	$(BIN)/python -m bench.eval_classifier

clean:
	rm -rf $(VENV) var/kefu.db*
