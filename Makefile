# foliodb — `make demo` sets everything up and runs the demo; `make test` sets up and tests.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV  := .venv
BIN   := $(VENV)/bin
FOLIO := $(BIN)/folio
# Reinstall when the dependencies change.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-10)

.PHONY: help venv postgres db demo test lint format bench docs clean

help: ## Show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@scripts/bootstrap.sh python
	@test -x $(BIN)/python || python3 -m venv $(VENV)
	@$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	@$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP) ## Create .venv and install foliodb with its dev tools

postgres: ## Install PostgreSQL 15 + pg_cron (Debian packages) if missing
	@scripts/bootstrap.sh postgres

db: venv postgres ## Start the embedded database and migrate it
	@$(FOLIO) db up >/dev/null
	@$(FOLIO) db migrate

demo: db ## Set up and run the demo: prices, portfolios, refresh, dashboard, chart
	@$(FOLIO) demo

test: db lint ## Set up, lint, and run the whole test suite
	@$(BIN)/pytest

lint: venv ## ruff (Python) and sqlfluff (dbt models)
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/sqlfluff lint --disable-progress-bar dbt_project/models

format: venv ## Format Python and dbt SQL in place
	@$(BIN)/ruff format .
	@$(BIN)/ruff check --fix .
	@$(BIN)/sqlfluff fix --disable-progress-bar dbt_project/models

bench: db ## Run the benchmarks; report under bench/results/
	@$(FOLIO) bench
	@$(BIN)/python -m bench.factors_bench > bench/results/factors.json
	@echo "factor models (2,000 symbols x 5 years): bench/results/factors.json" 

docs: db ## Generate the dbt docs site (.folio/dbt/<database>/target/index.html) and say how to open it
	@$(FOLIO) dbt docs generate --quiet
	@target=$$($(BIN)/python -c "from foliodb import models; print(models.dbt_env()['DBT_TARGET_PATH'])"); \
	echo "dbt docs: $$target/index.html"; \
	echo "open it:  ./folio dbt docs serve --port 8080 --no-browser   (then http://localhost:8080)"

clean: ## Stop the database and delete .folio and .venv
	-@$(FOLIO) db down
	rm -rf .folio $(VENV)
