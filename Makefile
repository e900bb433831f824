# otel-logging: `make run` starts the central service (and the dashboard once it exists);
# `make test` sets everything up and runs the whole suite. Both create their own venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
CACHE_DIR ?= $(CURDIR)/.cache
export OTEL_LOGGING_CACHE := $(CACHE_DIR)
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOG_DIR ?= logs
RETAIN_AGE ?= 7d
GRPC_PORT ?= 4317
HTTP_PORT ?= 4318

.PHONY: run serve test unit integration lint format docs venv clean

# The editable install builds the native extension (setup.py, setuptools-rust) with Cargo's dirs under $(CACHE_DIR)/cargo.
$(STAMP): pyproject.toml setup.py $(wildcard native/Cargo.toml native/Cargo.lock native/src/*.rs native/python/*/*.py)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	bash scripts/build-native.sh $(BIN)/python '[all,test,docs]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	BIN=$(BIN) LOG_DIR=$(LOG_DIR) ALERTS=$(ALERTS) RETAIN_AGE=$(RETAIN_AGE) GRPC_PORT=$(GRPC_PORT) HTTP_PORT=$(HTTP_PORT) DASHBOARD_PORT=$(or $(DASHBOARD_PORT),8050) bash scripts/run.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The documentation site (docs/*.md, mkdocs.yml); --strict: a broken link, anchor or nav entry fails it.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --site-dir $(CACHE_DIR)/site

test: $(STAMP) lint docs
	$(BIN)/python -m pytest -q -ra

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest -q tests/integration

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
