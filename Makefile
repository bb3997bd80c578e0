# CyberCoop — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_URL ?= postgres://postgres@127.0.0.1:5432/cybercoop
# Python keeps the modules it compiles (__pycache__, ignored by git) even where the environment says not to: the
# suite and the demo start a hundred node processes, and each one compiled Django and the project again from
# source, about 2 s of CPU, when nothing was kept.
unexport PYTHONDONTWRITEBYTECODE

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check uv
	@UV_PYTHON_DOWNLOADS=never $(BIN)/uv pip install -q --python $(BIN)/python -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install CyberCoop with its development tools

demo: $(STAMP) ## The four-node demo (Secretariat, KZ, RU, AM) on http://127.0.0.1:8000-8003
	$(BIN)/cybercoop demo

lint: $(STAMP) ## ruff (format and check), import-linter, mypy, Django checks, catalogues
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy
	CYBERCOOP_DATA_DIR=$$(mktemp -d) $(BIN)/cybercoop manage check --fail-level WARNING
	CYBERCOOP_DATA_DIR=$$(mktemp -d) $(BIN)/cybercoop manage makemigrations --check --dry-run
	CYBERCOOP_DATA_DIR=$$(mktemp -d) $(BIN)/cybercoop i18n check

system: ## Install the Debian packages the suite needs when missing (Chromium, poppler, NSS tools, Noto fonts)
	@scripts/system-packages

test: $(STAMP) system lint ## Lint, then the whole suite on SQLite and (if reachable) PostgreSQL
	@scripts/run-tests $(BIN) "$(PG_URL)"

test-sqlite: $(STAMP) system ## The suite on SQLite only (arguments: ARGS="-k audit")
	DATABASE_URL= $(BIN)/pytest $(ARGS)

format: $(STAMP) ## Format and fix what ruff can
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

messages: $(STAMP) ## Extract new messages into the ru/kk/en catalogues, then compile them
	$(BIN)/cybercoop i18n extract
	$(BIN)/cybercoop i18n compile

rules-report: $(STAMP) ## Print the rule traceability report (docs/rules-report.md)
	$(BIN)/cybercoop rules report --format markdown > docs/rules-report.md
	@tail -n 1 docs/rules-report.md

bench: $(STAMP) ## Run the benchmarks in bench/ (each writes JSON to var/bench/)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean: ## Remove the virtualenv and local data
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

.PHONY: help install system demo lint test test-sqlite format messages rules-report bench clean
