"""Gold assembly throughput: runs -> training examples (or rejections), on N worker processes.

    .venv/bin/python tests/benchmarks/bench_gold.py [--runs 100000] [--distinct 2000]
        [--workers 2] [--seed 3]

The runs are verified synthetic variations (scenario expansion of simulated seeds) plus the
simulated seeds themselves; `--distinct` of them are generated and then cycled under new run ids
up to `--runs`. Prints assembled runs/s (target: >= 5,000 on 2 cores), examples vs rejections by
reason, and the peak memory of the largest process (target <= 4 GiB). Baseline in the same
process: parsing each run's events (sorting them and loading every JSON field), the least any
assembly must do, so the ratio says what the rules cost on top of reading.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import time
from collections import Counter
from multiprocessing import get_context

from tracelake.jobs.expand.expander import expand_run
from tracelake.jobs.gold.assemble import RunFacts, assemble
from tracelake.jobs.settings import ExpandSettings
from tracelake.jobs.simulate.runs import generate_runs

_RUNS: list[tuple[list[dict], RunFacts]] = []


def _corpus(distinct: int, seed: int) -> list[tuple[list[dict], RunFacts]]:
    settings = ExpandSettings(variations_per_seed=5, seed=seed)
    out: list[tuple[list[dict], RunFacts]] = []
    for run in generate_runs(seed, max(1, distinct // 5)):
        out.append((run, RunFacts()))
        if run[-1]["event_type"] not in ("run_completed", "run_failed"):
            continue
        for events, row in expand_run(run, settings).accepted:
            facts = RunFacts(
                synthetic=True, seed_run_id=row["seed_run_id"], lineage_goal=run[0].get("goal")
            )
            out.append((events, facts))
        if len(out) >= distinct:
            break
    return out[:distinct]


def _init(corpus: list[tuple[list[dict], RunFacts]]) -> None:
    global _RUNS
    _RUNS = corpus


def _assemble(bounds: tuple[int, int]) -> tuple[Counter, int]:
    counts: Counter = Counter()
    for i in range(*bounds):
        events, facts = _RUNS[i % len(_RUNS)]
        renamed = [dict(e, run_id=f"{e['run_id']}~{i}") for e in events]
        out = assemble(renamed, facts)
        counts["example" if out.example else out.rejected["reason_code"]] += 1
    return counts, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _baseline(corpus: list[tuple[list[dict], RunFacts]], n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        events, _ = corpus[i % len(corpus)]
        for e in sorted(events, key=lambda e: (e["seq"], e["ts"], e["event_id"])):
            for key in ("input", "output", "state_change"):
                if e.get(key):
                    with contextlib.suppress(json.JSONDecodeError):  # free text: a learning
                        json.loads(e[key])
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--distinct", type=int, default=2_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()

    t0 = time.perf_counter()
    corpus = _corpus(args.distinct, args.seed)
    print(f"corpus: {len(corpus)} distinct runs in {time.perf_counter() - t0:.1f}s")
    baseline = _baseline(corpus, min(args.runs, 20_000))

    chunk = 500
    bounds = [(a, min(a + chunk, args.runs)) for a in range(0, args.runs, chunk)]
    counts: Counter = Counter()
    peak_kib = 0
    start = time.perf_counter()
    with get_context("fork").Pool(args.workers, _init, (corpus,)) as pool:
        for c, rss in pool.imap_unordered(_assemble, bounds):
            counts.update(c)
            peak_kib = max(peak_kib, rss)
    elapsed = time.perf_counter() - start
    rate = args.runs / elapsed
    peak_kib = max(peak_kib, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    print(
        json.dumps(
            {
                "runs": args.runs,
                "workers": args.workers,
                "seconds": round(elapsed, 2),
                "runs_per_s": round(rate),
                "target_runs_per_s": 5000,
                "baseline_parse_runs_per_s_1_process": round(baseline),
                "ratio_assembly_per_worker_to_parse": round(rate / args.workers / baseline, 3),
                "outcomes": dict(counts.most_common()),
                "peak_rss_mib": round(peak_kib / 1024),
                "target_peak_mib": 4096,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
