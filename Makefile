# The stack on one machine, without Docker.
#   make run    install, migrate, seed demo data, start every service and the gateway
#               (DB=postgresql: on a local PostgreSQL instead of SQLite files)
#   make test   the whole suite (needs RabbitMQ and PostgreSQL; makes its own databases)
#   make lint   ruff + import contracts
#   make bench  every benchmark, one table in var/bench/ (BENCH_ARGS=--quick or --full)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
export PORT
# The store of `make run`: sqlite (files under var/) or postgresql (a local server, PRM_PG_DSN)
DB     ?= sqlite

.PHONY: install run test lint format bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip "setuptools<82" wheel
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

run: install
	@VENV=$(VENV) PORT=$(PORT) DB=$(DB) bash scripts/run.sh

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Every benchmark against a stack of its own; one markdown table in var/bench/.
# BENCH_ARGS: --quick, --full, --url URL, --compare OLD.md, ... (python -m bench.all -h)
bench: install
	$(BIN)/python -m bench.all $(BENCH_ARGS)

clean:
	rm -rf var/ .pytest_cache .ruff_cache
