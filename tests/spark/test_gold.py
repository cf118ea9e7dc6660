"""The gold jobs on real Spark and Delta: read = examples + rejected, every row validates,
exactly once, incremental equals full, splits stay put, human feedback wins over rules.

The silver inputs are written with delta-rs here (ingest into bronze, then bronze's rows as
silver.events: the hand-made runs hold nothing to scrub; synthetic events from the expansion's
pure function), so only the gold jobs run on Spark and the test stays short.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import yaml
from gold_runs import bad_runs, recovery_run

from tracelake.jobs import registry
from tracelake.jobs.expand.expander import expand_run
from tracelake.jobs.expand.spark_job import event_rows
from tracelake.jobs.gold import constitutional_pairs, examples, preferences, rejected
from tracelake.jobs.gold.assemble import RunFacts, assemble
from tracelake.jobs.gold.show import record_feedback
from tracelake.jobs.lake import catalog
from tracelake.jobs.runner import run_job
from tracelake.jobs.settings import ExpandSettings
from tracelake.jobs.simulate.runs import generate_runs
from tracelake.schemas.gold import ExampleRow, PreferenceRow, RejectedRow, record_schema
from tracelake.schemas.privacy import SCRUB_COUNT_FIELD

from .conftest import ingest_events

pytestmark = pytest.mark.spark
GOLD_JOBS = (examples.JOB, rejected.JOB, preferences.JOB, constitutional_pairs.JOB)
EVOLUTION = {
    "component": "WebFetcherTool",
    "from_version": "1.0.0",
    "to_version": "1.1.0",
    "population": "real",
    "link": "declared",
    "change_note": "retries 403s with browser headers",
    "from_runs": 40,
    "to_runs": 35,
    "from_calls": 120,
    "to_calls": 100,
    "from_error_rate": 0.21,
    "to_error_rate": 0.05,
    "confidence": 0.95,
    "verdict": "improved",
    "verdict_reason": "error rate 0.21 -> 0.05, interval below 0",
}


def _silver_events(ctx, tmp_path, events, name) -> None:
    """Ingest into bronze (the real ingest), then append those rows to silver.events."""
    before = ctx.lake.version(catalog.BRONZE_EVENTS)
    ingest_events(ctx, tmp_path / name, events, name)
    bronze = ctx.lake.read(catalog.BRONZE_EVENTS)
    ids = pa.array([e["event_id"] for e in events])
    rows = bronze.filter(pc.is_in(bronze["event_id"], ids))
    assert before is None or rows.num_rows == len(events)
    rows = rows.append_column(SCRUB_COUNT_FIELD, pa.array([0] * rows.num_rows, pa.int32()))
    ctx.lake.append(catalog.SILVER_EVENTS, rows.select(catalog.SILVER_EVENTS.schema.names))


def _synthetic_events(ctx, seeds, variations: int = 3, seed: int = 2) -> int:
    settings = ExpandSettings(variations_per_seed=variations, seed=seed)
    rows = []
    for seed in seeds:
        expansion = expand_run(seed, settings)
        rows += event_rows(expansion, settings.seed)
    table = pa.Table.from_pylist(rows, catalog.SILVER_SYNTHETIC_EVENTS.schema)
    ctx.lake.append(catalog.SILVER_SYNTHETIC_EVENTS, table)
    return len({r["run_id"] for r in rows})


def _other_sources(ctx) -> None:
    ctx.lake.ensure(catalog.SILVER_RUN_PATTERNS)  # no pattern mined: every pattern is null
    full = {f.name: None for f in catalog.SILVER_COMPONENT_EVOLUTION.schema}
    ctx.lake.append(
        catalog.SILVER_COMPONENT_EVOLUTION,
        pa.Table.from_pylist([{**full, **EVOLUTION}], catalog.SILVER_COMPONENT_EVOLUTION.schema),
    )


def _gold(ctx) -> None:
    for job in GOLD_JOBS:
        assert run_job(ctx, job).status in ("succeeded", "noop"), job.name


def test_build_runs_the_gold_jobs_after_their_sources():
    order = [spec.name for spec in registry.discover()]
    for job in GOLD_JOBS:
        assert job.name in order
    assert order.index("gold_examples") > order.index("run_patterns")
    assert order.index("gold_preferences") > order.index("gold_examples")
    assert order.index("gold_constitutional_pairs") > order.index("synthetic_events")


CONTRACT = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "contracts" / "gold_examples.yaml").read_text()
)


def _rows(ctx, spec):
    return ctx.lake.read(spec).to_pylist() if ctx.lake.version(spec) is not None else []


def _run_ids(ctx, spec):
    return {r["run_id"] for r in ctx.lake.read(spec, columns=["run_id"]).to_pylist()}


def _without(rows, *columns):
    return sorted(
        json.dumps({k: v for k, v in r.items() if k not in columns}, sort_keys=True, default=str)
        for r in rows
    )


def test_gold_tables_end_to_end(ctx, tmp_path):
    bad = bad_runs()
    hand_made = recovery_run() + [e for events in bad.values() for e in events]
    seeds = list(generate_runs(5, 3))
    # the no_end run's end arrives late, in the second batch
    late_end = {**recovery_run("gold-bad-no-end")[-1], "seq": 99}
    late_end["event_id"] = "gold-bad-no-end-099"
    _silver_events(ctx, tmp_path, hand_made + [e for run in seeds for e in run], "a")
    # 8 variations per seed at this seed give a rule pair (pairs need two runs of one prompt
    # that part at an agent's decision, which few variations do)
    assert _synthetic_events(ctx, seeds, variations=8, seed=1) > 0
    _other_sources(ctx)
    _gold(ctx)

    # read = examples + rejected, disjoint
    read = _run_ids(ctx, catalog.SILVER_EVENTS) | _run_ids(ctx, catalog.SILVER_SYNTHETIC_EVENTS)
    ex_rows, rej_rows = _rows(ctx, catalog.GOLD_EXAMPLES), _rows(ctx, catalog.GOLD_REJECTED)
    ex_ids = {r["run_id"] for r in ex_rows if r["phase"] != "component_evolution"}
    (evolved,) = [r for r in ex_rows if r["phase"] == "component_evolution"]
    assert evolved["run_id"] == "evolution:WebFetcherTool@1.0.0->1.1.0:real"
    rej_ids = {r["run_id"] for r in rej_rows if r["stage"] == "assemble"}
    assert ex_ids | rej_ids == read and not ex_ids & rej_ids
    codes = {r["run_id"]: r["reason_code"] for r in rej_rows}
    for code, events in bad.items():
        assert codes[events[0]["run_id"]] == code
    assert any(r["synthetic"] for r in ex_rows)

    # every row validates; weights as documented; one split per family
    schema = record_schema()
    families: dict[str, set[str]] = {}
    for row in ex_rows:
        ExampleRow.model_validate(row)
        jsonschema.validate(json.loads(row["record"]), schema)
        for m in row["messages"]:
            assert m["weight"] == 0.0 if m["role"] != "assistant" else m["weight"] in (0.0, 1.0)
        families.setdefault(row["family_key"], set()).add(row["split"])
    assert all(len(s) == 1 for s in families.values())
    for row in rej_rows:
        RejectedRow.model_validate(row)
    for row in _rows(ctx, catalog.GOLD_PREFERENCES):
        PreferenceRow.model_validate(row)

    # the lake's row is the pure assembly's (lineage: the versions read, the pattern)
    (golden,) = [r for r in ex_rows if r["run_id"] == "gold-recovery"]
    pure = assemble(
        recovery_run(),
        RunFacts(pattern=golden["pattern"], source_versions=golden["source_versions"]),
    ).example
    assert {k: golden[k] for k in pure} == pure
    assert set(json.loads(golden["source_versions"])) == {
        "silver.events",
        "silver.synthetic_events",
        "silver.run_patterns",
        "silver.component_evolution",
    }

    # exactly once: nothing new, nothing written
    for job in GOLD_JOBS:
        assert run_job(ctx, job).status == "noop", job.name

    # human feedback wins over the rule pair of the same two runs
    rule_pairs = [p for p in _rows(ctx, catalog.GOLD_PREFERENCES) if p["source"] == "rule"]
    assert rule_pairs  # the data gives the rules material
    flip = rule_pairs[0]
    record_feedback(
        ctx,
        run_id=flip["rejected_run_id"],
        over=flip["chosen_run_id"],
        annotator="test",
        note="the shorter answer is enough",
    )
    assert run_job(ctx, preferences.JOB).status == "succeeded"
    same = [
        p
        for p in _rows(ctx, catalog.GOLD_PREFERENCES)
        if {p["chosen_run_id"], p["rejected_run_id"]}
        == {flip["chosen_run_id"], flip["rejected_run_id"]}
    ]
    assert [(p["source"], p["chosen_run_id"], p["annotator"]) for p in same] == [
        ("human", flip["rejected_run_id"], "test")
    ]

    # incremental: a late end makes the no_end run usable; nothing else moves
    splits = {r["run_id"]: r["split"] for r in ex_rows}
    _silver_events(ctx, tmp_path, [late_end], "b")
    for job in (examples.JOB, rejected.JOB):
        assert run_job(ctx, job).status == "succeeded", job.name
    repaired = run_job(ctx, preferences.JOB)
    assert repaired.status == "succeeded"
    # only the late run's family is re-paired, and the result equals pairing everything again
    assert repaired.details["note"].startswith("re-paired 1 scenario families"), repaired.details
    incremental_pairs = _without(_rows(ctx, catalog.GOLD_PREFERENCES))
    assert run_job(ctx, preferences.JOB, full=True).status == "succeeded"
    assert _without(_rows(ctx, catalog.GOLD_PREFERENCES)) == incremental_pairs
    critiqued = run_job(ctx, constitutional_pairs.JOB)
    assert critiqued.status == "succeeded"
    assert critiqued.details["note"].startswith("re-paired 1 scenario families")
    incremental_pairs = _without(_rows(ctx, catalog.GOLD_CONSTITUTIONAL_PAIRS))
    assert run_job(ctx, constitutional_pairs.JOB, full=True).status == "succeeded"
    assert _without(_rows(ctx, catalog.GOLD_CONSTITUTIONAL_PAIRS)) == incremental_pairs
    after = _rows(ctx, catalog.GOLD_EXAMPLES)
    assert "gold-bad-no-end" in {r["run_id"] for r in after}
    assert "gold-bad-no-end" not in {
        r["run_id"] for r in _rows(ctx, catalog.GOLD_REJECTED) if r["stage"] == "assemble"
    }
    assert {r["run_id"]: r["split"] for r in after if r["run_id"] in splits} == splits

    # and equals a full recomputation (lineage columns aside: untouched rows keep the versions
    # they were assembled from)
    specs = (catalog.GOLD_EXAMPLES, catalog.GOLD_REJECTED)
    incremental = [_rows(ctx, s) for s in specs]
    for job in (examples.JOB, rejected.JOB):
        assert run_job(ctx, job, full=True).status == "succeeded"
    for spec, rows in zip(specs, incremental, strict=True):
        assert _without(_rows(ctx, spec), "source_versions") == _without(rows, "source_versions")

    # null shares of generated data stay within the contract's bounds (the hand-made runs are
    # edge cases by design: none of them consults memory)
    limits = CONTRACT["null_share_max"]
    generated = [r for r in after if r["synthetic"] or r["phase"] == "component_evolution"]
    for phase in {r["phase"] for r in generated}:
        bounds = {**limits["default"], **limits.get(phase, {})}
        rows = [r for r in generated if r["phase"] == phase]
        for field, bound in bounds.items():
            share = sum(field in r["null_fields"] for r in rows) / len(rows)
            assert share <= bound, (phase, field, share)


@pytest.mark.s3
def test_gold_jobs_on_an_s3_lake(s3_settings, tmp_path):
    """The same jobs with the lake on S3 (SeaweedFS): reads, per-run rewrites and bookmarks go
    through S3 (S3A on the native engine, delta-rs and pyarrow on the bridge)."""
    from tracelake.jobs.context import JobContext

    ctx = JobContext.create(s3_settings)
    bad = bad_runs()
    seeds = list(generate_runs(5, 2))
    late_end = {**recovery_run("gold-bad-no-end")[-1], "seq": 99}
    late_end["event_id"] = "gold-bad-no-end-099"
    hand_made = recovery_run() + bad["no_end"]
    _silver_events(ctx, tmp_path, hand_made + [e for run in seeds for e in run], "a")
    _synthetic_events(ctx, seeds)
    _other_sources(ctx)
    _gold(ctx)

    read = _run_ids(ctx, catalog.SILVER_EVENTS) | _run_ids(ctx, catalog.SILVER_SYNTHETIC_EVENTS)
    ex_ids = {
        r["run_id"]
        for r in _rows(ctx, catalog.GOLD_EXAMPLES)
        if r["phase"] != "component_evolution"
    }
    rej_ids = {r["run_id"] for r in _rows(ctx, catalog.GOLD_REJECTED)}
    assert ex_ids | rej_ids == read and not ex_ids & rej_ids
    assert "gold-bad-no-end" in rej_ids and "gold-recovery" in ex_ids
    for job in GOLD_JOBS:
        assert run_job(ctx, job).status == "noop", job.name

    _silver_events(ctx, tmp_path, [late_end], "b")
    _gold(ctx)
    examples_now = _rows(ctx, catalog.GOLD_EXAMPLES)
    assert "gold-bad-no-end" in {r["run_id"] for r in examples_now}
    assert "gold-bad-no-end" not in _run_ids(ctx, catalog.GOLD_REJECTED)
    assert run_job(ctx, examples.JOB, full=True).status == "succeeded"
    assert _without(_rows(ctx, catalog.GOLD_EXAMPLES), "source_versions") == _without(
        examples_now, "source_versions"
    )
