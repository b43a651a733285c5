# Two commands matter: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UI_STAMP := ui/node_modules/.installed

.PHONY: run demo test install ui test-python test-fallback test-ui chromium clang bench-ingest clean

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required (found %s)" % sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test]'
	@touch $@

install: $(STAMP)

# The console is built only when a UI exists and its sources changed since the last build.
ui:
	@if [ -f ui/package.json ]; then $(MAKE) --no-print-directory ui/dist/index.html; fi

$(UI_STAMP): ui/package.json ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund
	@touch $@

ui/dist/index.html: $(UI_STAMP) $(shell find ui/src ui/index.html ui/vite.config.* -type f 2>/dev/null)
	cd ui && npm run build

run: install ui
	$(BIN)/activity-console serve

# Demo traffic from all five sources; starts the server (as `run` does) when none is running.
demo: install ui
	$(BIN)/activity-console demo

test: install test-python test-fallback fuzz-short test-ui

test-python: install
	$(BIN)/python -m pytest

# Ingest as on a machine without a C compiler: the native fast path switched off, the Python
# mapping carrying every request (tests/system/test_packaging.py also builds without a compiler).
test-fallback: install
	ACTIVITY_NATIVE=off $(BIN)/python -m pytest -q tests/unit/test_fastpath_equivalence.py \
		tests/integration/test_receivers.py tests/integration/test_writer_ids.py \
		tests/integration/test_ingest_sdk.py tests/integration/test_live_ws.py

# Unit tests, then the end-to-end tests (ui/e2e: the real server from the venv, Debian's Chromium).
test-ui: install chromium
	@if [ -f ui/package.json ]; then $(MAKE) --no-print-directory $(UI_STAMP) ui/dist/index.html && cd ui && npm test && npm run e2e; fi

# The browser tests drive Debian's Chromium (no browser is downloaded): installed here when this
# runs as root with apt, else make stops at once with the command to run.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing Debian's chromium for the browser tests"; \
			DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
		else \
			echo "The browser tests need Chromium at /usr/bin/chromium. Install it with:"; \
			echo "  sudo apt-get install -y --no-install-recommends chromium"; \
			exit 1; \
		fi; \
	fi

bench-ingest: install
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) ui/node_modules ui/dist

# --- the native fast path under AddressSanitizer and UBSan (fuzz/fastpath_fuzz.py) -------------
# clang builds the extension with libFuzzer's coverage instrumentation, so that atheris (whose
# runtime carries libFuzzer and ASan) is guided by the C code's branches, not only the Python
# reference's. Needs clang (Debian: apt-get install clang libclang-rt-14-dev).
FUZZ_SECONDS ?= 60
FUZZ_SO := build/fuzz/_fastpath.so
PY_INCLUDE = $(shell $(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
ATHERIS_DIR = $(shell $(BIN)/python -c 'import atheris; print(atheris.path())')

.PHONY: fuzz fuzz-short fuzz-tools

# clang and its sanitizer runtimes: installed here when this runs as root with apt, else make stops
# at once with the command to run.
clang:
	@if ! command -v clang >/dev/null 2>&1 || [ -z "$$(ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a 2>/dev/null)" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing clang and its sanitizer runtimes for the fuzz run"; \
			DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev >/dev/null; \
		else \
			echo "The fuzz run needs clang with its sanitizer runtimes. Install them with:"; \
			echo "  sudo apt-get install -y --no-install-recommends clang libclang-rt-14-dev"; \
			exit 1; \
		fi; \
	fi

fuzz-tools: install clang
	@$(BIN)/python -c 'import atheris' 2>/dev/null || $(BIN)/python -m pip install --quiet atheris==3.0.0

$(FUZZ_SO): collector/_fastpath.c
	@mkdir -p $(dir $@)
	clang -shared -fPIC -g -O1 -std=c11 -fno-omit-frame-pointer -fsanitize=address,undefined,fuzzer-no-link \
		-fno-sanitize-recover=all -I$(PY_INCLUDE) $< -o $@

fuzz: fuzz-tools $(FUZZ_SO)
	LD_PRELOAD=$(ATHERIS_DIR)/asan_with_fuzzer.so ASAN_OPTIONS=detect_leaks=0 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		$(BIN)/python fuzz/fastpath_fuzz.py $(FUZZ_SO) -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 \
		-artifact_prefix=build/fuzz/

# The bounded run of `make test`.
fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=30
