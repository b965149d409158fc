# duban: `make demo` runs the main job on the embedded default; `make test` runs the tests.
# Both create .venv and install the project with its test extras when needed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint format clean bench

demo: $(STAMP)
	$(BIN)/duban demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Not part of `make test`. The full run takes 5 to 7 minutes and writes docs/benchmarks.md;
# `make bench BENCH_SIZES=1000` is a quick run that only prints. BENCH_ARGS: see
# `.venv/bin/python -m bench.run --help`.
BENCH_SIZES ?= 1000,10000,50000
bench: $(STAMP)
	$(BIN)/python -m bench.run --sizes $(BENCH_SIZES) $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing duban and its dependencies into $(VENV) (a minute or two the first time)…"
	@$(BIN)/python -m pip install --quiet --upgrade pip > $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@$(BIN)/python -m pip install --quiet -e '.[test]' >> $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@touch $(STAMP)

clean:
	rm -rf var/demo .pytest_cache
