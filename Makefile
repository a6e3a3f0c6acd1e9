# Two commands do everything on a fresh machine: `make dev` and `make test`.
# The local runtime needs the SAM venv too: it expands each function's IAM role with SAM's translator.
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
INFRA_VENV := .venv-infra
LRS_VENV := .venv-lrs
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: help install dev dev-reset test lint typecheck unit integration fuzz validate build invoke token bench openapi event-schemas format clean infra-check

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# $(call venv,<dir>,<requirements file>): a venv with the pinned packages of one requirements file.
define venv
	@test -n "$(PYTHON)" || { echo "Python 3.13 not found: set PYTHON=/path/to/python3.13 (see README)"; exit 1; }
	test -d $(1) || $(PYTHON) -m venv $(1)
	$(1)/bin/pip install --quiet --upgrade pip==26.3
	$(1)/bin/pip install --quiet -r $(2)
	touch $(1)/.installed
endef

$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt
	$(call venv,$(VENV),requirements-dev.txt)

$(SAM_VENV)/.installed: requirements-sam.txt
	$(call venv,$(SAM_VENV),requirements-sam.txt)

# Tools whose pins clash with the layer's get venvs of their own: checkov and pip-audit, and Ralph
# (the local xAPI LRS) with its own FastAPI/pydantic stack.
$(INFRA_VENV)/.installed: requirements-infra.txt
	$(call venv,$(INFRA_VENV),requirements-infra.txt)

$(LRS_VENV)/.installed: requirements-lrs.txt
	$(call venv,$(LRS_VENV),requirements-lrs.txt)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed $(SAM_VENV)/.installed $(INFRA_VENV)/.installed $(LRS_VENV)/.installed node_modules/.installed ## Install every pinned dependency

dev: $(VENV)/.installed $(SAM_VENV)/.installed $(LRS_VENV)/.installed node_modules/.installed ## Serve the whole API on http://127.0.0.1:3000 over DynamoDB Local, events to a local LRS
	$(PY) -m local.dev

dev-reset: ## Delete the local DynamoDB data (its streams too), the local LRS's statements and the events log
	rm -rf .local/dynamodb .local/lrs .local/events.jsonl

invoke: $(VENV)/.installed $(SAM_VENV)/.installed ## Run one function on one event: make invoke FN=get_course EVENT=events/get_course.json
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

unit: $(VENV)/.installed $(SAM_VENV)/.installed ## Unit tests (moto)
	$(PY) -m pytest tests/unit -q -n 2

integration: $(VENV)/.installed $(SAM_VENV)/.installed $(LRS_VENV)/.installed node_modules/.installed ## Integration tests over HTTP against DynamoDB Local
	$(PY) -m pytest tests/integration -q

fuzz: $(VENV)/.installed $(SAM_VENV)/.installed node_modules/.installed ## schemathesis over openapi.json as each role: no 5xx allowed
	@mkdir -p .local
	@$(PY) -m tests.fuzz 2> .local/fuzz-functions.log || { tail -40 .local/fuzz-functions.log; exit 1; }

event-schemas: $(VENV)/.installed ## Regenerate schemas/events/*.json from the event models
	PYTHONPATH=layers/common $(PY) -m tools.event_schemas

openapi: $(VENV)/.installed ## Regenerate openapi.json from the handlers
	$(PY) -m tools.openapi > openapi.json

# SAM's Python builder looks for python3.13 on PATH; the SAM venv provides one.
SAM_ENV := PATH="$(CURDIR)/$(SAM_VENV)/bin:$$PATH"

# Linted twice: without an LRS (the default: no xAPI resources) and with one (rules, connection, API
# destination), from a copy of the template whose LRS parameters default to an example LRS.
LRS_TEMPLATE := .aws-sam/template-with-lrs.yaml

validate: $(SAM_VENV)/.installed ## sam validate --lint, without and with an LRS configured, and cfn-lint with SnapStart=true
	$(SAM_ENV) $(SAM) validate --lint
	@mkdir -p .aws-sam
	sed -e '/^  LrsEndpoint:/,/Default:/ s|Default: ""|Default: https://lrs.example.org/xAPI|' \
	    -e '/^  LrsCredentialsSecret:/,/Default:/ s|Default: ""|Default: lms/dev/lrs-credentials|' \
	    template.yaml > $(LRS_TEMPLATE)
	@grep -q 'Default: https://lrs.example.org/xAPI' $(LRS_TEMPLATE) && grep -q 'Default: lms/dev/lrs' $(LRS_TEMPLATE)
	$(SAM_ENV) $(SAM) validate --lint --template-file $(LRS_TEMPLATE)
	$(SAM_VENV)/bin/cfn-lint template.yaml --parameters SnapStart=true

build: $(SAM_VENV)/.installed ## sam build (arm64, python3.13)
	$(SAM_ENV) $(SAM) build --cached --parallel

# cfn-lint -I: its info log (the transformed template) goes to .local/cfn-lint.log; -c I adds the
# informational rules. checkov reads .checkov.yaml (every skip with its reason); it cannot read
# Fn::ForEach, so it scans the template as SAM CLI expands the language extensions, with an LRS
# configured (an LRS adds resources; conditions left false would hide them from checkov).
EXPANDED_TEMPLATE := .local/template.expanded.json
LRS_PARAMETERS := LrsEndpoint=https://lrs.example.org/xAPI LrsCredentialsSecret=lms/dev/lrs-credentials

infra-check: $(SAM_VENV)/.installed $(INFRA_VENV)/.installed ## cfn-lint, checkov and pip-audit over the template and the pins
	@mkdir -p .local
	$(SAM_VENV)/bin/cfn-lint -I -c I -- template.yaml 2> .local/cfn-lint.log
	$(SAM_VENV)/bin/python -I tools/sam_transform.py --expanded template.yaml $(LRS_PARAMETERS) > $(EXPANDED_TEMPLATE)
	$(INFRA_VENV)/bin/checkov --config-file .checkov.yaml -f $(EXPANDED_TEMPLATE)
	$(INFRA_VENV)/bin/python -m tools.audit

test: lint typecheck unit integration fuzz validate build infra-check ## Everything CI runs

bench: $(VENV)/.installed $(SAM_VENV)/.installed node_modules/.installed ## Benchmarks against the local runtime (prints figures)
	@mkdir -p .local
	@echo "function logs: .local/bench-functions.log"
	@$(PY) -m benchmarks.run 2> .local/bench-functions.log || { tail -40 .local/bench-functions.log; exit 1; }

.PHONY: bench-cold
bench-cold: $(VENV)/.installed ## Cold start of every function against its floor (part of make bench)
	$(PY) -m benchmarks.cold_start

clean: ## Remove build outputs and the expanded templates cached in .local/template
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .local/template
