# Rebuild Tracker — the two commands of the Quick start, and a few helpers.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
STAMP  := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
BROWSER_STAMP := $(VENV)/.browser

.PHONY: run test lint format setup db-up db-down db-status clean

run: setup  ## serve the demo on http://127.0.0.1:$(PORT)
	$(BIN)/rebuild serve --port $(PORT) --prepare

test: setup $(BROWSER_STAMP)  ## the whole test suite, against a real local PostGIS
	$(BIN)/rebuild db up
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

setup: $(STAMP) $(NODE_STAMP)

# Front-end libraries come from npm (package.json + package-lock.json) and are served by the app.
$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y nodejs npm || { apt-get update && apt-get install -y nodejs npm; }; \
	  else \
	    echo "npm is missing: run 'sudo apt-get install nodejs npm', then retry." >&2; \
	    exit 1; \
	  fi; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# The browser tests drive Debian's Chromium through Playwright (`playwright install` would
# download a browser build, which an intranet or this CI cannot); CJK fonts make screenshots legible.
$(BROWSER_STAMP): $(STAMP)
	@[ -x /usr/bin/chromium ] && [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y chromium fonts-wqy-microhei \
	      || { apt-get update && apt-get install -y chromium fonts-wqy-microhei; }; \
	  else \
	    echo "The browser tests need Chromium and CJK fonts: run 'sudo apt-get install chromium fonts-wqy-microhei', then retry." >&2; \
	    exit 1; \
	  fi; }
	touch $(BROWSER_STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y python3-venv || { apt-get update && apt-get install -y python3-venv; }; \
	  else \
	    echo "Python's venv module is missing: run 'sudo apt-get install python3-venv', then retry." >&2; \
	    exit 1; \
	  fi; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# Benchmarks (bench/): a database of their own in the local PostGIS, the real servers and tipg
# (the peer) on loopback; writes docs/benchmarks.md and docs/benchmarks.json. A few minutes.
BENCH_STAMP := $(VENV)/.bench

.PHONY: bench
bench: setup $(BENCH_STAMP)  ## measure and write docs/benchmarks.md
	$(BIN)/python -m bench

# The bench's own packages (the `bench` extra: tipg, aiohttp, py-spy), installed only here.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	touch $(BENCH_STAMP)

db-up: setup
	$(BIN)/rebuild db up
db-down: setup
	$(BIN)/rebuild db down
db-status: setup
	$(BIN)/rebuild db status

clean:  ## stop the local database and remove the environment (keeps .rebuild data)
	-$(BIN)/rebuild db down
	rm -rf $(VENV) *.egg-info
