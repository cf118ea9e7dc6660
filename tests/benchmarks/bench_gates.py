"""Benchmark: the quality gates (Spark measures, GX judges) against the same rules in DuckDB,
and against the build time of the gold tables they gate.

    python tests/benchmarks/bench_gates.py [--rows 20000]
    python tests/benchmarks/bench_gates.py --build-runs 5000

--rows: builds a local lake with gold.examples rows that pass every rule
(tests/quality/conftest.py) and the silver.runs they refer to, then:
  - gate: `run_gates(ctx, ["gold.examples"])`: read through the lake's Spark reader, cached,
    every rule measured by Spark (the row-level ones in one aggregate pass), each rule's
    semantic GX expectation judged by GX on those measures (timed warm: a first run on the
    same table warms the JVM and the Python workers; both are printed), Spark jobs counted;
  - duckdb: the same contract's rules over the table read once with delta-rs into Arrow: every
    column rule in one aggregate query (one scan), each referential / dataset rule as its own
    query on the in-memory table, the secret rule through the same detector function.
Prints both times, the number of Spark jobs and of DuckDB queries, and the ratio gate / duckdb.
The JSON Schema, tool-call and duplicate-rate rules have no DuckDB equivalent here and are left
out of that side (said in the output).

--build-runs N: the issue's measure. N synthetic runs (scenario expansion of simulated seeds,
cycled under new run ids as bench_gold.py does) in silver.synthetic_events, then the four gold
jobs (gold_examples, gold_rejected, gold_preferences, gold_constitutional_pairs: full builds,
local[2]) timed; then the gates of the three gold tables (cold and warm: the row-level rules
judged from the jobs' commits, which ran them on every row before committing), the same gates
with `remeasure=True` (every rule run again) and the DuckDB pass on gold.examples. Prints the
gate times as shares of the build time. Figures, not assertions: see docs/gates.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
sys.path[:0] = [str(HERE.parents[1] / "quality"), str(HERE.parents[1])]


def _build(ctx: Any, rows: int) -> None:
    from conftest import example_rows, write_gated_lake  # tests/quality/conftest.py

    write_gated_lake(ctx, example_rows(rows))


def _in_list(values: list[Any]) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


def duckdb_pass(ctx: Any) -> tuple[dict[str, int], int]:
    """(rule name -> unexpected count, queries run) for gold.examples' contract in DuckDB."""
    import duckdb

    from tracelake.jobs.lake import catalog
    from tracelake.jobs.quality.contracts import load_contract
    from tracelake.jobs.quality.secrets import secret_findings_batch

    spec = catalog.get("gold.examples")
    contract = load_contract(spec)
    con = duckdb.connect()
    con.register("tbl", ctx.lake.read(spec))  # the one read: delta-rs -> Arrow
    con.register("runs", ctx.lake.read(catalog.SILVER_RUNS, columns=["run_id"]))
    # the gate's batch function, on DuckDB's Arrow batches
    con.create_function(
        "secret_findings",
        secret_findings_batch,
        ["VARCHAR"],
        "VARCHAR",
        type="arrow",
        null_handling="special",
    )
    name = "gold.examples"
    checks: dict[str, str] = {}
    for column, rule in contract["columns"].items():
        is_list = str(rule.get("type", "")).startswith("list<")
        if rule.get("nullable") is False:
            checks[f"{name}.{column}.not_null"] = f"count(*) FILTER (WHERE {column} IS NULL)"
        if rule.get("unique") and not is_list:
            checks[f"{name}.{column}.unique"] = f"count({column}) - count(DISTINCT {column})"
        if "allowed" in rule:
            checks[f"{name}.{column}.allowed"] = (
                f"count(*) FILTER (WHERE {column} NOT IN ({_in_list(rule['allowed'])}))"
            )
        if "min" in rule or "max" in rule:
            low = rule.get("min", "-'infinity'::DOUBLE")
            high = rule.get("max", "'infinity'::DOUBLE")
            checks[f"{name}.{column}.range"] = (
                f"count(*) FILTER (WHERE {column} < {low} OR {column} > {high})"
            )
        if "min_length" in rule:
            size = "len" if is_list else "length"
            checks[f"{name}.{column}.min_length"] = (
                f"count(*) FILTER (WHERE {size}({column}) < {int(rule['min_length'])})"
            )
        if rule.get("format") == "json":
            checks[f"{name}.{column}.json"] = f"count(*) FILTER (WHERE NOT json_valid({column}))"
    one_pass = "SELECT " + ", ".join(f'{sql} AS "{n}"' for n, sql in checks.items())
    counts = dict(zip(checks, con.execute(one_pass + " FROM tbl").fetchone() or (), strict=True))
    queries = 1
    gates = contract["gates"]
    dataset: dict[str, str] = {}
    for ref in gates["references"]:
        dataset[f"{name}.{ref['id']}"] = (
            f"SELECT count(*) FROM tbl b WHERE {ref['where']} AND b.{ref['column']} NOT IN "
            f"(SELECT {ref['to']} FROM runs)"
        )
    for share in gates["shares"]:
        dataset[f"{name}.{share['id']}"] = (
            f"SELECT count(*) FROM (SELECT avg(CASE WHEN {share['where']} THEN 1.0 ELSE 0.0 "
            f"END) AS s FROM tbl) WHERE s < {share['min']} OR s > {share['max']}"
        )
    split = gates["disjoint_splits"]
    dataset[f"{name}.{split['id']}"] = (
        f"SELECT count(*) FROM (SELECT {split['group']} FROM tbl GROUP BY {split['group']} "
        f"HAVING count(DISTINCT {split['split']}) > 1)"
    )
    bounds = contract["null_share_max"]["default"]
    nulls = gates["null_share"]
    dataset[f"{name}.{nulls['id']}"] = (
        f"SELECT count(*) FROM (SELECT {nulls['by']}, f, count(*) / any_value(n) AS s FROM "
        f"(SELECT {nulls['by']}, unnest({nulls['column']}) AS f, count(*) OVER "
        f"(PARTITION BY {nulls['by']}) AS n FROM tbl) GROUP BY ALL) WHERE s > CASE f "
        + " ".join(f"WHEN '{k}' THEN {v}" for k, v in bounds.items())
        + " ELSE 1.0 END"
    )
    secrets = gates["no_secrets"]
    parts = [c if c in ("goal", "record", "tools") else f"to_json({c})" for c in secrets["columns"]]
    dataset[f"{name}.{secrets['id']}"] = (
        f"SELECT count(*) FROM tbl WHERE secret_findings(concat_ws(chr(10), "
        f"{', '.join(parts)})) IS NOT NULL"
    )
    for rule, sql in dataset.items():
        counts[rule] = int((con.execute(sql).fetchone() or (0,))[0])
        queries += 1
    return counts, queries


