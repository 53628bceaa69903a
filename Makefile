# Eenloket. The two commands that matter: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: help venv system-deps demo test test-unit test-integration test-e2e test-reliability test-reliability-ci test-reliability-mutants lint format \
        typecheck openapi events release image kafka-start kafka-stop clean bench bench-quick

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@# setuptools warns that an editable install's folders may shadow same-named ones (known;
	@# the project is laid out for it): a newcomer's first run prints nothing but errors.
	PYTHONWARNINGS='ignore:Editable installation' $(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP) ## create .venv with the project and its dev tools

system-deps: ## install the Debian packages the tests need (PostgreSQL, kcat, wrk, Chromium, Java, Maven); build promtool and Mailpit
	bash deploy/local/system-deps.sh

demo: venv ## Kafka + the three services (SQLite), play the scenarios, keep running (SCENARIO=tilburg plays one)
	$(BIN)/python deploy/local/demo.py $(if $(SCENARIO),--scenario $(SCENARIO)) $(DEMO_ARGS)

test: venv system-deps lint ## lint, type-check, then unit + contract + integration + e2e tests on real Kafka and PostgreSQL
	$(BIN)/pytest tests/unit tests/contract tests/integration tests/e2e $(PYTEST_ARGS)

test-unit: venv ## unit tests only (no infrastructure)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test-integration: venv system-deps ## integration tests (real Kafka and PostgreSQL)
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

test-e2e: venv system-deps ## the services as processes, end to end
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

test-reliability: venv system-deps ## the reliability suite at full size (tests/reliability, docs/reliability.md)
	$(BIN)/pytest tests/reliability -m reliability $(PYTEST_ARGS)

test-reliability-ci: venv system-deps ## the CI-sized subset of the reliability suite
	EENLOKET_RELIABILITY_SCALE=ci $(BIN)/pytest tests/reliability -m 'reliability and not full_only' $(PYTEST_ARGS)

test-reliability-mutants: venv system-deps ## each defect patch in tests/reliability/mutants must make its test fail (CI-sized)
	EENLOKET_RELIABILITY_SCALE=ci $(BIN)/python -m tests.reliability.mutants.run $(MUTANTS_ARGS)

lint: venv ## ruff (lint + format check) and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: venv ## apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

openapi: venv ## regenerate docs/api/*.json from the code
	@mkdir -p docs/api
	for s in ingest router caseview outbound notifications; do $(BIN)/python -m services.$$s openapi > docs/api/$$s.json; done

events: venv ## regenerate docs/events/*.json (each CloudEvents type's data schema) from the models
	$(BIN)/python -m shared.contracts.schemas docs/events

VERSION_OF_PYPROJECT = $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)

image: ## build the container image, labelled with pyproject.toml's version
	docker build -f deploy/docker/Dockerfile --build-arg VERSION=$(VERSION_OF_PYPROJECT) \
	    -t eenloket:$(VERSION_OF_PYPROJECT) .

release: venv ## VERSION=x.y.z: check changelog, version, documents, compatibility; tag vx.y.z (DRY_RUN=1: no tag)
	$(BIN)/python deploy/local/release.py $(VERSION) $(if $(DRY_RUN),--dry-run)

console-screenshots: venv system-deps ## refresh docs/img/console-*.png (headless Chromium)
	EENLOKET_CONSOLE_SCREENSHOTS=docs/img $(BIN)/pytest tests/e2e/test_console.py $(PYTEST_ARGS)

kafka-start: ## start a local broker in .local/kafka/run (prints KAFKA_BOOTSTRAP=...)
	bash deploy/local/kafka.sh start

kafka-stop: ## stop that broker
	bash deploy/local/kafka.sh stop

clean: ## remove the virtualenv, caches and .local (stop brokers/databases first)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info

bench: venv system-deps ## ceiling, stages, end to end, import (< 15 min; docs/bench-results.json, docs/img/bench-*.png)
	$(BIN)/python -m bench

bench-quick: venv system-deps ## the same stages, small (< 3 min; results in .local/bench/)
	$(BIN)/python -m bench --quick
