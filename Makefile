# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export SENTINEL_OUTBOX ?= $(CURDIR)/.sentinel/outbox.jsonl
# `make dev PORT=3001`; notices and the CLI link runs to this webserver
PORT ?= 3000

.PHONY: venv install install-test demo demo-db dev stack stack-down test test-deps lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

venv: $(BIN)/python

# installs run again only when the project's metadata changed (stamps in the venv)
$(VENV)/.installed: pyproject.toml setup.py | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml setup.py | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

# the instance's storage is created here, once, before the demo or `make dev` start processes
# that would otherwise race to create it
$(DAGSTER_HOME)/dagster.yaml: | install
	mkdir -p $(DAGSTER_HOME)
	printf 'telemetry:\n  enabled: false\n' > $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -c "from sentinel_assets.orchestration.instance import initialized_instance as i; i()"

demo-db: install
	$(BIN)/python -m sentinel_assets.cli.demo demo/demo.db

# the first demo silences the logistics team's alerts for 2 hours (a stamp keeps it to one)
.sentinel/demo-silence: | install $(DAGSTER_HOME)/dagster.yaml
	mkdir -p .sentinel
	$(BIN)/sentinel silence --match team=logistics --for 2h --reason "demo: warehouse stocktake"
	touch $@

demo: demo-db $(DAGSTER_HOME)/dagster.yaml .sentinel/demo-silence
	$(BIN)/sentinel validate alert_specs
	$(BIN)/sentinel run
	@echo
	$(BIN)/sentinel status
	@echo
	@echo "Notices in $(SENTINEL_OUTBOX):"
	@tail -n 5 $(SENTINEL_OUTBOX) 2>/dev/null | cut -c1-160 || true
	@echo
	@echo "Run 'make demo' again: still-firing alerts send no second notice."
	@echo "See it in the UI: 'make dev', then http://localhost:$(PORT)"
	@echo "  - Assets > shop/orders: the order_amounts_positive check, with its history"
	@echo "  - Jobs > daily_order_count > Partitions: one evaluation per day; select past days"
	@echo "    and 'Launch backfill' to evaluate them (each day is judged on its own)"
	@echo "  - Runs: every evaluation above, tagged sentinel/alert and sentinel/status"

dev: demo-db $(DAGSTER_HOME)/dagster.yaml
	VIRTUAL_ENV=$(CURDIR)/$(VENV) PATH=$(CURDIR)/$(BIN):$$PATH \
	  SENTINEL_WEBSERVER_URL=$${SENTINEL_WEBSERVER_URL:-http://localhost:$(PORT)} \
	  $(BIN)/dg dev --port $(PORT)

# the docker-compose.yaml services, natively on the local PostgreSQL (scripts/stack.sh)
stack: demo-db
	scripts/stack.sh up

stack-down:
	scripts/stack.sh down

# Debian's prometheus package: promtool checks the exporter's output (test_metrics.py) and the
# monitoring profile (test_monitoring.py, which also runs prometheus; SENTINEL_MONITORING=1 make stack)
test-deps:
	@command -v promtool >/dev/null || (apt-get update && apt-get install -y --no-install-recommends prometheus)

test: install-test test-deps
	$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check sentinel_assets sentinel_assets_tests bench
	$(BIN)/lint-imports

clean:
	rm -rf .sentinel .dagster_home demo/demo.db
