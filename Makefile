# The two commands of the README's quick start: each sets up .venv by itself.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean conformance

$(STAMP): pyproject.toml setup.cfg
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or make PYTHON=python3)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mr-failover demo

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check mr_failover tests bench
	$(BIN)/ruff format --check mr_failover tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy mr_failover

# mock_aws (in-process moto) and the sandbox server must never share a process:
# entering or leaving mock_aws wipes the server's state. Two pytest runs.
unit: $(STAMP)
	$(BIN)/pytest tests/unit tests/functional
	$(BIN)/pytest tests/sandbox tests/e2e tests/reliability

# Against a real AWS account (AWS_PROFILE): never part of `make test`, which runs the same
# scenarios against the sandbox (tests/sandbox/test_conformance.py). docs/CONFORMANCE.md.
conformance: $(STAMP)
	$(BIN)/python -m tests.conformance.run $(ARGS)

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info
