SHELL := /bin/bash
.DEFAULT_GOAL := help
.ONESHELL:
# One shell per recipe: without -e only its last line would decide whether the target failed.
.SHELLFLAGS := -e -o pipefail -c

VENV ?= .venv
BIN := $(abspath $(VENV))/bin
# uv itself (tools/uv/requirements.txt, installed by pip with its hashes), then one environment per
# lock: the project's (uv.lock), SAM CLI's (tools/sam) and the scanners' (tools/scan).
UV_VENV ?= .venv-uv
UV := $(abspath $(UV_VENV))/bin/uv
SAM_VENV ?= .venv-sam
SAM := $(abspath $(SAM_VENV))/bin/sam
SCAN_VENV ?= .venv-scan
SCAN := $(abspath $(SCAN_VENV))/bin
BUILD_DIR ?= .aws-sam/build
REGION ?= us-east-1
# Lambda runs Python 3.13, so everything here does too: python3.13 from PATH if it works (pyenv's shim
# fails while another version is global), else the newest 3.13 that pyenv installed.
PYTHON313 ?= $(shell for candidate in python3.13 $$(ls -d $$(pyenv root 2>/dev/null)/versions/3.13*/bin/python3.13 2>/dev/null | sort -V | tail -n 1); do \
	"$$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null && { echo "$$candidate"; break; }; done)

export SAM_CLI_TELEMETRY := 0
# uv uses this interpreter and never downloads one.
export UV_PYTHON := $(PYTHON313)
export UV_PYTHON_DOWNLOADS := never
export PATH := $(BIN):$(abspath $(UV_VENV))/bin:$(abspath $(SAM_VENV))/bin:$(PATH)

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

define need_python313
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found: install it (pyenv install 3.13) or set PYTHON313=/path/to/python3.13" >&2; exit 1; }
endef

$(UV_VENV)/.installed: tools/uv/requirements.txt
	$(need_python313)
	"$(PYTHON313)" -m venv $(UV_VENV)
	$(UV_VENV)/bin/python -m pip install --quiet --require-hashes --no-deps -r tools/uv/requirements.txt
	touch $@

# --locked: the environment is exactly uv.lock, and the build fails when the lock no longer satisfies
# pyproject.toml (run `make lock`).
$(VENV)/.installed: $(UV_VENV)/.installed pyproject.toml uv.lock clients/python/pyproject.toml dev-engine/pyproject.toml
	@echo "Creating $(VENV) on Python 3.13 from uv.lock, with every dependency." >&2
	$(UV) sync --locked --quiet
	touch $@

$(SAM_VENV)/.installed: $(UV_VENV)/.installed tools/sam/pyproject.toml tools/sam/uv.lock
	UV_PROJECT_ENVIRONMENT=$(abspath $(SAM_VENV)) $(UV) sync --locked --quiet --project tools/sam
	touch $@

$(SCAN_VENV)/.installed: $(UV_VENV)/.installed tools/scan/pyproject.toml tools/scan/uv.lock
	UV_PROJECT_ENVIRONMENT=$(abspath $(SCAN_VENV)) $(UV) sync --locked --quiet --project tools/scan
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## Create the virtualenv on Python 3.13 from uv.lock

.PHONY: test
test: venv locks lint typecheck template scan audit ## Run every check and every test (what CI runs)
	$(BIN)/pytest

.PHONY: lock
lock: $(UV_VENV)/.installed ## Refresh every lock to the newest versions the inputs allow
	$(UV) pip compile --quiet --generate-hashes --python-version 3.13 --upgrade tools/uv/requirements.in -o tools/uv/requirements.txt
	$(UV) lock --upgrade
	$(UV) lock --upgrade --project tools/sam
	$(UV) lock --upgrade --project tools/scan

.PHONY: locks
locks: $(UV_VENV)/.installed ## Fail when a lock and its inputs disagree
	$(UV) lock --check
	$(UV) lock --check --project tools/sam
	$(UV) lock --check --project tools/scan
	# uv's own pin: compiling it again in a copy, preferring the pins already there, must change nothing.
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && mkdir -p "$$tmp/tools/uv" && cp tools/uv/requirements.* "$$tmp/tools/uv/"
	(cd "$$tmp" && $(UV) pip compile --quiet --generate-hashes --python-version 3.13 tools/uv/requirements.in -o tools/uv/requirements.txt)
	diff -u tools/uv/requirements.txt "$$tmp/tools/uv/requirements.txt"

.PHONY: audit
audit: venv $(SCAN_VENV)/.installed ## Known vulnerabilities in every lock (pip-audit over PyPI's advisories; AUDIT_REQUIRED=1 fails when they are unreachable)
	$(BIN)/python scripts/audit_locks.py $(SCAN)/pip-audit

.PHONY: scan
scan: $(SCAN_VENV)/.installed ## checkov over template.yaml (skips are in the template, with reasons) and actionlint over .github/workflows
	$(SCAN)/checkov --file template.yaml --framework cloudformation --skip-download --compact --quiet
	$(SCAN)/actionlint

.PHONY: lint
lint: venv ## ruff (lint and format check) and the layers' import contracts (lint-imports)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

.PHONY: format
format: venv ## ruff: fix what can be fixed and format
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

.PHONY: typecheck
typecheck: venv ## mypy (strict) on the whole tree
	$(BIN)/mypy .

.PHONY: template
template: venv $(SAM_VENV)/.installed ## sam validate, sam validate --lint, sam build (no Docker needed) and the layer against the lock
	$(SAM) validate --region $(REGION)
	$(SAM) validate --lint --region $(REGION)
	$(SAM) build --build-dir $(BUILD_DIR) --region $(REGION)
	$(BIN)/python scripts/check_layer.py $(BUILD_DIR)/WaitroomLayer/python

.PHONY: build
build: venv $(SAM_VENV)/.installed ## sam build: the layer from uv.lock (docs/DEPLOYING.md)
	$(SAM) build

.PHONY: invoke
invoke: venv $(SAM_VENV)/.installed ## sam local invoke FUNCTION (e.g. StartFunction) with EVENT (events/start.json); needs Docker
	@test -n "$(FUNCTION)" -a -n "$(EVENT)" || { echo "usage: make invoke FUNCTION=StartFunction EVENT=events/start.json" >&2; exit 2; }
	$(SAM) local invoke $(FUNCTION) -e $(EVENT) --env-vars events/env.json

.PHONY: deploy-guided
deploy-guided: venv $(SAM_VENV)/.installed ## The first deploy: sam deploy --guided (ARGS="--config-env prod" for prod), answers saved in samconfig.toml
	$(SAM) deploy --guided $(ARGS)

.PHONY: deploy
deploy: venv $(SAM_VENV)/.installed ## Every later deploy: scripts/deploy.py, so that a changed parameter reaches the alias too (after make build)
	$(BIN)/python scripts/deploy.py $(ARGS)

.PHONY: events
events: venv $(SAM_VENV)/.installed ## Regenerate events/ with sam local generate-event
	$(BIN)/python scripts/generate_events.py

.PHONY: openapi
openapi: venv ## Regenerate functions/docs/openapi.json from the routes (after changing one)
	$(BIN)/python scripts/generate_openapi.py

.PHONY: migrate
migrate: venv ## Apply the database migrations to DATABASE_URL (default: the local SQLite file)
	$(BIN)/waitroom migrate

.PHONY: run
run: venv ## Run the whole system locally (API on PORT=8080, dev engine, worker, SQLite) until Ctrl-C
	$(BIN)/python -m devstack

.PHONY: token
token: venv ## Print a JWT the local stack accepts (SUB=alice chooses the caller, ADMIN=1 adds the admin scope)
	@$(BIN)/python -m devstack.token

.PHONY: fuzz
fuzz: venv ## schemathesis on every route of the local stack: 1000 cases per operation, every check
	$(BIN)/pytest tests/integration/test_fuzz_api.py --fuzz-examples 1000 --timeout 7200 -p no:cacheprovider

.PHONY: bench
bench: venv ## Measure wake latency, reads per wait, the local stack under load, cold start and the worker at fixed arrival rates (docs/PERFORMANCE.md)
	$(BIN)/python -m bench

.PHONY: clean
clean: ## Remove the virtualenv, build output and local data
	rm -rf $(VENV) $(UV_VENV) $(SAM_VENV) $(SCAN_VENV) .aws-sam .var .pytest_cache .mypy_cache .ruff_cache

.PHONY: reference
reference: venv ## Regenerate the tables of docs/ from the code: settings, problem types, routes
	$(BIN)/python scripts/generate_reference.py
