SHELL := /bin/bash
.DEFAULT_GOAL := help
.ONESHELL:

VENV ?= .venv
BIN := $(abspath $(VENV))/bin
TOOLS_VENV ?= .venv-tools
TOOLS := $(abspath $(TOOLS_VENV))/bin
BUILD_DIR ?= .aws-sam/build
REGION ?= us-east-1
# Lambda runs Python 3.13, so everything here does too: python3.13 from PATH if it works (pyenv's shim
# fails while another version is global), else the newest 3.13 that pyenv installed.
PYTHON313 ?= $(shell for candidate in python3.13 $$(ls -d $$(pyenv root 2>/dev/null)/versions/3.13*/bin/python3.13 2>/dev/null | sort -V | tail -n 1); do \
	"$$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null && { echo "$$candidate"; break; }; done)

export SAM_CLI_TELEMETRY := 0
export PATH := $(BIN):$(PATH)

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml shared/requirements.txt clients/python/pyproject.toml
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found: install it (pyenv install 3.13) or set PYTHON313=/path/to/python3.13" >&2; exit 1; }
	@echo "Creating $(VENV) on Python 3.13 and installing every dependency: a minute or two, once." >&2
	"$(PYTHON313)" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# The Python client, its own distribution (clients/python), with its extras (SigV4, asyncio): the tests use them.
	$(BIN)/python -m pip install --quiet -e 'clients/python[sigv4,async]'
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## Create the virtualenv on Python 3.13 with every dependency

.PHONY: test
test: venv lint typecheck template scan ## Run every check and every test (what CI runs)
	$(BIN)/pytest

$(TOOLS_VENV)/.installed: requirements-tools.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found: install it (pyenv install 3.13) or set PYTHON313=/path/to/python3.13" >&2; exit 1; }
	@echo "Creating $(TOOLS_VENV) for checkov and actionlint: a minute or two, once." >&2
	"$(PYTHON313)" -m venv $(TOOLS_VENV)
	$(TOOLS)/python -m pip install --quiet --upgrade pip
	$(TOOLS)/python -m pip install --quiet -r requirements-tools.txt
	touch $@

.PHONY: scan
scan: $(TOOLS_VENV)/.installed ## checkov over template.yaml (skips are in the template, with reasons) and actionlint over .github/workflows
	$(TOOLS)/checkov --file template.yaml --framework cloudformation --skip-download --compact --quiet
	$(TOOLS)/actionlint

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
template: venv ## sam validate, sam validate --lint and sam build (no Docker needed)
	$(BIN)/sam validate --region $(REGION)
	$(BIN)/sam validate --lint --region $(REGION)
	$(BIN)/sam build --build-dir $(BUILD_DIR) --region $(REGION)

.PHONY: build
build: venv ## sam build, as the README's "Deploying" types it in the activated virtualenv
	$(BIN)/sam build

.PHONY: invoke
invoke: venv ## sam local invoke FUNCTION (e.g. StartFunction) with EVENT (events/start.json); needs Docker
	@test -n "$(FUNCTION)" -a -n "$(EVENT)" || { echo "usage: make invoke FUNCTION=StartFunction EVENT=events/start.json" >&2; exit 2; }
	$(BIN)/sam local invoke $(FUNCTION) -e $(EVENT) --env-vars events/env.json

.PHONY: deploy
deploy: venv ## sam deploy --guided: asks for each parameter and saves the answers in samconfig.toml
	$(BIN)/sam deploy --guided

.PHONY: events
events: venv ## Regenerate events/ with sam local generate-event
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
	rm -rf $(VENV) $(TOOLS_VENV) .aws-sam .var .pytest_cache .mypy_cache .ruff_cache
