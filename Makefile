# One command to set up and run the main job, one to set up and run the tests (see README).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PLUGINS := $(wildcard plugins/zoo-*)
STAMP := $(VENV)/.zoo-installed

.PHONY: setup demo test bench clean

$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e . $(foreach p,$(PLUGINS),-e $(p)) pytest
	$(BIN)/pip install -q -e 'plugins/zoo-datasets[qm9]'   # QM9's data (qm9pack, 100 MB wheel, ~10 s)
	touch $(STAMP)

setup: $(STAMP)

# The main job: MPNN on the embedded FreeSolv set, 5-fold CV (one repeat, 100 epochs), test RMSE printed.
demo: setup
	$(BIN)/zoo run --encoder mpnn --dataset freesolv --folds 5 --repeats 1 --epochs 100 --output runs

test: setup
	$(BIN)/python -m pytest -q tests $(foreach p,$(PLUGINS),$(p)/tests)

# Benchmarks: `make bench` re-measures throughput (minutes) and re-renders BENCHMARKS.md; any other bench runs as
# `make bench ARGS="accuracy --models cigin --datasets compsol --repeats 3"` (README, Benchmarks).
bench: setup
	$(BIN)/python bench/run_bench.py $(or $(ARGS),throughput)
	$(BIN)/python bench/run_bench.py render

clean:
	rm -rf $(VENV) runs
