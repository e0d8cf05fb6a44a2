# kefu: `make run` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# uv installs exactly what uv.lock names (versions and hashes); pip installs only uv itself, by hash.
TOOLS := .tools
UV := $(TOOLS)/bin/uv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Bytecode compiled at install, as pip does: without it (and with PYTHONDONTWRITEBYTECODE set) every kefu
# process would compile aiogram and SQLAlchemy from source at start, about ten seconds each.
export UV_COMPILE_BYTECODE := 1
UV_SYNC := $(UV) sync --locked --python $(PYTHON)

.PHONY: run test lint typecheck pytest bench soak eval migrate install clean lock lock-check

$(UV): requirements-uv.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --require-hashes -r requirements-uv.txt
	touch $(UV)

$(STAMP): pyproject.toml uv.lock $(UV)
	$(UV_SYNC) --extra dev
	touch $(STAMP)

# Update uv.lock on purpose (after editing pyproject.toml, or to take newer releases: see README).
lock: $(UV)
	$(UV) lock --python $(PYTHON)

# The lock agrees with pyproject.toml, and a new virtualenv made from it alone imports kefu.
# That virtualenv is thrown away after one import: compiling every package's bytecode for it would cost
# three times the rest of the check (about 20 s of CPU), so it is not compiled.
lock-check: $(UV)
	$(UV) lock --check --python $(PYTHON)
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  UV_COMPILE_BYTECODE=0 UV_PROJECT_ENVIRONMENT="$$tmp/venv" $(UV_SYNC) --no-editable --quiet && \
	  cd "$$tmp" && "$$tmp/venv/bin/python" -c "import core.engine, bots.wechat, bots.telegram, handlers.app, handlers.cli; print('lock-check: kefu imports from a new venv made from uv.lock')"

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

# Three processes (pytest-xdist) on the 2-core machine: most tests wait on PostgreSQL, a browser, a kefu
# subprocess or a fake API, so the CPU is not busy with two (load average 2-3); measured on one fresh clone,
# 1,808 tests: 8 min 30 s with 2, 7 min 23 s with 3, 8 min 50 s with 4 (the CPU saturated). Each process has its
# own template databases, Dovecot and ports. `make pytest PYTEST_WORKERS=0` runs in one process, for debugging.
# worksteal: a process that runs out takes tests queued for another, so the few minute-long tests (kill -9,
# the scale-out cluster) do not leave one process working alone at the end.
# kefu's own modules and the tests are not compiled at install (an editable install): with PYTHONDONTWRITEBYTECODE
# set in the environment, each test process and each `kefu` process the tests start compiled
# them from source again, about a third of a second of CPU each. The suite lets Python cache them.
PYTEST_WORKERS ?= 3
pytest: $(STAMP)
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -q -m "not soak" -n $(PYTEST_WORKERS) --dist worksteal

# Longer fault runs: more kills, a PostgreSQL restart (it restarts the machine's PostgreSQL).
soak: $(STAMP)
	KEFU_SOAK=1 $(BIN)/pytest -q -m "soak" tests/reliability
	KEFU_SOAK=1 $(BIN)/pytest -q tests/reliability/test_crash.py

test: lock-check lint typecheck pytest

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(UV_SYNC) --extra dev --extra bench
	touch $(BENCH_STAMP)

# Every benchmark, then one table of kefu figures beside their baselines (BENCH_QUICK=1: smaller sizes).
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.run_all

# Classifier quality on labelled messages, then the dialogue corpus through the real engine (dev and held-out).
eval: $(STAMP)
	$(BIN)/python -m bench.eval_classifier
	$(BIN)/python -m bench.eval_learned
	$(BIN)/python -m bench.eval_dialogue

clean:
	rm -rf $(VENV) $(TOOLS) var/kefu.db*
