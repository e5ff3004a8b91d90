# make train | make test | make bench — each sets up .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: train test bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -c constraints.txt -e '.[dev]'
	touch $(STAMP)

train: $(STAMP)
	$(BIN)/python scripts/train.py loss=dcontrastive

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python scripts/bench_train.py
	$(BIN)/python scripts/bench_digits.py
	$(BIN)/python scripts/bench_eval.py
	$(BIN)/python scripts/bench_losses.py
	$(BIN)/python scripts/compare_losses.py
	$(BIN)/python scripts/bench_index.py
	$(BIN)/python scripts/bench_data.py
	$(BIN)/python scripts/bench_faults.py
	$(BIN)/python scripts/bench_quality.py

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache
