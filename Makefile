# Runink: two commands matter: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PKGS := runink reconciler agent

.PHONY: demo test lint rules typecheck pytest bench system-deps clean

# Debian packages the tests need: git (repos), util-linux (namespaces), graphviz
# (`runi graph` output is rendered with dot in a test), strace (Barn's durability
# tests prove every acknowledged write was preceded by an fdatasync), bubblewrap
# (bench/spawn.py compares against it), iproute2 (isolation tests run a server in a netns),
# prometheus (promtool checks and unit-tests the alert rules; the end-to-end alert test
# starts a real Prometheus on loopback).
system-deps:
	@missing=""; \
	command -v git >/dev/null || missing="$$missing git"; \
	command -v unshare >/dev/null || missing="$$missing util-linux"; \
	command -v dot >/dev/null || missing="$$missing graphviz"; \
	command -v strace >/dev/null || missing="$$missing strace"; \
	command -v bwrap >/dev/null || missing="$$missing bubblewrap"; \
	command -v ip >/dev/null || missing="$$missing iproute2"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	$(PYTHON) -m ensurepip --version >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "need root (or sudo) to install:$$missing" >&2; exit 2; fi; \
	fi

$(STAMP): pyproject.toml | system-deps
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11" >&2; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# The main job on the embedded default: git push -> running pipelines (scripts/demo.py:
# runi up on a fresh copy of example-repo, a push, runi status), then the pull-request
# audit of a prepared branch, then a tour of the local tools.
demo: $(STAMP)
	$(BIN)/python scripts/demo.py
	@echo "== runi lint example-repo: validate every file and reference"
	$(BIN)/runi lint example-repo
	@echo "== runi compile example-repo: one Plan per Scenario (stable JSON, content-hashed)"
	$(BIN)/runi compile example-repo --out .demo/plans
	@echo "== runi graph: the trade pipelines as Graphviz DOT (render with: dot -Tsvg)"
	$(BIN)/runi graph example-repo --scenario features/trades.dsl > .demo/trades.dot
	@echo "== runi test example-repo: every scenario with a golden set, run as real processes"
	$(BIN)/runi test example-repo --junit .demo/junit.xml
	@echo "== runi run: the trade pipeline on its golden input (DuckDB warehouse, DLQ, lineage)"
	$(BIN)/runi run example-repo --scenario features/trades.dsl --name "Validate trades" \
	  --input jsonl://golden/trades/validate/input.jsonl --run-dir .demo/run
	@echo "== runi audit: a prepared branch (trade contract allows JPY, no major bump) against main"
	rm -rf .demo/audit-repo && mkdir -p .demo && cp -r example-repo .demo/audit-repo
	cd .demo/audit-repo && git init -q -b main && git add -A \
	  && git -c user.name=demo -c user.email=demo@runink.dev commit -q -m base \
	  && git checkout -q -b allow-jpy \
	  && sed -i 's/^          - {value: GBP}$$/          - {value: GBP}\n          - {value: JPY}/' contracts/trade.yaml \
	  && git -c user.name=demo -c user.email=demo@runink.dev commit -q -am "trade: allow JPY"
	$(BIN)/runi audit .demo/audit-repo --base main --head allow-jpy; status=$$?; \
	  [ $$status -eq 1 ] && echo "(exit 1 as expected: breaking change without a major version bump)"
	@echo "== runi audit: the same branch after raising the contract's major version"
	cd .demo/audit-repo && sed -i 's/^version: 2.1.0$$/version: 3.0.0/' contracts/trade.yaml \
	  && git -c user.name=demo -c user.email=demo@runink.dev commit -q -am "trade v3"
	$(BIN)/runi audit .demo/audit-repo --base main --head allow-jpy
	@echo "wrote .demo/plans/, .demo/trades.dot, .demo/junit.xml and .demo/run/ (run.json, dlq/, lineage/)"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The shipped alert rules: valid, and their unit tests (deploy/prometheus/alerts_test.yaml) pass.
rules: system-deps
	promtool check rules deploy/prometheus/alerts.yaml
	promtool test rules deploy/prometheus/alerts_test.yaml

typecheck: $(STAMP)
	$(BIN)/mypy --strict $(PKGS)

# pytest exits 5 when it collects nothing: that is a failure here too.
pytest: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

test: lint rules typecheck pytest

bench: $(STAMP)
	@ls bench/*.py >/dev/null 2>&1 && for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done || echo "no benchmarks yet"

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache .demo
