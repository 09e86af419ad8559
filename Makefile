# Two commands do all setup: `make demo` and `make test`. Both create .venv when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.cnnlab-installed

.PHONY: setup demo test lint clean notebooks

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
# loop, inference also vs ONNX Runtime on cnnlab's ONNX export (benchmarks/bench_train.py;
# results in benchmarks/results/), each workload's GFLOP/s beside the matmul peak, and time to
# accuracy on MNIST (cnnlab's recipes vs the Keras example's, one budget each: --tta-budget).
# The first run creates benchmarks/.keras-venv. Real data when $CNNLAB_DATA_DIR has
# mnist/isbi2012. BENCH_ARGS=--quick for a smoke run of a few minutes.
.PHONY: bench
bench: setup
	$(BIN)/python benchmarks/bench_train.py $(BENCH_ARGS)

# The course as Jupyter notebooks (notebooks/, docs/notebooks.md): installs the `notebook` extra,
# then executes every notebook in order inside runs/notebooks/ (where their runs and figures go),
# writing each executed .ipynb beside a self-contained .html. Full settings by default (a few
# minutes per notebook on 2 CPU cores); QUICK=1 make notebooks runs the CI-sized variant
# (CNNLAB_QUICK=1, well under a minute each). Real data from $CNNLAB_DATA_DIR when set.
# JUPYTER_PATH puts this venv's python3 kernel before any user-level one of the same name.
NOTEBOOK_STAMP := $(VENV)/.cnnlab-notebook-installed
NOTEBOOK_OUT := runs/notebooks
JUPYTER := $(abspath $(BIN))/jupyter

$(NOTEBOOK_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[notebook]"
	touch $(NOTEBOOK_STAMP)

notebooks: $(NOTEBOOK_STAMP)
	rm -rf $(NOTEBOOK_OUT) && mkdir -p $(NOTEBOOK_OUT)
	cp notebooks/*.ipynb $(NOTEBOOK_OUT)/
	cd $(NOTEBOOK_OUT) && for nb in *.ipynb; do \
		start=$$(date +%s); \
		CNNLAB_QUICK=$(QUICK) JUPYTER_PATH=$(abspath $(VENV))/share/jupyter \
			$(JUPYTER) nbconvert --to notebook --execute --inplace --log-level WARN \
			--ExecutePreprocessor.timeout=1800 "$$nb" || exit 1; \
		$(JUPYTER) nbconvert --to html --log-level WARN "$$nb" || exit 1; \
		echo "$$nb: $$(( $$(date +%s) - start )) s"; \
	done
	@echo "executed notebooks and their HTML: $(NOTEBOOK_OUT)/"
