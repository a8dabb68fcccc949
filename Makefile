# Everything a fresh machine needs: `make test`, `make demo`.
PY       ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
STAMP    := $(VENV)/.installed
TORCH    := torch==2.13.0

.PHONY: install lint test test-all demo bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first, pinned: the CPU build that lies on this machine's disk (an unpinned
# torch would pull a multi-GB CUDA build). pyproject keeps a compatible range.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[dev,ray]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest -q

test-all: lint
	$(BIN)/python -m pytest -q -m ''

demo: $(STAMP)
	$(BIN)/python -m pipelines.demo -o demo_out

bench: $(STAMP)
	$(BIN)/python benchmarks/roundtrip.py

clean:
	rm -rf $(VENV) demo_out .pytest_cache
