# Two commands matter on a fresh machine: `make serve` and `make test` (see README).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml engines/pyproject.toml | sha1sum | cut -c1-12)

.PHONY: venv serve test unit integration proto proto-check lint buf-lint bench bench-smoke clean

venv: $(STAMP)
$(STAMP): pyproject.toml engines/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The service, and the engines its embedded Triton runs (engines/: the Triton side, its own package).
	$(PY) -m pip install -q -e '.[dev]' -e './engines[ocr]'
	rm -f $(VENV)/.installed-*; touch $@

serve: venv
	$(PY) -m vlmgrpc serve

# Regenerate the Python stubs from proto/ (never edit server/vlmgrpc/api by hand).
proto: venv
	$(PY) scripts/generate_stubs.py

# Fails when the checked-in stubs differ from what proto/ generates.
proto-check: venv
	$(PY) scripts/generate_stubs.py --check

proto/node_modules/.bin/buf: proto/package.json proto/package-lock.json
	cd proto && npm install --silent --no-audit --no-fund --no-save
	touch $@

buf-lint: proto/node_modules/.bin/buf
	cd proto && ./node_modules/.bin/buf lint

lint: venv
	$(VENV)/bin/ruff check .

unit: venv
	$(PY) -m pytest tests/unit -q

integration: venv
	$(PY) -m pytest tests/integration -q

test: venv proto-check buf-lint lint
	$(PY) -m pytest -q -p no:cacheprovider
	$(MAKE) bench-smoke

bench: venv
	$(PY) -m bench.run

bench-smoke: venv
	$(PY) -m bench.run --smoke

clean:
	rm -rf $(VENV) proto/node_modules var build
