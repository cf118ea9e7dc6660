"""Scenario expansion throughput: seeds -> verified variations, on N worker processes.

    .venv/bin/python tests/benchmarks/bench_expand.py [--seeds 10000] [--variations 10]
        [--workers 2] [--sim-seed 42]

Prints accepted runs/s (goal: >= 2,000 on 2 cores at the default mix), the acceptance rate per
transform, the reject reasons, coverage growth (pattern x level x version x fault cells covered
by seeds alone vs seeds + variations) and the peak memory of the largest process. Baseline in
the same process: the simulator generating the seeds (runs/s), so the ratio says how much
dearer a verified variation is than a simulated run.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections import Counter
from multiprocessing import get_context

from tracelake.jobs.expand.expander import expand_run
from tracelake.jobs.settings import ExpandSettings
from tracelake.jobs.simulate.runs import generate_runs

_SETTINGS: ExpandSettings | None = None


def _init(settings_json: str) -> None:
    global _SETTINGS
    _SETTINGS = ExpandSettings.model_validate_json(settings_json)


def _cells_of_events(events: list[dict]) -> set[tuple]:
    start = events[0]
    pattern = (start.get("attributes") or {}).get("sim.pattern") or start.get("scenario")
    level = start.get("scenario_level")
    faults = any(e.get("status") == "error" for e in events)
    versions = {
        f"{e['component_name']}@{e['component_version']}"
        for e in events
        if e.get("event_type") == "tool_call" and e.get("component_name")
    }
    return {(pattern, level, v, faults) for v in versions}


def _expand(seed: list[dict]) -> tuple[int, Counter, Counter, Counter, set[tuple]]:
    assert _SETTINGS is not None
    ex = expand_run(seed, _SETTINGS)
    tried: Counter = Counter()
    accepted: Counter = Counter()
    for _, row in ex.accepted:
        for name in set(row["transform_names"]):
            tried[name] += 1
            accepted[name] += 1
    reasons: Counter = Counter()
    for r in ex.rejected:
        for name in {s.get("transform") for s in json.loads(r["transforms"])} - {None}:
            tried[name] += 1
        reasons[r["check"]] += 1
    cells: set[tuple] = set()
    for events, _ in ex.accepted:
        cells |= _cells_of_events(events)
    return len(ex.accepted), tried, accepted, reasons, cells


def _yield_after_curation(seeds: list[list[dict]], settings: ExpandSettings) -> tuple[int, int]:
    """Examples kept by curation (exact and near duplicates dropped) among the seeds and their
    accepted variations: how much of the expansion is new material."""
    from tracelake.jobs.curate.dedup import CurateConfig, History, curate_batch
    from tracelake.jobs.gold.assemble import RunFacts, assemble

    rows = []
    for seed in seeds:
        runs = [(seed, RunFacts())]
        goal = seed[0].get("goal")
        for events, row in expand_run(seed, settings).accepted:
            facts = RunFacts(synthetic=True, seed_run_id=row["seed_run_id"], lineage_goal=goal)
            runs.append((events, facts))
        for events, facts in runs:
            example = assemble(events, facts).example
            if example is not None:
                rows.append(example)
    result = curate_batch(rows, History(), CurateConfig(), None)
    return sum(v.verdict == "kept" for v in result.verdicts), len(rows)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=10_000)
    p.add_argument("--variations", type=int, default=10)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--sim-seed", type=int, default=42)
    p.add_argument("--yield-seeds", type=int, default=300, help="seeds for the yield figure")
    a = p.parse_args()

    t0 = time.perf_counter()
    seeds = list(generate_runs(a.sim_seed, a.seeds))
    sim_s = time.perf_counter() - t0
    seed_cells: set[tuple] = set()
    for run in seeds:
        seed_cells |= _cells_of_events(run)
    settings = ExpandSettings(variations_per_seed=a.variations)

    t0 = time.perf_counter()
    accepted = 0
    tried: Counter = Counter()
    ok: Counter = Counter()
    reasons: Counter = Counter()
    cells: set[tuple] = set(seed_cells)
    with get_context("fork").Pool(a.workers, _init, (settings.model_dump_json(),)) as pool:
        for n, t, acc, why, c in pool.imap_unordered(_expand, seeds, chunksize=16):
            accepted += n
            tried.update(t)
            ok.update(acc)
            reasons.update(why)
            cells |= c
    expand_s = time.perf_counter() - t0
    peak_mib = (
        max(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        )
        / 1024
    )

    candidates = a.seeds * a.variations
    print(f"seeds {a.seeds}, candidates {candidates}, workers {a.workers}")
    print(f"simulator baseline: {a.seeds / sim_s:,.0f} runs/s (1 core)")
    print(
        f"expansion: {accepted:,} accepted in {expand_s:.1f}s = {accepted / expand_s:,.0f} "
        f"accepted runs/s (goal >= 2,000); acceptance {accepted / max(1, candidates):.1%}"
    )
    print(
        f"ratio accepted runs/s / simulated runs/s: {(accepted / expand_s) / (a.seeds / sim_s):.2f}"
    )
    for name in sorted(tried):
        print(f"  {name:<22} acceptance {ok[name] / tried[name]:.1%} of {tried[name]:,}")
    print("rejected by check: " + ", ".join(f"{k} {v:,}" for k, v in reasons.most_common()))
    print(
        f"coverage cells (pattern x level x version x fault): seeds {len(seed_cells)}, "
        f"seeds + variations {len(cells)}"
    )
    kept, judged = _yield_after_curation(seeds[: a.yield_seeds], settings)
    print(
        f"yield after curation (the first {a.yield_seeds} seeds and their accepted variations, "
        f"assembled and deduplicated as gold + curate_examples do): {kept:,} of {judged:,} "
        f"examples kept ({kept / max(1, judged):.1%})"
    )
    print(f"peak memory (largest process): {peak_mib:,.0f} MiB")


if __name__ == "__main__":
    main()
