"""Quality gates (docs/gates.md): Great Expectations suites generated from the data contracts,
run as Checkpoints on Spark DataFrames before an export; results in `ops.gate_results` and a
static Data Docs site. Not part of `tracelake build`: `tracelake gate`, the export DAG."""
