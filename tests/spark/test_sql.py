"""`tracelake sql` over a built lake: answers match known data on both engines, the same queries
give the same rows on the embedded engine and on Spark SQL, Spark's read-only guard refuses
each way out of the lake, and mistakes are one short SqlQueryError (no JVM stack trace)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tracelake.jobs import build, sql
from tracelake.jobs.lake import spark_io
from tracelake.jobs.spark import native_delta_available

from .conftest import BASE_TS, ingest_events, make_run

pytestmark = pytest.mark.spark
ENGINES = ("embedded", "spark")


@pytest.fixture
def built(ctx, tmp_path, rng, spark):
    runs = [
        make_run("a", BASE_TS, rng, steps=2),
        make_run("b", BASE_TS, rng, steps=3, with_error=True),
        make_run("c", BASE_TS, rng, steps=1, ending="run_failed"),
    ]
    ingest_events(ctx, tmp_path / "in", [e for r in runs for e in r], "known")
    build.run(ctx)
    return ctx, runs


def _normal(rows: list[dict[str, Any]]) -> list[tuple]:
    def value(v: Any) -> Any:
        if isinstance(v, Decimal | float):
            return round(float(v), 6)
        return v

    return sorted(tuple((k, value(v)) for k, v in r.items()) for r in rows)


@pytest.mark.parametrize("engine", ENGINES)
def test_query_answers_from_known_data(built, spark, engine):
    ctx, runs = built
    table = sql.query(
        ctx,
        "SELECT run_id, outcome, n_events FROM silver.runs ORDER BY run_id",
        spark=spark if engine == "spark" else None,
        engine=engine,
    )
    assert table.to_pylist() == [
        {"run_id": "a", "outcome": "success", "n_events": len(runs[0])},
        {"run_id": "b", "outcome": "success_with_recovery", "n_events": len(runs[1])},
        {"run_id": "c", "outcome": "failure", "n_events": len(runs[2])},
    ]
    per_type = sql.query(
        ctx,
        "SELECT event_type, count(*) AS n FROM bronze_events "
        "WHERE event_type = 'tool_call' GROUP BY event_type",
        engine=engine,
    ).to_pylist()
    assert per_type == [{"event_type": "tool_call", "n": 6}]
    jobs = sql.query(ctx, "SELECT DISTINCT job FROM ops.job_runs ORDER BY job", engine=engine)
    names = [r["job"] for r in jobs.to_pylist()]
    assert names == sorted(names)
    assert {"ingest", "scrub_events", "project_runs"} <= set(names)


def test_the_same_queries_give_the_same_rows_on_both_engines(built, spark):
    ctx, _ = built
    embedded = sql.open_engine(ctx, "embedded")
    on_spark = sql.open_engine(ctx, "spark", spark=spark)
    queries = [text for _, text in build.DEMO_QUERIES] + [
        "SELECT run_id, goal, n_events, outcome FROM silver.runs",
        "SELECT r.run_id, count(*) AS n FROM silver.runs AS r "
        "JOIN bronze.events AS e ON e.run_id = r.run_id GROUP BY r.run_id",
    ]
    for text in queries:
        a, b = embedded.run(text).to_pylist(), on_spark.run(text).to_pylist()
        assert a, text
        assert _normal(a) == _normal(b), text


def test_spark_views_carry_column_comments(built, spark):
    ctx, _ = built
    rows = sql.query(ctx, "DESCRIBE bronze.events", spark=spark).to_pylist()
    comments = {r["col_name"]: r["comment"] for r in rows}
    assert comments["run_id"] == "The run this step belongs to."


def test_history_and_time_travel_on_native_delta(built, spark):
    if not native_delta_available(spark):
        pytest.skip("native Delta jars are not cached here: run `make native-jars`")
    ctx, _ = built
    with spark_io.using_engine("native"):
        history = sql.query(ctx, "DESCRIBE HISTORY bronze.events", spark=spark).to_pylist()
        assert [h["version"] for h in history][-1] == 0
        at_zero = sql.query(
            ctx, "SELECT count(*) AS n FROM bronze.events VERSION AS OF 0", spark=spark
        ).to_pylist()
        assert at_zero == [{"n": 0}]  # version 0 is the empty table ingest creates


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SELECT reflect('java.lang.System', 'getenv', 'HOME')", "JVM reflection"),
        ("SELECT java_method('java.lang.System', 'getenv', 'HOME')", "JVM reflection"),
        ("SELECT * FROM csv.`/etc/passwd`", "not a lake table"),
        ("SELECT * FROM delta.`/tmp`", "not a lake table"),
        ("SELECT * FROM read_files('/etc/passwd')", "table function read_files"),
        ("INSERT INTO silver_runs SELECT * FROM silver_runs", "read-only"),
        ("CREATE TABLE t AS SELECT 1", "read-only"),
        ("DROP VIEW silver_runs", "read-only"),
        ("SET spark.sql.ansi.enabled = false", "read-only"),
        ("SELECT nope FROM silver.runs", "UNRESOLVED_COLUMN"),
        ("SELECT * FROM no_such_table", "not a lake table"),
        ("SELEC 1", "PARSE_SYNTAX_ERROR"),
        ("   ", "empty query"),
    ],
)
def test_spark_refusals_and_errors_are_one_short_message(ctx, spark, text, expected):
    with pytest.raises(sql.SqlQueryError) as info:
        sql.query(ctx, text, spark=spark)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message and "at org.apache" not in message and len(message) < 600


def test_allow_unsafe_lifts_the_spark_guard(ctx, spark):
    table = sql.query(
        ctx,
        "SELECT reflect('java.lang.Integer', 'toString', 7) AS x",
        spark=spark,
        allow_unsafe=True,
    )
    assert table.to_pylist() == [{"x": "7"}]
