# The two commands: `make run` and `make test`. Everything else supports them.
SHELL := /bin/bash
PYTHON ?= python3
export UV_PYTHON_DOWNLOADS := never
# Dependencies are installed with their bytecode: processes start without compiling them.
export UV_COMPILE_BYTECODE := 1
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
RUN_ENV := DEBUG=true OUTBOUND_ALLOW_PRIVATE_NETWORKS=true
TEST_ENV := DEBUG=true OUTBOUND_ALLOW_PRIVATE_NETWORKS=true FAST_PASSWORD_HASHING=true DB_CONN_MAX_AGE=0 \
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/portal} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/1}

.PHONY: run test lint format bench load venv migrate demo clean

# uv itself is installed into a private tools venv so nothing global is needed but Python.
$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen
	touch $@

venv: $(VENV)/.synced

# ESLint for static/js, from the npm registry at the versions package-lock.json pins. Only
# `make lint` (and so `make test`) needs Node; `make run` does not.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

migrate: venv
	$(RUN_ENV) $(PY) manage.py migrate --noinput

demo: migrate
	$(RUN_ENV) $(PY) manage.py demo_data

run: demo
	$(RUN_ENV) $(PY) manage.py rundev

# Besides style: the import contracts of pyproject.toml (the layers of the apps, the pure
# core, one HTTP module, the core's layers), the types of every app and of the core (which
# pyproject.toml checks more strictly), and the JavaScript. mypy's Django plugin loads the
# settings.
lint: venv node_modules/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-logo --no-cache
	$(TEST_ENV) $(VENV)/bin/mypy portal integrations syncengine reviews syncs demo_partner
	node_modules/.bin/eslint static/js

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint
	$(TEST_ENV) $(PY) -m pytest $(PYTEST_ARGS)

# One table of figures, each against a floor measured in the same run (docs/performance.md);
# fails when a target is missed. `make bench BENCH=preview` runs only the benches named so.
bench: venv
	$(TEST_ENV) $(PY) bench/run.py $(BENCH)

# A bounded load test (locust, loopback only, stops by itself): req/s and p99 of the home,
# the editor, the preview and the integrations API on gunicorn with DEBUG=false.
# `make load LOAD_ARGS="--users 16 --seconds 60"`.
load: venv
	$(TEST_ENV) $(PY) bench/load.py $(LOAD_ARGS)

clean:
	rm -rf var .pytest_cache .ruff_cache tests/e2e/artifacts
