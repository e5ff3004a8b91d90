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

# The test suite, after the lint (so CI, which runs `make test`, lints too): two pytest-xdist workers of
# one thread each (tests/conftest.py), a test file per worker at a time.
test: lint
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check siamese scripts tests

BENCHES := bench_train.py bench_digits.py bench_eval.py bench_losses.py compare_losses.py bench_index.py bench_data.py bench_faults.py bench_quality.py bench_backbones.py bench_ddp.py bench_bundle.py bench_gallery.py

bench: $(STAMP)
	for b in $(BENCHES); do $(BIN)/python scripts/bench/$$b || exit 1; done

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache
