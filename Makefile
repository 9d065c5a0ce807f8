# Two commands from a fresh clone: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck serve mocks clean chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/yiwang demo

serve: $(STAMP)
	$(BIN)/yiwang serve

mocks: $(STAMP)
	$(BIN)/yiwang mocks

lint: $(STAMP)
	$(BIN)/ruff check gateway connectors schema mocks tests

typecheck: $(STAMP)
	$(BIN)/mypy

# The trace page's browser test drives Debian's chromium (Playwright comes with the dev extra).
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

test: $(STAMP) chromium lint typecheck
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

.PHONY: bench bench-quick bench-tools peer wrk
# Side by side with Hive Gateway (bench/README.md). The harness installs the peer (npm ci) and wrk when they are
# missing; bench-tools has it do so beside the venv's install, in parallel, so that bench-quick stays under 3 minutes
# (bench/harness.py needs only the standard library, so the system Python runs it).
bench-tools:
	$(MAKE) -j3 $(STAMP) peer wrk

peer:
	$(PYTHON) -c 'from bench import harness; harness.ensure_peer_installed()'

wrk:
	$(PYTHON) -c 'from bench import harness; harness.ensure_wrk()'

bench: bench-tools
	$(BIN)/python -m bench.run

bench-quick: bench-tools
	$(BIN)/python -m bench.run --quick
