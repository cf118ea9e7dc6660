"""silver.events and ops.scrub_log: a secret in bronze never reaches a derived table, both
tables are built incrementally and exactly once, equal a full rebuild, and read the same through
the in-process and the Spark (mapInArrow) paths."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pyarrow.compute as pc
import pytest

from tracelake.jobs import build
from tracelake.jobs.context import JobContext
from tracelake.jobs.lake import catalog
from tracelake.jobs.silver import scrubbing

from .conftest import BASE_TS, ingest_events, make_run

pytestmark = pytest.mark.spark

AWS_KEY = "AKIAZ7QW3RTY5UIO1PAS"
EMAIL = "jane.roe@example.org"
PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
TOKEN = "Zx9Qw8Er7Ty6Ui5Op4As3Df2"
SECRETS = (AWS_KEY, EMAIL, "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", TOKEN)


def _leaky_run(run_id: str, rng, start=BASE_TS) -> list[dict]:
    events = make_run(run_id, start, rng, steps=2)
    events[0]["goal"] = f"email the report to {EMAIL}"
    events[1]["reasoning"] = f"use key {AWS_KEY} from the vault"
    events[2]["input"] = orjson.dumps(
        {"url": "https://api.example.com/x", "headers": {"Authorization": f"Bearer {TOKEN}"}}
    ).decode()
    events[2]["output"] = orjson.dumps({"key": PEM, "owner": EMAIL}).decode()
    events[-1]["output"] = f"sent to {EMAIL}"
    events[3]["attributes"] = {"api_key": TOKEN, "note": "plain"}
    return events


def _texts(table) -> str:
    return orjson.dumps(table.to_pylist(), default=str).decode()


def _sorted(ctx: JobContext, spec) -> list[str]:
    """The table's rows as sorted JSON texts (a multiset, whatever the file layout)."""
    rows = ctx.lake.read(spec).to_pylist()
    for r in rows:
        if "attributes" in r:
            r["attributes"] = sorted(r["attributes"] or [])
    return sorted(orjson.dumps(r, default=str, option=orjson.OPT_SORT_KEYS).decode() for r in rows)


def test_a_secret_in_bronze_never_reaches_silver(ctx, tmp_path, rng):
    events = _leaky_run("leaky", rng) + make_run("clean", BASE_TS, rng)
    ingest_events(ctx, tmp_path / "in", events, "leaky")
    result = build.run(ctx)
    assert result.status == "succeeded", result.message

    bronze = ctx.lake.read(catalog.BRONZE_EVENTS)
    assert all(s in _texts(bronze) for s in SECRETS)  # they were there
    silver = ctx.lake.read(catalog.SILVER_EVENTS)
    runs = ctx.lake.read(catalog.SILVER_RUNS)
    for table in (silver, runs, ctx.lake.read(catalog.OPS_SCRUB_LOG)):
        text = _texts(table)
        assert not [s for s in SECRETS if s in text]
    assert sorted(silver["event_id"].to_pylist()) == sorted(bronze["event_id"].to_pylist())

    by_id = {r["event_id"]: r for r in silver.to_pylist()}
    leaky = by_id["leaky-0000"]
    assert leaky["goal"].startswith("email the report to <PII:email:")
    # The same address gets the same placeholder everywhere in the run.
    mark = leaky["goal"].removeprefix("email the report to ")
    assert by_id["leaky-0002"]["output"].count(mark) == 1
    assert runs.filter(pc.equal(runs["run_id"], "leaky"))["goal"][0].as_py() == leaky["goal"]
    assert dict(by_id["leaky-0003"]["attributes"])["note"] == "plain"
    assert by_id["clean-0001"]["scrub_count"] == 0

    log = ctx.lake.read(catalog.OPS_SCRUB_LOG).to_pylist()
    assert len(log) == sum(r["scrub_count"] for r in silver.to_pylist())
    paths = {(r["event_id"], r["field_path"], r["kind"]) for r in log}
    assert ("leaky-0002", "input.headers.Authorization", "credential_field") in paths
    assert ("leaky-0002", "output.key", "private_key") in paths
    assert ("leaky-0003", "attributes.api_key", "credential_field") in paths
    assert ("leaky-0001", "reasoning", "aws_access_key") in paths


# The jobs that read what this test changes (the rest of the build is tested elsewhere).
SCRUB_BUILD = ("scrub_events", "scrub_log", "project_runs")


@pytest.mark.parametrize("path", ["in-process", "spark"])
def test_incremental_runs_are_exactly_once_and_equal_a_rebuild(
    ctx, tmp_path, rng, path, monkeypatch
):
    if path == "spark":  # every read goes through Spark and mapInArrow, as large ones do
        monkeypatch.setattr(scrubbing, "LOCAL_MAX_ROWS", -1)
    first = _leaky_run("a", rng) + make_run("b", BASE_TS, rng)
    late = _leaky_run("c", rng, BASE_TS + timedelta(days=1))
    ingest_events(ctx, tmp_path / "in", first, "first")
    build.run(ctx, only=SCRUB_BUILD)
    ingest_events(ctx, tmp_path / "in", late, "second")
    second = build.run(ctx, only=SCRUB_BUILD)
    assert second.details["scrub_events"]["status"] == "succeeded"
    assert second.details["scrub_events"].get("mode") == "append"
    versions = {s.qualified_name: ctx.lake.version(s) for s in (catalog.SILVER_EVENTS,)}

    again = build.run(ctx, only=SCRUB_BUILD)  # nothing new: no job writes
    assert again.status == "noop"
    assert {s: ctx.lake.version(catalog.get(s)) for s in versions} == versions

    tables = (catalog.SILVER_EVENTS, catalog.OPS_SCRUB_LOG, catalog.SILVER_RUNS)
    incremental = {s.qualified_name: _sorted(ctx, s) for s in tables}
    assert len(incremental["silver.events"]) == len(first) + len(late)
    assert len(incremental["ops.scrub_log"]) == 2 * 7  # two leaky runs, 7 values each
    build.run(ctx, full=True, only=SCRUB_BUILD)
    assert {s.qualified_name: _sorted(ctx, s) for s in tables} == incremental
