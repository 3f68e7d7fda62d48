# The two commands of the README's quick start: each sets up .venv by itself.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit tests-moto tests-sandbox bytecode bench bench-quick clean conformance browser-check

# pytest-xdist workers of the moto run (WORKERS=0: one process each). A work unit is a
# test module (its module fixtures built once), or one heavy / slow test; units go out in
# collection order, the long ones first (tests/conftest.py). Each worker is a process of
# its own: its own sandboxes (ephemeral ports), tmp dirs and environment.
# The sandbox run gets one worker more (SANDBOX_WORKERS): most of its time is spent
# waiting in real time (child processes, TTLs, leases), so a third worker fills a core
# that two would leave idle.
WORKERS ?= 2
SANDBOX_WORKERS ?= $(if $(filter 0,$(WORKERS)),0,$(shell echo $$(($(WORKERS) + 1))))
xdist = $(if $(filter 0,$(1)),,-n $(1) --dist loadgroup --no-loadscope-reorder)
PYTEST := $(BIN)/pytest -p no:cacheprovider --durations=10

# pip would compile the bytecode of every file it installs, one after another (about 12 s
# of a fresh clone's `make test` on this 2-core machine, with nothing else running): it is
# told not to, and $(COMPILED) compiles them on every core instead, once per install, while
# `make test` runs mypy beside it.
$(STAMP): pyproject.toml setup.cfg
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or make PYTHON=python3)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --no-compile -e '.[test]'
	touch $(STAMP)

COMPILED := $(VENV)/.compiled
$(COMPILED): $(STAMP)
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib
	touch $(COMPILED)

demo: $(COMPILED)
	$(BIN)/mr-failover demo

# ruff first (seconds), then mypy and both pytest runs at once: the sandbox run is the
# longest and waits in real time (child processes, TTLs), so the others fill the cores.
# Each job's output is printed in one block when it ends.
test: lint
	@$(MAKE) --no-print-directory -j3 --output-sync=target typecheck tests-moto tests-sandbox

lint: $(STAMP)
	$(BIN)/ruff check mr_failover tests bench
	$(BIN)/ruff format --check mr_failover tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy mr_failover

# mock_aws (in-process moto) and the sandbox server must never share a process:
# entering or leaving mock_aws wipes the server's state. Two pytest runs (two sets of
# worker processes), which may run at the same time. tests/bench runs every benchmark's
# --quick mode as a child process.
unit: tests-moto tests-sandbox

tests-moto: bytecode
	$(PYTEST) $(call xdist,$(WORKERS)) tests/unit tests/functional tests/bench

tests-sandbox: bytecode
	$(PYTEST) $(call xdist,$(SANDBOX_WORKERS)) tests/reliability tests/e2e tests/sandbox

# The suite starts hundreds of mr-failover child processes. With PYTHONDONTWRITEBYTECODE
# set (as in some shells and CI images) none of them writes its bytecode, so each compiled
# the package again: about 0.2 s of CPU per child (docs/PERFORMANCE.md). Compiled once
# here, the children read it (a source edited since is compiled again, in memory); the
# installed packages' bytecode is $(COMPILED)'s.
bytecode: $(COMPILED)
	@$(BIN)/python -m compileall -q mr_failover

# Against a real AWS account (AWS_PROFILE): never part of `make test`, which runs the same
# scenarios against the sandbox (tests/sandbox/test_conformance.py). docs/CONFORMANCE.md.
conformance: $(STAMP)
	$(BIN)/python -m tests.conformance.run $(ARGS)

# The demo's drill report (HTML) rendered by headless Chromium (Debian's package), saved as
# build/drill-report.png. Never part of `make test`, which checks the page's structure.
CHROMIUM ?= chromium
BROWSER_STATE := build/browser-check
browser-check: $(STAMP)
	@command -v $(CHROMIUM) >/dev/null 2>&1 || { echo "needs Chromium: apt-get install chromium (or make CHROMIUM=...)"; exit 2; }
	rm -rf $(BROWSER_STATE) && mkdir -p -m 700 $(BROWSER_STATE)
	MR_FAILOVER_STATE_DIR=$(CURDIR)/$(BROWSER_STATE) $(BIN)/mr-failover demo > $(BROWSER_STATE)/demo.log
	page=$$(ls -t $(BROWSER_STATE)/runs/*.report.html | head -1) && cp "$$page" build/drill-report.html
	$(CHROMIUM) --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	    --disable-background-networking --disable-component-update --disable-sync \
	    --user-data-dir=$$(mktemp -d) --hide-scrollbars --window-size=1040,1700 \
	    --screenshot=$(CURDIR)/build/drill-report.png file://$(CURDIR)/build/drill-report.html
	@echo "page: build/drill-report.html  screenshot: build/drill-report.png"

bench: $(STAMP)
	$(BIN)/python bench/run.py

bench-quick: $(STAMP)
	$(BIN)/python bench/run.py --quick

clean:
	rm -rf $(VENV) build *.egg-info
