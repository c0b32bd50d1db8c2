# Paperboy task runner. `make run` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TEST_WORKERS ?= 2
STAMP := $(VENV)/.installed-stamp
export PAPERBOY_SHARED_DATA ?= $(abspath ../shared/data)
export HF_HUB_OFFLINE := 1

.PHONY: run install test lint format typecheck clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Paperboy needs Python 3.11 or newer (set PYTHON=...)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,scale]'
	touch $(STAMP)

install: $(STAMP)

## Set up, load a starting corpus (skipped when already loaded) and serve on http://127.0.0.1:8000
# Without a configured mail server, emails (sign-up links, digests) are saved as files in data/outbox.
ifndef PAPERBOY_SMTP_HOST
run: export PAPERBOY_MAIL_OUTBOX ?= $(abspath data/outbox)
endif
run: $(STAMP)
	$(BIN)/paperboy init
	$(BIN)/paperboy ingest starter || echo "warning: the starting corpus did not load completely; serving what is there"
	$(BIN)/paperboy serve

## Lint, type-check and run the whole test suite (SQLite, PostgreSQL, a real browser)
test: $(STAMP) lint typecheck
	bash scripts/ensure_postgres.sh
	bash scripts/ensure_chromium.sh
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --durations=25

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
