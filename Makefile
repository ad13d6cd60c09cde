# The stack on one machine, without Docker.
#   make run    install, migrate, seed demo data, start every service and the gateway
#               (DB=postgresql: on a local PostgreSQL instead of SQLite files)
#   make test   the whole suite (needs RabbitMQ and PostgreSQL; makes its own databases)
#   make lint   ruff, the import contracts, no "# type: ignore"
#   make bench  every benchmark, one table in var/bench/ (BENCH_ARGS=--quick or --full)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
export PORT
# The store of `make run`: sqlite (files under var/) or postgresql (a local server, PRM_PG_DSN)
DB     ?= sqlite

.PHONY: install run test lint format bench clean console

# The web console (console/, Vue + Vite): built into console/dist when its sources changed;
# without Node.js the API still runs, and the gateway's / says how to build it.
CONSOLE_SOURCES := $(shell find console/src console/public -type f 2>/dev/null) \
  console/index.html console/vite.config.ts console/tsconfig.json console/package.json

console/node_modules/.package-lock.json: console/package-lock.json
	cd console && npm ci --no-audit --no-fund --loglevel=error

console/dist/index.html: console/node_modules/.package-lock.json $(CONSOLE_SOURCES)
	cd console && npm run build

console:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory console/dist/index.html; \
	else echo "Node.js 20 and npm are needed to build the web console (Debian/Ubuntu: apt-get install nodejs npm; elsewhere https://nodejs.org); the API runs without it"; fi

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip "setuptools<82" wheel
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed console

run: install
	@VENV=$(VENV) PORT=$(PORT) DB=$(DB) bash scripts/run.sh

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# No type checker runs here, so a "# type: ignore" only makes the code look checked.
NO_TYPE_IGNORE_IN := services gateway tests bench manage.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	@found=0; grep -rnE --include='*.py' '#[[:space:]]*type:[[:space:]]*ignore' \
	  $(NO_TYPE_IGNORE_IN) || found=$$?; \
	if [ $$found -eq 0 ]; then echo "lint: remove the '# type: ignore' comments above"; exit 1; \
	elif [ $$found -ne 1 ]; then exit $$found; fi

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Every benchmark against a stack of its own; one markdown table in var/bench/.
# BENCH_ARGS: --quick, --full, --url URL, --compare OLD.md, ... (python -m bench.all -h)
bench: install
	$(BIN)/python -m bench.all $(BENCH_ARGS)

clean:
	rm -rf var/ .pytest_cache .ruff_cache
