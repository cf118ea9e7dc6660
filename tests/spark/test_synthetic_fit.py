"""The expansion on Spark runs the environment with figures fitted from real usage: synthetic
runs never change the fit, a changed fit re-expands in full and is recorded, and a rebuild
equals the incremental tables."""

from __future__ import annotations

import json

import pytest

from tracelake.jobs import registry
from tracelake.jobs.environment.fitting import MIN_CALLS, RATE_STEP
from tracelake.jobs.expand.episode import EXPANDER
from tracelake.jobs.expand.preview import preview
from tracelake.jobs.lake import catalog
from tracelake.jobs.settings import ExpandSettings
from tracelake.jobs.simulate.runs import generate_runs

from .conftest import ingest_events
from .test_synthetic import SYN, _snapshot

pytestmark = pytest.mark.spark
EXPANSION = ("synthetic_events", "synthetic_runs", "synthetic_rejected")
SEARCH = ("Grep", "1.0.0")  # SearchTool 1.0 as usage names it (canonical, normalised)


def _chain() -> list[registry.JobSpec]:
    """The expansion jobs and the jobs they read from, in build order (not the whole build)."""
    specs = registry.build_order(registry.discover())
    needed = {t for s in specs if s.name in EXPANSION for t in s.reads}
    while True:
        more = {t for s in specs if set(s.writes) & needed for t in s.reads} - needed
        if not more:
            break
        needed |= more
    return [s for s in specs if s.name in EXPANSION or set(s.writes) & needed]


def _build(ctx) -> dict:
    results = {s.name: s.run(ctx, {}) for s in _chain()}
    assert all(r.status in ("succeeded", "noop") for r in results.values()), results
    return results


def _search_results(events, every: int) -> None:
    """Every `every`-th SearchTool result of these runs fails (every=0: none fails)."""
    n = 0
    for e in events:
        if e["event_type"] == "tool_result" and e.get("component_name") == "SearchTool":
            n += 1
            failed = bool(every) and n % every == 0
            e["status"] = "error" if failed else "ok"
            e["error_type"] = "timeout" if failed else None
            e["error"] = "timed out" if failed else None


def _usage_rate(ctx, synthetic: bool | None) -> tuple[float, int]:
    rows = [
        r
        for r in ctx.lake.read(catalog.SILVER_COMPONENT_USAGE).to_pylist()
        if (r["component"], r["version"]) == SEARCH
        and (synthetic is None or r["synthetic"] == synthetic)
    ]
    calls = sum(r["calls"] for r in rows)
    return sum(r["errors"] for r in rows) / calls, calls


def _recorded(ctx) -> tuple[set, set]:
    """Fingerprints in synthetic_runs, and SearchTool's total recorded error rates."""
    runs = ctx.lake.read(catalog.SILVER_SYNTHETIC_RUNS).to_pylist()
    events = ctx.lake.read(catalog.SILVER_SYNTHETIC_EVENTS).to_pylist()
    rates = set()
    for e in events:
        if e["event_type"] != "run_started":
            continue
        figures = json.loads(e["input"])["fit"]["figures"].get("SearchTool@1.0")
        if figures:
            rates.add(round(sum(m["rate"] for m in figures["error_modes"]), 6))
    return {r["fit_fingerprint"] for r in runs}, rates


def test_fit_from_real_usage_drives_expansion_and_a_change_re_expands_in_full(ctx, tmp_path):
    ctx.settings.expand = ExpandSettings(variations_per_seed=1, seed=4)
    real = list(generate_runs(21, 48))
    flat = [e for r in real[:36] for e in r]
    _search_results(flat, every=2)  # about half the real SearchTool calls fail
    # Synthetic runs (the expander's) where every SearchTool call fails: must not count.
    fake = []
    for r in generate_runs(22, 12):
        for e in r:
            fake.append(
                {
                    **e,
                    "run_id": f"fake-{e['run_id']}",
                    "event_id": f"fake-{e['event_id']}",
                    "source": EXPANDER,
                    "attributes": {**(e.get("attributes") or {}), "synthetic": "true"},
                }
            )
    _search_results(fake, every=1)
    ingest_events(ctx, tmp_path / "a", flat + fake, "a")
    _build(ctx)

    rate, calls = _usage_rate(ctx, synthetic=False)
    assert calls >= MIN_CALLS and rate > 0.3
    assert _usage_rate(ctx, synthetic=None)[0] > rate + RATE_STEP  # the fakes would move it
    fingerprints, rates = _recorded(ctx)
    assert len(fingerprints) == 1 and rates == {round(rate, 2)}  # real runs only
    (first,) = fingerprints

    # New real runs where SearchTool never fails: the fit moves, so every table re-expands.
    more = [e for r in real[36:] for e in r]
    _search_results(more, every=0)
    ingest_events(ctx, tmp_path / "b", more, "b")
    results = _build(ctx)
    for name in EXPANSION:
        assert "re-expanded in full" in results[name].message, results[name].message
        assert results[name].details["mode"] == "overwrite"
    fingerprints, rates = _recorded(ctx)
    new_rate, _ = _usage_rate(ctx, synthetic=False)
    assert fingerprints == {results["synthetic_runs"].details["fit_fingerprint"]} != {first}
    assert rates == {round(new_rate, 2)}
    rejected = ctx.lake.read(catalog.SILVER_SYNTHETIC_REJECTED).to_pylist()
    assert {r["fit_fingerprint"] for r in rejected} <= fingerprints
    for name in EXPANSION:  # nothing new: exactly once
        assert registry.get(name).run(ctx, {}).status == "noop"
    # `expand --show` previews with the same fit the job used.
    seed_id = ctx.lake.read(catalog.SILVER_SYNTHETIC_RUNS).to_pylist()[0]["seed_run_id"]
    (shown,) = preview(ctx, [seed_id])
    assert {row["fit_fingerprint"] for _, row in shown.accepted} == fingerprints

    incremental = _snapshot(ctx)
    for name in EXPANSION:  # the upstream tables' own rebuilds are tested with their jobs
        assert registry.get(name).run(ctx, {"full": True}).status == "succeeded"
    assert _snapshot(ctx) == incremental
    assert all(ctx.lake.version(s) is not None for s in SYN)