def _synthetic_events(ctx: Any, runs: int, seed: int = 3, distinct: int = 1000) -> int:
    """silver.synthetic_events of `runs` runs: `distinct` expanded runs cycled under new ids;
    the seeds in silver.runs (the gate's reference of seed_run_id). Returns the runs written."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from conftest import runs_rows  # tests/quality/conftest.py

    from tracelake.jobs.expand.expander import expand_run
    from tracelake.jobs.expand.spark_job import event_rows
    from tracelake.jobs.lake import catalog
    from tracelake.jobs.settings import ExpandSettings
    from tracelake.jobs.simulate.runs import generate_runs

    spec = catalog.SILVER_SYNTHETIC_EVENTS
    settings = ExpandSettings(variations_per_seed=5, seed=seed)
    rows: list[dict[str, Any]] = []
    seeds: list[str] = []
    for run in generate_runs(seed, max(1, distinct // 4)):
        rows += event_rows(expand_run(run, settings), settings.seed)
        seeds.append(run[0]["run_id"])
        if len({r["run_id"] for r in rows}) >= distinct:
            break
    corpus = pa.Table.from_pylist(rows, spec.schema)
    n = len(set(corpus["run_id"].to_pylist()))
    written = 0
    for copy in range(-(-runs // n)):
        suffix = f"~{copy}"
        table = corpus
        for column in ("run_id", "event_id", "parent_event_id"):
            renamed = pc.binary_join_element_wise(table[column], suffix, "")
            table = table.set_column(spec.schema.get_field_index(column), column, renamed)
        ctx.lake.append(spec, table)
        written += n
    ctx.lake.append(
        catalog.SILVER_RUNS,
        pa.Table.from_pylist(runs_rows(sorted(set(seeds))), catalog.SILVER_RUNS.schema),
    )
    return written


def build_share(runs: int) -> None:
    """Gold build time vs the gates of the gold tables, at `runs` runs."""
    from tracelake.jobs.context import JobContext
    from tracelake.jobs.gold import constitutional_pairs, examples, preferences, rejected
    from tracelake.jobs.lake import catalog
    from tracelake.jobs.quality.gates import run_gates
    from tracelake.jobs.runner import run_job
    from tracelake.jobs.settings import Settings
    from tracelake.jobs.spark import get_session

    gold = ["gold.examples", "gold.preferences", "gold.constitutional_pairs"]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            lake_root=f"{tmp}/lake", spark={"master": "local[2]", "delta": "bridge"}
        )
        ctx = JobContext.create(settings)
        start = time.perf_counter()
        written = _synthetic_events(ctx, runs)
        print(f"input: {written} synthetic runs in {time.perf_counter() - start:.1f} s")
        for spec in (
            catalog.SILVER_EVENTS,
            catalog.SILVER_RUN_PATTERNS,
            catalog.SILVER_COMPONENT_EVOLUTION,
            catalog.OPS_FEEDBACK,
        ):
            ctx.lake.ensure(spec)
        spark = get_session(settings)
        build: dict[str, float] = {}
        for job in (examples.JOB, rejected.JOB, preferences.JOB, constitutional_pairs.JOB):
            start = time.perf_counter()
            result = run_job(ctx, job, full=True)
            build[job.name] = time.perf_counter() - start
            assert result.status == "succeeded", (job.name, result.message)
        sizes = {t: ctx.lake.count(catalog.get(t)) for t in gold}
        times, per_table = [], {}
        for _ in range(2):
            start = time.perf_counter()
            run = run_gates(ctx, gold, spark=spark)
            times.append(time.perf_counter() - start)
        for gate in run.results:
            per_table[gate.table] = gate.failing()
        checked_by = {gate.table: gate.checked_by for gate in run.results}
        start = time.perf_counter()
        full_run = run_gates(ctx, gold, spark=spark, remeasure=True)
        remeasured = time.perf_counter() - start
        assert [g.failing() for g in full_run.results] == [g.failing() for g in run.results]
        # per table (warm run): its finished_at after the previous table's
        stored = ctx.lake.read(catalog.OPS_GATE_RESULTS).to_pylist()
        last = sorted(
            (r for r in stored if r["gate_run_id"] == run.gate_run_id),
            key=lambda r: r["finished_at"],
        )
        marks = [last[0]["started_at"]] + [r["finished_at"] for r in last]
        per_seconds = {
            r["table"]: (b - a).total_seconds()
            for r, a, b in zip(last, marks[:-1], marks[1:], strict=True)
        }
        start = time.perf_counter()
        counts, queries = duckdb_pass(ctx)
        duck = time.perf_counter() - start
        spark.stop()
    total = sum(build.values())
    print(f"gold build ({written} runs, full, local[2]): {total:.1f} s")
    for name, seconds in build.items():
        print(f"  {name}: {seconds:.1f} s")
    print(f"gold rows: {sizes}")
    print(
        f"gates of {len(gold)} tables: {times[1]:.1f} s warm ({times[0]:.1f} s cold) = "
        f"{times[1] / total:.1%} of the build warm ({times[0] / total:.1%} cold)"
    )
    print(f"  row-level rules judged from the gold jobs' commits (their versions): {checked_by}")
    print(
        f"  --remeasure (every rule run again, warm): {remeasured:.1f} s = "
        f"{remeasured / total:.1%} of the build"
    )
    print(
        "  per table (warm, without Data Docs): "
        + str({t: round(v, 1) for t, v in per_seconds.items()})
    )
    print(f"  failing (the generated data, not planted): {per_table}")
    print(f"duckdb one pass on gold.examples: {duck:.2f} s, {len(counts)} rules, {queries} queries")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--build-runs", type=int, default=0)
    args = parser.parse_args()
    if args.build_runs:
        build_share(args.build_runs)
        return

    from tracelake.jobs.context import JobContext
    from tracelake.jobs.quality.gates import run_gates
    from tracelake.jobs.settings import Settings
    from tracelake.jobs.spark import get_session

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            lake_root=f"{tmp}/lake", spark={"master": "local[2]", "delta": "bridge"}
        )
        ctx = JobContext.create(settings)
        _build(ctx, args.rows)
        spark = get_session(settings)
        tracker = spark.sparkContext.statusTracker()
        times = []
        for _ in range(2):
            before = len(tracker.getJobIdsForGroup(None))
            start = time.perf_counter()
            run = run_gates(ctx, ["gold.examples"], spark=spark)
            times.append(time.perf_counter() - start)
            jobs = len(tracker.getJobIdsForGroup(None)) - before
        assert run.passed, run.failing()
        expectations = len(run.results[0].expectations)
        start = time.perf_counter()
        counts, queries = duckdb_pass(ctx)
        duck = time.perf_counter() - start
        assert not any(counts.values()), {k: v for k, v in counts.items() if v}
        spark.stop()
    print(f"gold.examples: {args.rows} rows")
    print(
        f"  gate:        {times[1]:.1f} s warm ({times[0]:.1f} s cold), {expectations} "
        f"expectations, {jobs} Spark jobs on one cached read"
    )
    print(
        f"  duckdb:      {duck:.2f} s, {len(counts)} rules (no JSON Schema, tool-call nor "
        f"duplicate-rate rule), {queries} queries (column rules in one scan)"
    )
    print(f"  ratio gate / duckdb: {times[1] / duck:.1f}x")


if __name__ == "__main__":
    main()
