"""The simulate job: simulated LLM-OS runs -> canonical JSONL shards in a directory.

Steps, in order (each consumes the previous one's stream of runs):
  GenerateRuns     World + random.Random(seed) -> event dicts per run (runs.py), with exact
                   and near copies planted at the given rates (plant.py; default none)
  Tally            outcome and level counts, progress
  SerializeEvents  one orjson line per event
  CorruptLines     damage a share of the lines (only with corrupt_rate > 0)
  WriteShards      events-00000.jsonl, ... (`files` of them; default one per 5000 runs),
                   then a hidden `.simulation.json` describing what was written
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from ..context import JobContext, JobResult, Progress, recorded_job_run
from ..errors import InvalidSimulationError, OutputNotEmptyError
from .corrupt import CORRUPTION_KINDS, Corruptor
from .plant import DUPLICATE_KIND, plant_duplicates
from .runs import SIMULATOR_VERSION, Event, generate_runs
from .shards import ShardWriter, existing_shards

JOB_NAME = "simulate"
DEFAULT_RUNS_PER_FILE = 5000
MANIFEST_NAME = ".simulation.json"
_PROGRESS_EVERY = 250

Lines = tuple[list[Event], list[bytes]]


class GenerateRuns:
    def __init__(self, seed: int, runs: int, exact_rate: float = 0.0, near_rate: float = 0.0):
        self.seed, self.runs = seed, runs
        self.exact_rate, self.near_rate = exact_rate, near_rate

    def run(self) -> Iterator[list[Event]]:
        if not self.exact_rate and not self.near_rate:
            return generate_runs(self.seed, self.runs)
        return plant_duplicates(
            generate_runs(self.seed, None), self.runs, self.seed, self.exact_rate, self.near_rate
        )


class Tally:
    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.runs = 0
        self.events = 0
        self.outcomes: Counter[str] = Counter()
        self.levels: Counter[str] = Counter()
        self.planted: Counter[str] = Counter()

    def run(self, runs: Iterable[list[Event]]) -> Iterator[list[Event]]:
        pending = 0
        for events in runs:
            self.runs += 1
            self.events += len(events)
            self.outcomes[events[-1]["event_type"]] += 1
            self.levels[events[0]["scenario_level"]] += 1
            kind = (events[0].get("attributes") or {}).get(DUPLICATE_KIND)
            if kind:
                self.planted[kind] += 1
            pending += 1
            if pending == _PROGRESS_EVERY:
                self.progress.advance(pending)
                pending = 0
            yield events
        self.progress.advance(pending)


class SerializeEvents:
    def run(self, runs: Iterable[list[Event]]) -> Iterator[Lines]:
        dumps = orjson.dumps
        for events in runs:
            yield events, [dumps(e) for e in events]


class CorruptLines:
    def __init__(self, seed: int, rate: float) -> None:
        self.corruptor = Corruptor(seed, rate)

    def run(self, items: Iterable[Lines]) -> Iterator[Lines]:
        if self.corruptor.rate <= 0:
            yield from items
            return
        for events, lines in items:
            self.corruptor.apply(events, lines)
            yield events, lines


class WriteShards:
    """Spreads `runs` runs over `files` shards as evenly as possible, in run order."""

    def __init__(self, out: Path, runs: int, files: int) -> None:
        self.writer = ShardWriter(out)
        self.runs, self.files = runs, files
        self.lines = 0

    def run(self, items: Iterable[Lines]) -> None:
        try:
            for index, (_events, lines) in enumerate(items):
                self.writer.write_run(lines, index * self.files // self.runs)
                self.lines += len(lines)
        except BaseException:
            self.writer.abort()
            raise
        self.writer.close()


def _validate(
    runs: int, seed: int, corrupt_rate: float, files: int | None, exact: float, near: float
) -> None:
    if runs < 1:
        raise InvalidSimulationError(f"--runs must be at least 1, got {runs}")
    if seed < 0:
        raise InvalidSimulationError(f"--seed must be 0 or more, got {seed}")
    if not 0.0 <= corrupt_rate <= 1.0:
        raise InvalidSimulationError(
            f"--corrupt-rate is a fraction of lines between 0 and 1, got {corrupt_rate}"
        )
    if exact < 0 or near < 0 or exact + near > 1:
        raise InvalidSimulationError(
            f"--exact-duplicate-rate and --near-duplicate-rate are fractions of runs, each >= 0 "
            f"and together <= 1, got {exact} and {near}"
        )
    if files is not None and not 1 <= files <= runs:
        raise InvalidSimulationError(f"--files must be between 1 and --runs ({runs}), got {files}")


def _prepare_out(out: str, overwrite: bool) -> Path:
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise InvalidSimulationError(f"--out {out!r} is a file; give a directory")
    path.mkdir(parents=True, exist_ok=True)
    old = existing_shards(path)
    if old and not overwrite:
        raise OutputNotEmptyError(
            f"{path} already holds {len(old)} simulator file(s) ({old[0].name}, ...); "
            "choose an empty directory or pass --overwrite to replace them"
        )
    for shard in old:
        shard.unlink()
    return path


def run(
    ctx: JobContext,
    runs: int,
    seed: int,
    out: str,
    corrupt_rate: float = 0.0,
    files: int | None = None,
    overwrite: bool = False,
    exact_duplicate_rate: float = 0.0,
    near_duplicate_rate: float = 0.0,
) -> JobResult:
    """Simulate `runs` LLM-OS runs into `out` as canonical JSONL shards.

    The same seed gives the same bytes. `files` fixes the number of shards (default: one per
    5000 runs, rounded up). `corrupt_rate` damages that fraction of lines (see corrupt.py);
    `result.details["corrupted"]` counts each kind. `exact_duplicate_rate` / `near_duplicate_rate`
    plant copies of runs (plant.py: the truth in each copy's run_started attributes); they count
    towards `runs` and `result.details["planted"]` counts each kind."""
    params: dict[str, Any] = {
        "runs": runs,
        "seed": seed,
        "out": out,
        "corrupt_rate": corrupt_rate,
        "files": files,
        "exact_duplicate_rate": exact_duplicate_rate,
        "near_duplicate_rate": near_duplicate_rate,
    }
    _validate(runs, seed, corrupt_rate, files, exact_duplicate_rate, near_duplicate_rate)
    with recorded_job_run(ctx, JOB_NAME, params) as result:
        path = _prepare_out(out, overwrite)
        n_files = files or math.ceil(runs / DEFAULT_RUNS_PER_FILE)
        tally = Tally(ctx.progress)
        corrupt = CorruptLines(seed, corrupt_rate)
        write = WriteShards(path, runs, n_files)

        t0 = time.perf_counter()
        ctx.progress.start(f"simulate {runs} runs", runs)
        try:
            stream = GenerateRuns(seed, runs, exact_duplicate_rate, near_duplicate_rate).run()
            write.run(corrupt.run(SerializeEvents().run(tally.run(stream))))
        finally:
            ctx.progress.finish()
        seconds = time.perf_counter() - t0

        counts = {kind: corrupt.corruptor.counts.get(kind, 0) for kind in CORRUPTION_KINDS}
        details: dict[str, Any] = {
            "out": str(path.resolve()),
            "files": write.writer.files,
            "runs": tally.runs,
            "events": tally.events,
            "lines": write.lines,
            "bytes": write.writer.bytes_written,
            "outcomes": dict(sorted(tally.outcomes.items())),
            "levels": dict(sorted(tally.levels.items())),
            "corrupted": counts,
            "corrupted_total": sum(counts.values()),
            "planted": dict(sorted(tally.planted.items())),
            "simulator_version": SIMULATOR_VERSION,
            "seconds": round(seconds, 3),
            "events_per_s": round(tally.events / seconds) if seconds > 0 else None,
        }
        manifest = {k: v for k, v in details.items() if k not in ("out", "seconds", "events_per_s")}
        manifest.update(seed=seed, corrupt_rate=corrupt_rate)
        if exact_duplicate_rate or near_duplicate_rate:  # unplanted manifests stay as they were
            manifest.update(
                exact_duplicate_rate=exact_duplicate_rate, near_duplicate_rate=near_duplicate_rate
            )
        else:
            manifest.pop("planted")
        (path / MANIFEST_NAME).write_bytes(
            orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        )
        result.rows_out = write.lines
        result.details = details
        result.message = (
            f"wrote {tally.runs} runs ({tally.events} events, "
            f"{details['corrupted_total']} lines corrupted) to {len(write.writer.files)} "
            f"file(s) in {path}"
        )
    return result
