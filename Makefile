# modelwatch: every command a developer or CI runs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
export MLFLOW_DISABLE_TELEMETRY := true
export PYTHONDONTWRITEBYTECODE :=

.PHONY: help install prometheus demo up down load chaos test test-fast lint typecheck synth bench cost clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# Prometheus runs for real in the demo and the tests (Debian: apt-get install prometheus;
# macOS: brew install prometheus). Installed here when missing and we may (root, apt).
prometheus:
	@command -v prometheus >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus; \
	  else \
	    echo "prometheus is not installed: apt-get install prometheus (Debian/Ubuntu) or brew install prometheus (macOS)" >&2; exit 2; \
	  fi; }

# pip's and npm's output goes to .local/logs/install.log; on failure its last lines are shown too.
INSTALL_LOG := .local/logs/install.log

$(STAMP): requirements.txt layers/modelwatch/pyproject.toml local/pyproject.toml package.json
	@mkdir -p $(dir $(INSTALL_LOG))
	@echo "installing .venv (Python packages) and the pinned CDK CLI (a few minutes the first time; log $(INSTALL_LOG))"
	@{ { test -d $(VENV) || $(PYTHON) -m venv $(VENV); } \
	  && $(BIN)/pip install --quiet --upgrade pip \
	  && $(BIN)/pip install --quiet -r requirements.txt \
	  && npm ci --silent --no-audit --no-fund; } > $(INSTALL_LOG) 2>&1 \
	  || { tail -n 20 $(INSTALL_LOG) >&2; echo "make install failed: the details are in $(INSTALL_LOG)" >&2; exit 2; }
	@touch $(STAMP)
	@echo "installed"

install: $(STAMP)  ## create .venv and install everything (Python and the pinned CDK CLI)

# e.g. make demo DEMO_ARGS="--requests 3000": a longer serving phase (each request is one object locally)
DEMO_ARGS ?=

demo: $(STAMP) prometheus  ## run the whole loop locally and print a summary (ends by itself)
	$(BIN)/python -m modelwatch_local demo $(DEMO_ARGS)

up: $(STAMP) prometheus  ## start the local stack in the background and print its URLs
	$(BIN)/python -m modelwatch_local up

down:  ## stop the local stack
	$(BIN)/python -m modelwatch_local down

# Both start a stack of their own on free ports (a running `make up` is left alone) and stop it.
# Long forms: docs/reliability.md (e.g. make load LOAD_ARGS="--duration 120 --ramp-step-seconds 15").
LOAD_ARGS ?=
CHAOS_ARGS ?=

load: $(STAMP)  ## bounded Locust load test + knee vs a bare app; capture reconciled; .load/report.json
	$(BIN)/python -m modelwatch_local load --ramp $(LOAD_ARGS)

chaos: $(STAMP) prometheus  ## chaos experiments on the local stack under load; .chaos/report.json
	$(BIN)/python -m modelwatch_local chaos $(CHAOS_ARGS)

test: $(STAMP) prometheus  ## lint, type-check, check the dependency rule and run every test tier
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest tests

test-fast: $(STAMP)  ## unit and integration tests only
	$(BIN)/python -m pytest tests/unit tests/integration

lint: $(STAMP)  ## ruff and the dependency rule (import-linter)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)  ## mypy (strict) on the library, the handlers and the CDK app
	$(BIN)/mypy

synth: $(STAMP)  ## synthesise the CloudFormation templates (no Docker, no credentials)
	PATH="$(CURDIR)/$(BIN):$$PATH" npx cdk synth --quiet

bench: $(STAMP)  ## run the benchmarks; results in .bench/results.json
	$(BIN)/python tests/benchmarks/run.py --output .bench/results.json
	$(BIN)/python tests/benchmarks/bench_drift.py --output .bench/drift.json
	$(BIN)/python tests/benchmarks/bench_window_listing.py --s3 --output .bench/window_listing.json
	$(BIN)/python tests/benchmarks/bench_quality.py --output .bench/quality.json
	# the first run generates 10M labelled predictions (1.4 GB, ~9 min) into .bench/cache/performance
	$(BIN)/python tests/benchmarks/bench_performance.py --output .bench/performance.json
	# rollouts: ab/shadow overhead on the caller's path (ratios in one run), the evidence query at 1M + 1M
	$(BIN)/python tests/benchmarks/bench_rollout_serving.py --requests 4000 --output .bench/rollout_serving.json
	$(BIN)/python tests/benchmarks/bench_rollout_evidence.py --output .bench/rollout_evidence.json
	# CBPE: the estimate per window at 10M predictions from 100 per-object documents
	$(BIN)/python tests/benchmarks/bench_cbpe.py --output .bench/cbpe.json

# Synthesises the stacks in-process from cdk.json (or COST_ARGS="--templates cdk.out" after make synth);
# inputs and goals: docs/cost.md (e.g. make cost COST_ARGS="--rate 200 --instances-per-request 10").
COST_ARGS ?=

cost: $(STAMP)  ## cost per million predictions, idle month, monitoring per model; .cost/cost.json
	$(BIN)/python -m modelwatch_local.cost --synth $(COST_ARGS)

clean:  ## remove build outputs (keeps .venv)
	rm -rf cdk.out .build .bench .local .load .chaos .cost .pytest_cache .mypy_cache
