# make train | make test | make lint | make bench — each sets up .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: train test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -c constraints.txt -e '.[dev]'
	touch $(STAMP)

train: $(STAMP)
	$(BIN)/python scripts/train.py loss=dcontrastive

# The test suite, after the lint (so CI, which runs `make test`, lints too).
test: lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check siamese scripts tests

bench: $(STAMP)
	$(BIN)/python scripts/bench/bench_train.py
	$(BIN)/python scripts/bench/bench_digits.py
	$(BIN)/python scripts/bench/bench_eval.py
	$(BIN)/python scripts/bench/bench_losses.py
	$(BIN)/python scripts/bench/compare_losses.py
	$(BIN)/python scripts/bench/bench_index.py
	$(BIN)/python scripts/bench/bench_data.py
	$(BIN)/python scripts/bench/bench_faults.py
	$(BIN)/python scripts/bench/bench_quality.py
	$(BIN)/python scripts/bench/bench_backbones.py
	$(BIN)/python scripts/bench/bench_ddp.py
	$(BIN)/python scripts/bench/bench_bundle.py

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache
