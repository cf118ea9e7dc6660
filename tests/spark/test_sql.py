"""`tracelake sql` (jobs.sql.query): every lake table is a view, answers match known data, and
mistakes come back as one short SqlQueryError, not a JVM stack trace."""

from __future__ import annotations

import pytest

from tracelake.jobs import build, sql

from .conftest import BASE_TS, ingest_events, make_run

pytestmark = pytest.mark.spark


@pytest.fixture
def built(ctx, tmp_path, rng):
    runs = [
        make_run("a", BASE_TS, rng, steps=2),
        make_run("b", BASE_TS, rng, steps=3, with_error=True),
        make_run("c", BASE_TS, rng, steps=1, ending="run_failed"),
    ]
    ingest_events(ctx, tmp_path / "in", [e for r in runs for e in r], "known")
    build.run(ctx)
    return ctx, runs


def test_query_answers_from_known_data(built):
    ctx, runs = built
    table = sql.query(ctx, "SELECT run_id, outcome, n_events FROM silver_runs ORDER BY run_id")
    assert table.to_pylist() == [
        {"run_id": "a", "outcome": "success", "n_events": len(runs[0])},
        {"run_id": "b", "outcome": "success_with_recovery", "n_events": len(runs[1])},
        {"run_id": "c", "outcome": "failure", "n_events": len(runs[2])},
    ]
    per_type = sql.query(
        ctx,
        "SELECT event_type, count(*) AS n FROM bronze_events "
        "WHERE event_type = 'tool_call' GROUP BY event_type",
    ).to_pylist()
    assert per_type == [{"event_type": "tool_call", "n": 6}]
    jobs = sql.query(ctx, "SELECT DISTINCT job FROM ops_job_runs ORDER BY job").to_pylist()
    assert [r["job"] for r in jobs] == ["ingest", "project_runs", "scrub_events", "scrub_log"]


def test_every_demo_query_runs(built):
    ctx, _ = built
    for title, text in build.DEMO_QUERIES:
        result = sql.query(ctx, text)
        assert result.num_rows > 0, title


def test_tables_not_created_yet_are_empty_views(ctx):
    assert sql.query(ctx, "SELECT count(*) AS n FROM silver_runs").to_pylist() == [{"n": 0}]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SELECT nope FROM silver_runs", "UNRESOLVED_COLUMN"),
        ("SELECT * FROM no_such_table", "Tables: bronze_events"),
        ("SELEC 1", "PARSE_SYNTAX_ERROR"),
        ("   ", "empty query"),
    ],
)
def test_sql_errors_are_one_short_message(ctx, text, expected):
    with pytest.raises(sql.SqlQueryError) as info:
        sql.query(ctx, text)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message and "at org.apache" not in message and len(message) < 600
