# The commands a person types. `make run` and `make test` work on a machine that has never seen
# the project: they create the virtual environment, install, and generate the protobuf code.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROTOS := $(shell find protos -name '*.proto')
GENERATED := service/encord_gateway/_generated/__init__.py

NODE_CLIENT := clients/node
WEB_TOOLS := tools/web
DOCS_UI := service/encord_gateway/edge/docs_ui
SWAGGER_UI_FILES := swagger-ui.css swagger-ui-bundle.js favicon-32x32.png LICENSE NOTICE swagger-ui-bundle.js.LICENSE.txt

.PHONY: run test lint bench cluster engines promtool proto docs docs-ui docs-ui-if-npm node-client python-client breaking browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Runtime dependencies plus grpcurl for the printed examples; re-installed when pyproject.toml changes.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[demo]"
	touch $@

# Everything the tests, lint and benchmarks need (the official Encord SDK, grpcurl, ruff, mypy).
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test,lint]"
	touch $@ $(VENV)/.installed-run

$(GENERATED): $(PROTOS) tools/genproto.py | $(VENV)/.installed-run
	$(BIN)/python tools/genproto.py

proto: $(VENV)/.installed-run
	$(BIN)/python tools/genproto.py

# README.md's operations table, generated from the descriptors and the catalogue (a test fails when it is stale).
docs: $(VENV)/.installed-run $(GENERATED)
	$(BIN)/python tools/gendocs.py

# npm projects: `npm ci` again only when package-lock.json changed (the stamp holds the hash the tests check too).
%/node_modules/.installed-lock-sha256: %/package-lock.json
	cd $* && npm ci --no-audit --no-fund
	sha256sum < $*/package-lock.json | cut -d' ' -f1 > $@

# Swagger UI for the /docs page, vendored from npm into the package (never committed, never from a CDN).
$(DOCS_UI)/.installed: $(WEB_TOOLS)/node_modules/.installed-lock-sha256
	mkdir -p $(DOCS_UI)
	cd $(WEB_TOOLS)/node_modules/swagger-ui-dist && cp $(SWAGGER_UI_FILES) $(CURDIR)/$(DOCS_UI)/
	touch $@

docs-ui: $(DOCS_UI)/.installed

# `make run` needs only Python: without npm it starts anyway, and /docs says how to install Swagger UI.
docs-ui-if-npm:
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory $(DOCS_UI)/.installed; \
	else echo "npm not found: skipping the /docs page's Swagger UI (make docs-ui installs it)"; fi

# The Node/TypeScript client: TypeScript generated from the protos (buf + ts-proto), compiled by tsc.
node-client: $(NODE_CLIENT)/node_modules/.installed-lock-sha256
	cd $(NODE_CLIENT) && npm run build

# The Python client as a wheel in clients/python/dist (stubs generated from the protos by its build).
python-client: $(VENV)/.installed-test
	$(BIN)/pip wheel --quiet --no-deps --no-build-isolation --wheel-dir clients/python/dist ./clients/python

# Headless Chromium for the docs page's browser test (Debian's package; CI runs as root).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# buf breaking: protos/ against the most recent release tag (says so, and passes, while there is none).
breaking: $(NODE_CLIENT)/node_modules/.installed-lock-sha256
	$(BIN)/python tools/buf_check.py breaking

run: $(VENV)/.installed-run $(GENERATED) docs-ui-if-npm
	$(BIN)/encord-gateway run

# The engines replicas share, for `make cluster` and the tests: Debian's redis-server (PostgreSQL 15 is on the
# machine; Envoy and OpenBao come from PyPI with the test dependencies). Installed once; later runs only check.
engines:
	@command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server >/dev/null)
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || command -v postgres >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql >/dev/null)

# promtool (Debian's prometheus, large) runs the alert rules' unit tests; installed once, only for `make test`.
promtool:
	@command -v promtool >/dev/null || (apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null)

# checkov scans deploy/; it pins its own dependencies (an older `packaging` than pytest's), so it gets a venv of its own.
$(VENV)/checkov/bin/checkov: | $(BIN)/python
	$(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/pip install --quiet checkov

# Redis, PostgreSQL, OpenBao, the sandbox, two gateway replicas and Envoy on loopback; Ctrl-C stops them all.
cluster: $(VENV)/.installed-test $(GENERATED) engines
	$(BIN)/python -m encord_gateway.cluster.local

test: $(VENV)/.installed-test $(GENERATED) $(DOCS_UI)/.installed browser engines promtool $(VENV)/checkov/bin/checkov
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-test $(GENERATED) $(NODE_CLIENT)/node_modules/.installed-lock-sha256
	$(BIN)/ruff check service tests tools bench clients/python
	$(BIN)/ruff format --check service tests tools bench clients/python
	$(BIN)/mypy
	$(BIN)/python clients/python/generate.py >/dev/null && cd clients/python && ../../$(BIN)/mypy
	$(BIN)/python tools/buf_check.py lint
	$(BIN)/python tools/buf_check.py breaking

# h2load (Debian's nghttp2-client) drives the scale-out benchmark: a load generator in C, not the bottleneck.
bench: $(VENV)/.installed-test $(GENERATED) engines
	@command -v h2load >/dev/null || (apt-get update -qq && apt-get install -y -qq --no-install-recommends nghttp2-client >/dev/null)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/scaleout.py

clean:
	rm -rf $(VENV) service/encord_gateway/_generated .pytest_cache .mypy_cache .ruff_cache $(DOCS_UI)
	rm -rf $(NODE_CLIENT)/node_modules $(NODE_CLIENT)/dist $(NODE_CLIENT)/src/gen $(WEB_TOOLS)/node_modules
	rm -rf clients/python/dist clients/python/build clients/python/src/encord_gateway_client/_proto
