# Two commands do everything on a fresh machine: `make dev` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The first Python 3.13 that actually runs: python3.13 on PATH (a pyenv shim may exist without
# being selected), else any pyenv-installed 3.13. Override with PYTHON=/path/to/python3.13.
ifndef PYTHON
PYTHON := $(shell for p in python3.13 $$(pyenv root 2>/dev/null)/versions/3.13*/bin/python3.13; do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null && { echo "$$p"; break; }; done)
endif
VENV := .venv
SAM_VENV := .venv-sam
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: help install dev dev-reset test lint typecheck unit integration fuzz validate build invoke token bench openapi format clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt
	@test -n "$(PYTHON)" || { echo "Python 3.13 not found: set PYTHON=/path/to/python3.13 (see README)"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip==26.3
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	@test -n "$(PYTHON)" || { echo "Python 3.13 not found: set PYTHON=/path/to/python3.13 (see README)"; exit 1; }
	test -d $(SAM_VENV) || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip==26.3
	$(SAM_VENV)/bin/pip install --quiet -r requirements-sam.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed $(SAM_VENV)/.installed node_modules/.installed ## Install every pinned dependency

dev: $(VENV)/.installed node_modules/.installed ## Serve the whole API on http://127.0.0.1:3000 over DynamoDB Local
	$(PY) -m local.dev

dev-reset: ## Delete the local DynamoDB data
	rm -rf .local/dynamodb

invoke: $(VENV)/.installed ## Run one function on one event: make invoke FN=get_course EVENT=events/get_course.json
	$(PY) -m local.invoke $(FN) $(EVENT)

token: $(VENV)/.installed ## Print a signed dev JWT: make token SUB=alice ROLE=student
	@$(PY) -m local.token --sub "$(or $(SUB),dev-student)" --role "$(or $(ROLE),student)"

lint: $(VENV)/.installed ## ruff lint + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed ## Apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

typecheck: $(VENV)/.installed ## mypy (strict) over the handlers, the layer, the local runtime and tools
	$(VENV)/bin/mypy

unit: $(VENV)/.installed ## Unit tests (moto)
	$(PY) -m pytest tests/unit -q -n 2

integration: $(VENV)/.installed node_modules/.installed ## Integration tests over HTTP against DynamoDB Local
	$(PY) -m pytest tests/integration -q

fuzz: $(VENV)/.installed node_modules/.installed ## schemathesis over openapi.json as each role: no 5xx allowed
	@mkdir -p .local
	@$(PY) -m tools.fuzz 2> .local/fuzz-functions.log || { tail -40 .local/fuzz-functions.log; exit 1; }

openapi: $(VENV)/.installed ## Regenerate openapi.json from the handlers
	$(PY) -m tools.openapi > openapi.json

# SAM's Python builder looks for python3.13 on PATH; the SAM venv provides one.
SAM_ENV := PATH="$(CURDIR)/$(SAM_VENV)/bin:$$PATH"

validate: $(SAM_VENV)/.installed ## sam validate --lint (and cfn-lint with SnapStart=true)
	$(SAM_ENV) $(SAM) validate --lint
	$(SAM_VENV)/bin/cfn-lint template.yaml --parameters SnapStart=true

build: $(SAM_VENV)/.installed ## sam build (arm64, python3.13)
	$(SAM_ENV) $(SAM) build --cached --parallel

test: lint typecheck unit integration fuzz validate build ## Everything CI runs

bench: $(VENV)/.installed node_modules/.installed ## Benchmarks against the local runtime (prints figures)
	@mkdir -p .local
	@echo "function logs: .local/bench-functions.log"
	@$(PY) -m benchmarks.run 2> .local/bench-functions.log || { tail -40 .local/bench-functions.log; exit 1; }

.PHONY: bench-cold
bench-cold: $(VENV)/.installed ## Cold start of every function against its floor (part of make bench)
	$(PY) -m benchmarks.cold_start

clean: ## Remove build outputs
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
