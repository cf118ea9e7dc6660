"""Benchmark: scrubbing throughput (MB of free text per second), one process and two.

    python tests/benchmarks/bench_scrub.py [--runs 2000] [--leak-rate 0.01] [--processes 2]

Builds an Arrow table of simulated events (`--runs` runs, seed 42) with a secret or a piece of
personal data planted in `--leak-rate` of them (the seeded corpus of tests/scrubcorpus.py), then
times, best of 3 after a warm-up:

  baseline   the scrubber one would write first: one Python regex per detector run over every
             text value (the detectors' own expressions, no prefilter)
  scrub      `scrub_table` (column prefilter over the Arrow buffers, detectors on flagged texts)
  parallel   `scrub_table` over `--processes` slices at once (what Spark's Python workers do)

Prints MB/s of text (every scrubbed column, attribute values included) and the ratios, by wall
clock and by CPU time of the process (what one core delivers, whatever else the machine runs;
batches are independent, so 2 cores give twice that). Goal (issue 10): >= 20 MB/s on 2 cores.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scrubcorpus import planted_corpus

from tracelake.jobs.silver.scrub.batch import scrub_table
from tracelake.jobs.silver.scrub.detectors import DETECTORS
from tracelake.jobs.silver.scrub.scrubber import (
    JSON_COLUMNS,
    MAP_COLUMNS,
    SCRUBBED_COLUMNS,
    TEXT_COLUMNS,
)
from tracelake.jobs.simulate.runs import generate_runs
from tracelake.schemas.agent_event import AgentEvent
from tracelake.schemas.arrow import EVENT_SCHEMA

TARGET_MB_S = 20.0


def build_table(runs: int, leak_rate: float) -> pa.Table:
    rng = random.Random(42)
    leaks = planted_corpus(seed=42, per_shape=2)
    events = []
    for run in generate_runs(42, runs):
        for raw in run:
            event = AgentEvent.model_validate(raw).model_dump()
            if rng.random() < leak_rate:
                leak = rng.choice(leaks).event
                for column in SCRUBBED_COLUMNS:
                    if column in leak:
                        event[column] = leak[column]
            event["attributes"] = list((event.get("attributes") or {}).items())
            events.append(event)
    return pa.Table.from_pylist(events, schema=EVENT_SCHEMA)


def text_bytes(table: pa.Table) -> int:
    total = 0
    for column in (*TEXT_COLUMNS, *JSON_COLUMNS):
        total += pc.sum(pc.binary_length(table[column])).as_py() or 0
    for column in MAP_COLUMNS:
        items = table[column].combine_chunks().items
        total += pc.sum(pc.binary_length(items)).as_py() or 0
    return total


def baseline(table: pa.Table) -> int:
    """Every detector's regex over every text value, in Python: the naive scrubber."""
    found = 0
    texts = [t for c in (*TEXT_COLUMNS, *JSON_COLUMNS) for t in table[c].to_pylist() if t]
    for column in MAP_COLUMNS:
        texts += [v for m in table[column].to_pylist() if m for _, v in m if v]
    for text in texts:
        for det in DETECTORS:
            found += sum(1 for _ in det.pattern.finditer(text))
    return found


def _scrub_slice(table: pa.Table) -> int:
    return len(scrub_table(table)[1])


def best_of(fn, *args, repeat: int = 3, clock=time.perf_counter) -> float:
    fn(*args)  # warm-up: imports, regex caches, page faults
    times = []
    for _ in range(repeat):
        t0 = clock()
        fn(*args)
        times.append(clock() - t0)
    return min(times)


def parallel(table: pa.Table, pool: ProcessPoolExecutor, processes: int) -> int:
    step = -(-table.num_rows // processes)
    slices = [table.slice(i, step) for i in range(0, table.num_rows, step)]
    return sum(pool.map(_scrub_slice, slices))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--leak-rate", type=float, default=0.01)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()

    table = build_table(args.runs, args.leak_rate)
    mb = text_bytes(table) / 1e6
    print(f"corpus: {table.num_rows} events, {mb:.1f} MB of text, leak rate {args.leak_rate}")
    base = best_of(baseline, table, repeat=1)
    one = best_of(_scrub_slice, table)
    # CPU seconds of this process: what one core delivers, whatever else the machine runs.
    base_cpu = best_of(baseline, table, repeat=1, clock=time.process_time)
    one_cpu = best_of(_scrub_slice, table, clock=time.process_time)
    with ProcessPoolExecutor(args.processes) as pool:
        both = best_of(parallel, table, pool, args.processes)
    print(
        f"per CPU second: baseline {mb / base_cpu:.1f} MB/s, scrub {mb / one_cpu:.1f} MB/s "
        f"({base_cpu / one_cpu:.1f}x); 2 cores at that rate: {2 * mb / one_cpu:.1f} MB/s"
    )
    print(f"baseline (regex per detector per text): {mb / base:8.1f} MB/s")
    print(f"scrub, 1 process:                       {mb / one:8.1f} MB/s  ({base / one:.1f}x)")
    print(
        f"scrub, {args.processes} processes:                     {mb / both:8.1f} MB/s  "
        f"({base / both:.1f}x; goal >= {TARGET_MB_S:.0f} MB/s on 2 cores)"
    )


if __name__ == "__main__":
    main()
