# Two commands from a fresh clone: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-floor lint typecheck serve mocks clean chromium outside-deps graphiql-assets

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP) graphiql-assets
	$(BIN)/yiwang demo

serve: $(STAMP)
	$(BIN)/yiwang serve

mocks: $(STAMP)
	$(BIN)/yiwang mocks

lint: $(STAMP)
	$(BIN)/ruff check gateway connectors schema mocks tests

typecheck: $(STAMP)
	$(BIN)/mypy

# The outside test suites' node side (tests/outside: graphql-http's audits); npm ci only when the lock changed.
OUTSIDE := tests/outside
OUTSIDE_STAMP := $(OUTSIDE)/node_modules/.installed-stamp

$(OUTSIDE_STAMP): $(OUTSIDE)/package.json $(OUTSIDE)/package-lock.json
	cd $(OUTSIDE) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(OUTSIDE_STAMP)

outside-deps: $(OUTSIDE_STAMP)

# GraphiQL's browser builds, served by the gateway itself (an intranet reaches no CDN): npm ci from the committed lock
# (no install scripts), only when the lock changed. Without npm the gateway falls back to the CDN and logs a warning.
GRAPHIQL := web/graphiql
GRAPHIQL_STAMP := $(GRAPHIQL)/node_modules/.installed-stamp

$(GRAPHIQL_STAMP): $(GRAPHIQL)/package.json $(GRAPHIQL)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd $(GRAPHIQL) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && touch node_modules/.installed-stamp; \
	else echo "npm not found: GraphiQL will load its assets from unpkg.com (install Node.js to serve them)" >&2; fi

graphiql-assets: $(GRAPHIQL_STAMP)

# The trace page's browser test drives Debian's chromium (Playwright comes with the dev extra).
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

# The benchmark smoke test drives wrk (Debian's package, installed by the harness as for `make bench`).
test: $(STAMP) chromium wrk graphiql-assets outside-deps lint typecheck test-floor
	$(BIN)/pytest

# The fast paths (gateway/fastpaths.py) against their plain paths at the lowest versions pyproject.toml allows of the
# projects whose internals they use (.ci/floor-constraints.txt), in a second venv; .venv tests the newest allowed.
FLOOR_VENV := .venv-floor
FLOOR_STAMP := $(FLOOR_VENV)/.installed-stamp
FLOOR_TESTS := tests/test_fast_paths.py tests/test_arguments.py tests/test_execution.py \
	tests/test_tracing.py::test_the_current_span_helpers_share_the_api_context

$(FLOOR_STAMP): pyproject.toml .ci/floor-constraints.txt
	$(PYTHON) -m venv $(FLOOR_VENV)
	$(FLOOR_VENV)/bin/python -m pip install -q --upgrade pip
	$(FLOOR_VENV)/bin/python -m pip install -q -c .ci/floor-constraints.txt -e '.[dev]'
	touch $(FLOOR_STAMP)

test-floor: $(FLOOR_STAMP)
	$(FLOOR_VENV)/bin/python -c 'import sys; from importlib.metadata import version as v; \
		pins = [line.split("==") for line in open(".ci/floor-constraints.txt") if "==" in line]; \
		wrong = [f"{n} {v(n)} (floor {p.strip()})" for n, p in pins if v(n) != p.strip()]; \
		sys.exit(f"not at the floor: {wrong}") if wrong else print("floor:", *(f"{n}=={p.strip()}" for n, p in pins))'
	$(FLOOR_VENV)/bin/pytest $(FLOOR_TESTS)

clean:
	rm -rf $(VENV) $(FLOOR_VENV) .pytest_cache .mypy_cache .ruff_cache

.PHONY: bench bench-quick bench-compare bench-tools peer wrk
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

# This tree's yiwang against REF's (a commit, branch or tag, checked out in a temporary git worktree), side by side in
# one run, no peer: make bench-compare REF=main [ARGS="--quick --scenarios 2,4"]. Writes bench/results/compare.json.
bench-compare: $(if $(REF),$(STAMP) wrk)  # without REF: the usage line, nothing installed
	@test -n "$(REF)" || { echo 'usage: make bench-compare REF=<git ref> [ARGS="--quick ..."]' >&2; exit 2; }
	$(BIN)/python -m bench.run --compare $(REF) $(ARGS)

# Mutation score of one module (issue #18; not part of `make test`): mutmut in a venv of its own under /tmp, run on
# a scratch copy, e.g. `make mutation MODULE=gateway/pagination.py MUTATION_ARGS="--sample 40"`. See docs/mutation.md.
MODULE ?= gateway/pagination.py
MUTATION_ARGS ?=
MUTATION_VENV := /tmp/yiwang-mutmut-venv
MUTMUT_VERSION := 3.8.1

$(MUTATION_VENV)/.installed-$(MUTMUT_VERSION): $(STAMP)
	$(PYTHON) -m venv $(MUTATION_VENV)
	echo "$(abspath $(VENV))/lib/$$($(BIN)/python -c 'import sys; print(f"python{sys.version_info.major}.{sys.version_info.minor}")')/site-packages" \
		> "$$($(MUTATION_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/yiwang-venv.pth"
	$(MUTATION_VENV)/bin/python -m pip install -q mutmut==$(MUTMUT_VERSION)
	touch $@

.PHONY: mutation
mutation: $(MUTATION_VENV)/.installed-$(MUTMUT_VERSION)
	PATH=$(MUTATION_VENV)/bin:$$PATH $(MUTATION_VENV)/bin/python tests/mutation.py $(MODULE) $(MUTATION_ARGS)
