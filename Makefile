# Two commands do all setup: `make demo` and `make test`. Both create .venv when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.cnnlab-installed

.PHONY: setup demo test lint clean

setup: $(STAMP)

# Re-installs only when the package metadata changes, so a second `make` is quick.
# torch is pinned first: 2.13.0 is the CPU wheel on this machine; a plain `torch` would pull CUDA.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: setup
	$(BIN)/cnnlab demo --out runs/demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check src tests benchmarks

test: setup lint
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis

# Training and inference throughput: cnnlab fit vs Keras 3 (TensorFlow) vs the textbook PyTorch
# loop (benchmarks/bench_train.py; results in benchmarks/results/). The first run creates
# benchmarks/.keras-venv. Real data when $CNNLAB_DATA_DIR has mnist/isbi2012.
# BENCH_ARGS=--quick for a one-minute smoke run.
.PHONY: bench
bench: setup
	$(BIN)/python benchmarks/bench_train.py $(BENCH_ARGS)
