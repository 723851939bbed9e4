# The project's entry points. `make demo` and `make test` work from a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint typecheck unit integration infra synth bench clean

install: $(STAMP)

# Re-runs only when pyproject.toml changes: the idempotent step every other target starts with.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

demo: install
	$(BIN)/python -m mlops.demo

# The workflows cannot run here: actionlint checks them offline, with its shellcheck and pyflakes
# passes off so the result does not depend on what else a machine has installed.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pre-commit validate-config .pre-commit-config.yaml
	$(BIN)/actionlint -shellcheck= -pyflakes= .github/workflows/*.yml

typecheck: install
	$(BIN)/mypy src functions infra bench

test: lint typecheck
	$(BIN)/pytest -n 2 --dist loadfile -q

unit: install
	$(BIN)/pytest -q tests/unit

integration: install
	$(BIN)/pytest -q tests/integration

infra: install
	$(BIN)/pytest -q tests/infra

synth: install
	$(BIN)/python infra/app.py
	$(BIN)/cfn-lint --non-zero-exit-code error cdk.out/*.template.json

bench: install
	OMP_NUM_THREADS=1 $(BIN)/python bench/bench_pipeline.py
	OMP_NUM_THREADS=1 $(BIN)/python bench/bench_training.py
	$(BIN)/python bench/bench_inference.py
	$(BIN)/python bench/bench_drift.py

clean:
	rm -rf cdk.out build .mypy_cache .ruff_cache .pytest_cache .hypothesis
