"""Component lineage, evolution and workflow patterns on simulated runs whose truth (planted
patterns, planted version transitions) is hidden: every `sim.*` attribute is stripped before
ingest. Also: incremental equals full under any arrival order (hypothesis), the same
transitions without component_evolved events, the report drawn in headless Chromium, and bad
input handled and counted."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tracelake.jobs import build
from tracelake.jobs.context import JobContext
from tracelake.jobs.lake import catalog
from tracelake.jobs.runner import run_job
from tracelake.jobs.settings import Settings
from tracelake.jobs.silver import (
    component_evolution,
    component_usage,
    component_version_stats,
    components,
    patterns,
    run_patterns,
    run_roles,
    scrub_events,
)
from tracelake.jobs.silver.demo_summary import SHAPES
from tracelake.jobs.silver.report import write_report
from tracelake.jobs.silver.roles import UNKNOWN, contains

from .lineage_data import ingest, simulate, strip_truth

pytestmark = pytest.mark.spark
SEED, RUNS = 11, 300
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# `tracelake build` limited to silver.events and the lineage and mining tables (the gold and
# synthetic jobs, which read them, are tested elsewhere and took half of this module's time).
PHASE2_BUILD = (
    "scrub_events",
    "component_usage",
    "component_version_stats",
    "components",
    "component_evolution",
    "run_roles",
    "patterns",
    "run_patterns",
)


def _ctx(root: Path) -> JobContext:
    return JobContext.create(
        Settings(
            lake_root=str(root / "lake"),
            export_root=str(root / "exports"),
            landing=str(root / "landing"),
        )
    )


@pytest.fixture(scope="module")
def simulated():
    return simulate(SEED, RUNS)


@pytest.fixture(scope="module")
def built(simulated, tmp_path_factory, spark):
    runs, truth = simulated
    root = tmp_path_factory.mktemp("lineage")
    ctx = _ctx(root)
    ingest(ctx, root / "in", strip_truth([e for r in runs for e in r]), "sim")
    result = build.run(ctx, only=PHASE2_BUILD)
    assert result.status == "succeeded", result.message
    return ctx, truth, result


def _evolution(ctx: JobContext) -> dict[tuple[str, str, str], dict]:
    rows = ctx.lake.read(catalog.SILVER_COMPONENT_EVOLUTION).to_pylist()
    return {
        (r["component"], r["from_version"], r["to_version"]): r
        for r in rows
        if r["population"] == "real"
    }


def test_exactly_the_planted_transitions_are_found_with_their_effect(built):
    ctx, truth, _ = built
    evolution = _evolution(ctx)
    assert set(evolution) == truth.transitions
    assert all(r["link"] == "declared" for r in evolution.values())
    web = evolution[("WebFetch", "1.0.0", "1.1.0")]
    # Planted: per first attempt 23% of calls fail on 1.0 (403 16%, timeout 7%), 6.5% on 1.1.
    assert web["verdict"] == "improved"
    assert web["error_rate_delta_low"] <= web["error_rate_delta"] <= web["error_rate_delta_high"]
    assert web["error_rate_delta_high"] < 0
    assert -0.30 < web["error_rate_delta"] < -0.10
    assert 0.15 < web["from_error_rate"] < 0.35 and web["to_error_rate"] < 0.15
    assert "browser-like headers" in (web["change_note"] or "")
    for row in evolution.values():
        if min(row["from_calls"], row["to_calls"]) < ctx.settings.lineage.min_calls:
            assert row["verdict"] == "no evidence"


def test_one_identity_per_component_with_every_alias(built):
    ctx, _, result = built
    rows = {
        (r["component"], r["version"]): r
        for r in ctx.lake.read(catalog.SILVER_COMPONENTS).to_pylist()
    }
    web = rows[("WebFetch", "1.1.0")]
    assert {a["alias"] for a in web["aliases"]} == {"WebFetcherTool"}
    assert web["parent_version"] == "1.0.0" and web["parent_declared"] is True
    assert web["kind"] == "tool" and web["resolved"] is True
    assert not any(r["definition_conflict"] for r in rows.values())
    usage = ctx.lake.read(catalog.SILVER_COMPONENT_USAGE).to_pylist()
    assert {r["run_id"] for r in usage} <= set(built[1].pattern_of_run)
    assert not any(r["synthetic"] for r in usage)
    assert result.details["components"]["status"] == "succeeded"


def test_the_three_planted_patterns_are_mined_and_runs_assigned(built):
    ctx, truth, result = built
    patterns = ctx.lake.read(catalog.SILVER_PATTERNS).to_pylist()
    for shape, roles in SHAPES.items():
        assert any(contains(p["roles"], roles) for p in patterns), shape
    assert all(UNKNOWN not in p["roles"] for p in patterns)
    # No pattern made only of noise: retries and fallbacks repeat a role and collapse into it,
    # so every pattern joins at least two different roles.
    assert all(len(set(p["roles"])) >= 2 for p in patterns)
    assigned = ctx.lake.read(catalog.SILVER_RUN_PATTERNS).to_pylist()
    by_pattern: dict[str, Counter] = defaultdict(Counter)
    for r in assigned:
        if r["status"] == "matched":
            by_pattern[r["pattern_id"]][truth.pattern_of_run[r["run_id"]]] += 1
    majority = sum(c.most_common(1)[0][1] for c in by_pattern.values())
    total = sum(sum(c.values()) for c in by_pattern.values())
    assert total >= 0.95 * len(truth.pattern_of_run)
    assert majority / total >= 0.95
    assert "re-mined in full" in result.details["patterns"]["message"]


def test_a_rerun_writes_nothing(built):
    ctx, _, _ = built
    again = build.run(ctx, only=PHASE2_BUILD)
    assert again.status == "noop"
    assert again.rows_out == 0


@pytest.mark.skipif(CHROMIUM is None, reason="needs the chromium package")
def test_the_report_is_drawn_offline_in_headless_chromium(built, tmp_path):
    ctx, _, _ = built
    uri = write_report(ctx)
    page = Path(uri)
    text = page.read_text()
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in text
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert 'data-report-ready="1"' in dom
    timelines = re.findall(r'<svg[^>]*class="timeline"[^>]*data-drawn="(\d+)"', dom)
    assert timelines and all(int(n) > 0 for n in timelines)
    assert re.search(r'id="patterns-chart"[^>]*data-drawn="([1-9]\d*)"', dom)
    assert dom.count('class="bar"') >= 4
    assert "improved" in dom and "WebFetch" in dom


def test_transitions_are_found_without_component_evolved_events(simulated, tmp_path, spark):
    runs, truth = simulated
    ctx = _ctx(tmp_path)
    events = [e for r in runs for e in r if e["event_type"] != "component_evolved"]
    ingest(ctx, tmp_path / "in", strip_truth(events), "otel-like")
    for job in LINEAGE_JOBS:
        assert run_job(ctx, job, spark=spark).status == "succeeded"
    evolution = _evolution(ctx)
    assert set(evolution) == truth.transitions
    assert all(r["link"] == "inferred" for r in evolution.values())
    web = evolution[("WebFetch", "1.0.0", "1.1.0")]
    assert web["verdict"] == "improved" and web["error_rate_delta_high"] < 0


# The lineage jobs read silver.events, which the scrub job writes first.
LINEAGE_JOBS = (
    scrub_events.JOB,
    component_usage.JOB,
    component_version_stats.JOB,
    components.JOB,
    component_evolution.JOB,
    run_roles.JOB,
)
TABLES = (
    catalog.SILVER_COMPONENT_USAGE,
    catalog.SILVER_COMPONENT_VERSION_STATS,
    catalog.SILVER_COMPONENTS,
    catalog.SILVER_COMPONENT_EVOLUTION,
    catalog.SILVER_RUN_ROLES,
)


def _rounded(value):
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def _snapshot(ctx: JobContext) -> dict[str, list]:
    out = {}
    for spec in TABLES:
        rows = [_rounded(r) for r in ctx.lake.read(spec).to_pylist()]
        out[spec.qualified_name] = sorted(rows, key=lambda r: tuple(str(r[k]) for k in spec.key))
    return out


# One drawn example besides the explicit one: each is three incremental builds of the lineage
# jobs and a full one (~25 s on 2 cores). `make test` draws the same one every time (the ci
# profile is derandomized); a developer's run (dev profile) draws a new one.
@settings(
    max_examples=1,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@example(first_cut=100, gap=100, late=frozenset(range(0, 100, 3)), tail=3)
@given(
    first_cut=st.integers(60, 200),
    gap=st.integers(20, 100),
    late=st.frozensets(st.integers(0, RUNS - 1), max_size=60),
    tail=st.integers(1, 4),
)
def test_incremental_equals_a_full_rebuild_under_any_arrival_order(
    simulated, tmp_path_factory, spark, first_cut, gap, late, tail
):
    """Three batches split at random run positions; the `late` runs lose their last `tail`
    events to the next batch. The simulator's timeline puts new versions (SummarizationAgent
    2.0.0 from run 217, WebFetcherTool 1.1 from run 148) after the first cut, so versions
    always arrive in a later batch than their predecessors."""
    runs, _ = simulated
    root = tmp_path_factory.mktemp("lineage-prop")
    ctx = _ctx(root)
    second_cut = min(first_cut + gap, RUNS - 20)
    batches: list[list] = [[], [], []]
    for i, run in enumerate(runs):
        b = 0 if i < first_cut else 1 if i < second_cut else 2
        cut = len(run) - tail if i in late and b < 2 else len(run)
        batches[b] += run[:cut]
        batches[min(b + 1, 2)] += run[cut:]
    for n, batch in enumerate(batches):
        ingest(ctx, root / "in", strip_truth(batch), f"batch{n}")
        for job in LINEAGE_JOBS:
            result = run_job(ctx, job, spark=spark)
            assert result.status == "succeeded", result.message
        if n == 0:
            assert ("SummarizationAgent", "1.0.0", "2.0.0") not in _evolution(ctx)
    usage_runs = [
        r for r in ctx.lake.read(catalog.OPS_JOB_RUNS).to_pylist() if r["job"] == "component_usage"
    ]
    assert len(usage_runs) == 3
    incremental = _snapshot(ctx)
    assert ("SummarizationAgent", "1.0.0", "2.0.0") in _evolution(ctx)
    for job in LINEAGE_JOBS:
        assert run_job(ctx, job, spark=spark).status == "noop"
    # After every no-op check: a full scrub rewrites silver.events, which its readers then see.
    for job in LINEAGE_JOBS:
        assert run_job(ctx, job, full=True, spark=spark).status == "succeeded"
    assert _snapshot(ctx) == incremental


def _event(run_id: str, seq: int, minute: int, event_type: str, **fields) -> dict:
    return {
        "event_id": f"{run_id}-{seq}",
        "run_id": run_id,
        "seq": seq,
        "ts": f"2026-03-01T09:{minute:02d}:00.000000Z",
        "source": "bad-input-test",
        "event_type": event_type,
        **fields,
    }


def _call(run_id: str, seq: int, minute: int, name: str, version: str, **fields) -> dict:
    return _event(
        run_id,
        seq,
        minute,
        "tool_call",
        component_name=name,
        component_kind="tool",
        component_version=version,
        action="fetch",
        status="ok",
        **fields,
    )


def test_bad_input_is_handled_and_counted(tmp_path, spark):
    ctx = _ctx(tmp_path)
    events = [
        _event("r-empty", 0, 0, "run_started", goal="nothing happens"),
        _event("r-empty", 1, 1, "run_completed"),
        _call("r-unknown", 0, 2, "QuantumOracleTool", "0.1"),
        _call("r-back", 0, 3, "WebFetch", "1.1"),
        _call("r-back", 1, 4, "WebFetch", "1.0"),
        _call("r-early", 0, 5, "ZetaTool", "2.0"),
        _event(
            "r-create",
            0,
            30,
            "component_evolved",
            component_name="ZetaTool",
            component_kind="tool",
            component_version="2.0",
            attributes={"old_version": "1.0"},
        ),
        _call("r-create", 1, 31, "ZetaTool", "2.0"),
        _event(
            "r-loop",
            0,
            40,
            "component_evolved",
            component_name="LoopTool",
            component_kind="tool",
            component_version="2.0",
            attributes={"replaces": "LoopTool@1.0"},
        ),
        _event(
            "r-loop",
            1,
            41,
            "component_evolved",
            component_name="LoopTool",
            component_kind="tool",
            component_version="1.0",
            attributes={"replaces": "LoopTool@2.0"},
        ),
    ]
    # A first, ordinary run makes the bad ones an increment: counted by the incremental path.
    ingest(ctx, tmp_path / "in", [_call("r-first", 0, 50, "WebFetch", "1.1")], "first")
    run_job(ctx, scrub_events.JOB, spark=spark)
    assert run_job(ctx, component_usage.JOB, spark=spark).details["runs"] == 1
    ingest(ctx, tmp_path / "in", events, "bad")
    run_job(ctx, scrub_events.JOB, spark=spark)
    usage = run_job(ctx, component_usage.JOB, spark=spark)
    assert usage.details["runs_affected"] == usage.details["runs"] == 6
    assert usage.details["unresolved_component_rows"] >= 1
    assert run_job(ctx, component_version_stats.JOB, spark=spark).status == "succeeded"
    comps = run_job(ctx, components.JOB, spark=spark)
    evo = run_job(ctx, component_evolution.JOB, spark=spark)
    assert {usage.status, comps.status, evo.status} == {"succeeded"}
    assert usage.details["runs_without_components"] == 1
    assert usage.details["version_backwards_events"] == 1
    assert comps.details["parent_cycles"] == 1
    assert comps.details["used_before_declared"] == 1
    assert comps.details["unresolved_components"] >= 1
    rows = {
        (r["component"], r["version"]): r
        for r in ctx.lake.read(catalog.SILVER_COMPONENTS).to_pylist()
    }
    assert rows[("QuantumOracleTool", "0.1.0")]["resolved"] is False
    assert rows[("ZetaTool", "2.0.0")]["resolved"] is True  # declared by its evolution event
    assert rows[("ZetaTool", "2.0.0")]["used_before_declared"] == 1
    assert rows[("WebFetch", "1.0.0")]["backwards_uses"] == 1
    # a cycle is broken, never followed: each version still has at most one parent
    loop = {v: r["parent_version"] for (c, v), r in rows.items() if c == "LoopTool"}
    assert loop == {"1.0.0": None, "2.0.0": "1.0.0"} or loop == {"1.0.0": "2.0.0", "2.0.0": None}
    report = Path(write_report(ctx)).read_text()
    assert "runs without steps" in report and "QuantumOracleTool" in report


PATTERN_JOBS = (*LINEAGE_JOBS, patterns.JOB, run_patterns.JOB)


def _steps(run_id: str, minute: int, actions: list[str], seq: int = 0) -> list[dict]:
    return [
        _event(
            run_id,
            seq + i,
            minute + i,
            "tool_call",
            component_name="WebFetch",
            component_kind="tool",
            component_version="1.1",
            action=action,
            status="ok",
        )
        for i, action in enumerate(actions)
    ]


def test_a_late_event_updates_roles_patterns_and_stats_as_a_full_build(tmp_path, spark):
    """The incremental paths of run_roles (a late event changes a run's roles, and with them
    patterns and run_patterns) and of component_version_stats (a changed usage row, and a
    declaration arriving after the version's first use) give what a full build gives."""
    ctx = _ctx(tmp_path)
    first = [e for i in range(6) for e in _steps(f"a{i}", i * 5, ["fetch", "summarize"])]
    first += [e for i in range(4) for e in _steps(f"b{i}", i * 5, ["search", "write report"])]
    first += [_call("z1", 0, 5, "ZetaTool", "2.0")]
    second = [e for i in range(3) for e in _steps(f"a{i}", 50, ["write report"], seq=10)]
    second += [e for i in range(3) for e in _steps(f"c{i}", i * 5, ["fetch", "summarize"])]
    second += [
        _event(
            "z2",
            0,
            30,
            "component_evolved",
            component_name="ZetaTool",
            component_kind="tool",
            component_version="2.0",
            attributes={"old_version": "1.0"},
        )
    ]
    for n, batch in enumerate((first, second)):
        ingest(ctx, tmp_path / "in", batch, f"batch{n}")
        for job in PATTERN_JOBS:
            result = run_job(ctx, job, spark=spark)
            assert result.status == "succeeded", (job.name, result.message)
            if n == 1 and job is run_roles.JOB:
                assert result.details["runs_affected"] == 7 and result.details["files_rewritten"]
            if n == 1 and job is component_version_stats.JOB:
                assert result.details["usage_rows_gone"] == 3
                assert result.details["versions_recomputed"] == 2  # WebFetch 1.1, ZetaTool 2.0
    roles = {r["run_id"]: r["roles"] for r in ctx.lake.read(catalog.SILVER_RUN_ROLES).to_pylist()}
    assert roles["a0"] == ["Fetch", "Summarize", "Output"] and roles["a5"] == ["Fetch", "Summarize"]
    zeta = [
        r
        for r in ctx.lake.read(catalog.SILVER_COMPONENTS).to_pylist()
        if r["component"] == "ZetaTool"
    ]
    assert [z["used_before_declared"] for z in zeta] == [1]
    tables = (*TABLES, catalog.SILVER_PATTERNS, catalog.SILVER_RUN_PATTERNS)
    incremental = {t.qualified_name: _sorted(ctx, t) for t in tables}
    assert any(
        p["roles"] == ["Fetch", "Summarize", "Output"]
        for p in ctx.lake.read(catalog.SILVER_PATTERNS).to_pylist()
    )
    for job in PATTERN_JOBS:
        assert run_job(ctx, job, full=True, spark=spark).status == "succeeded"
    assert {t.qualified_name: _sorted(ctx, t) for t in tables} == incremental


def _sorted(ctx: JobContext, spec) -> list:
    rows = [_rounded(r) for r in ctx.lake.read(spec).to_pylist()]
    return sorted(rows, key=lambda r: tuple(str(r[k]) for k in spec.key))


def test_weighted_prefix_span_finds_what_spark_prefix_span_finds(spark):
    import math
    import random

    from pyspark.ml.fpm import PrefixSpan

    from tracelake.jobs.silver import _mining

    rnd = random.Random(7)
    roles = ["Fetch", "Search", "Summarize", "Output", "Parallel(Fetch)"]
    runs = [tuple(rnd.choices(roles, k=rnd.randint(1, 6))) for _ in range(300)]
    weighted = Counter(runs)
    for min_support, max_length in ((0.04, 8), (0.2, 3), (0.5, 2)):
        df = spark.createDataFrame(
            [([[r] for r in run],) for run in runs], "sequence array<array<string>>"
        )
        found = PrefixSpan(
            minSupport=min_support, maxPatternLength=max_length, sequenceCol="sequence"
        ).findFrequentSequentialPatterns(df)
        expected = {
            tuple(i for itemset in r["sequence"] for i in itemset): int(r["freq"])
            for r in found.collect()
            if all(len(itemset) == 1 for itemset in r["sequence"])
        }
        mine = _mining.prefix_span(dict(weighted), math.ceil(min_support * len(runs)), max_length)
        assert mine == expected, min_support
