# PoCNet: every target creates .venv when missing. Nothing is assumed installed but Python 3.11+.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	  command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
PYTHON := $(PYTHON)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-under-load lint typecheck pytest demo console-demo bench vectors clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is required"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy keys relay node pocnet

# The suite on pytest-xdist workers (PYTEST_WORKERS=0: in this process, one test at a time).
# --dist loadfile: a test file's tests run on one worker, in order, its module fixtures
# built once (xdist's loadgroup does not group on pytest 9.2: it renames node ids).
PYTEST_WORKERS ?= 4
pytest: $(STAMP)
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile

test: lint typecheck pytest

# The whole of 'make test' with every core kept busy by a CPU hog: the suite must not
# depend on the machine's speed. Run it once per issue and quote its result.
test-under-load: $(STAMP)
	$(BIN)/python -m tests.support.cpu_hog -- $(MAKE) test

demo: $(STAMP)
	$(BIN)/python -m tests.demo_network

console-demo: $(STAMP)
	$(BIN)/python -m tests.demo_network --keep-running

bench: $(STAMP)
	$(BIN)/python -m tests.bench

vectors: $(STAMP)
	$(BIN)/python -m tests.vectors.generate

clean:
	rm -rf $(VENV) var build *.egg-info
