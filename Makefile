# Two entry points (README): `make demo` runs the samples through the pipeline, `make test` runs every test.
# Both set up what they need themselves: a virtual environment with pinned packages, Azurite and the Cosmos DB
# stand-in from npm (pinned by package-lock.json), and for the tests Debian's PostgreSQL server (the tests start and
# stop their own instance of it).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.package-lock.json
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint postgres clean

demo: $(STAMP) $(NODE_STAMP)
	$(BIN)/tributary ingest samples/
	$(BIN)/tributary status --limit 20

test: $(STAMP) $(NODE_STAMP) postgres lint
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

$(STAMP): requirements.txt requirements-local.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

# Azurite and the Cosmos DB stand-in, the servers the tests and the local host start (shared/devhost/servers/).
# npm ci installs exactly the lock file; it writes the stamp itself, the touch only guarantees it is newer.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		echo "Installing Debian's postgresql package (the tests start their own server)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends postgresql; }

clean:
	rm -rf $(VENV) .tributary .pytest_cache .ruff_cache .hypothesis
