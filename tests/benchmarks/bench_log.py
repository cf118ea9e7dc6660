"""Delta log costs of bronze.events under many small commits (issue 19; docs/scaling.md).

1. Simulates about --events canonical events (the ingest benchmark's simulator) and ingests
   them into a fresh lake: JSON bytes and bronze Parquet bytes per event.
2. Into a second lake, commits --commits slices of --per-commit of those events exactly as an
   ingest or collector commit does (`Lake.stage` + `Lake.commit_files` with a per-batch app
   transaction and the writers' fence): JSON commit bytes per commit and per add action.
3. Checkpoints it and splits the checkpoint's bytes by action (add, txn, remove, ...) from the
   Parquet column-chunk sizes: bytes per add action and per app transaction.
4. Compacts (delta-rs `optimize.compact`) and checkpoints again: the bytes of the remove
   tombstones a checkpoint keeps for `delta.deletedFileRetentionDuration` (7 days).
5. Times opening the table (log replay): after the commits (delta-rs checkpoints by itself
   every 100 commits) and from a checkpoint of the last version.

Sizes are exact; times are wall clock on whatever machine runs it (printed, never asserted).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from bench_ingest import simulate

from tracelake.jobs.context import JobContext
from tracelake.jobs.ingest import job as ingest_job
from tracelake.jobs.ingest.model import stable_id
from tracelake.jobs.ingest.writer import BronzeWriter
from tracelake.jobs.lake import catalog
from tracelake.jobs.settings import Settings

EVENTS = catalog.BRONZE_EVENTS


def _ctx(root: Path) -> JobContext:
    return JobContext.create(Settings(lake_root=str(root)))


def _checkpoint_bytes(log: Path) -> tuple[int, dict[str, int], dict[str, int]]:
    """(file bytes, compressed bytes by top-level action, rows holding each action)."""
    (path,) = sorted(log.glob("*.checkpoint.parquet"))[-1:]
    meta = pq.ParquetFile(path).metadata
    by_action: dict[str, int] = defaultdict(int)
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            column = group.column(c)
            by_action[column.path_in_schema.split(".")[0]] += column.total_compressed_size
    table = pq.read_table(path)
    rows = {name: table.column(name).drop_null().__len__() for name in table.column_names}
    return path.stat().st_size, dict(by_action), rows


def _open_ms(uri: str, repeat: int = 3) -> float:
    from deltalake import DeltaTable

    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        DeltaTable(uri).version()
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--commits", type=int, default=300)
    ap.add_argument("--per-commit", type=int, default=200)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_log_") as tmp:
        root = Path(tmp)
        n, json_bytes, _, files = simulate(root / "in", args.events, args.seed)
        big = _ctx(root / "lake_big")
        assert ingest_job.run(big, [str(f) for f in files]).rows_out == n
        stored = big.lake.files(EVENTS)
        parquet_bytes = sum(f.size_bytes for f in stored)
        print(f"events: {n:,}; JSON {json_bytes / n:.0f} B/event")
        print(
            f"bronze Parquet after one ingest: {parquet_bytes / n:.0f} B/event "
            f"({len(stored)} files, {parquet_bytes / len(stored) / 2**20:.1f} MiB each)"
        )

        events = big.lake.read(EVENTS)
        small = _ctx(root / "lake_small")
        lake = small.lake
        need = args.commits * args.per_commit
        if need > events.num_rows:
            sys.exit(f"--commits x --per-commit = {need:,} > {events.num_rows:,} events")
        adds = 0
        for i in range(args.commits):
            part = events.slice(i * args.per_commit, args.per_commit)
            staged = lake.stage(EVENTS)
            staged.write(part)
            written = staged.close()
            adds += len(written)
            table = lake.ensure(EVENTS)
            fence = BronzeWriter.WRITER_FENCE
            version = lake.commit_files(
                EVENTS,
                written,
                app_txn=(f"ingest-{stable_id('bench', i)}", 1),  # hash-like, as ingest's
                metadata={"job": "ingest", "batch_id": f"bench-{i}"},
                fence=(fence, (table.transaction_version(fence) or 0) + 1),
            )
            assert version is not None
        log = Path(lake.uri(EVENTS)) / "_delta_log"
        commits = sorted(log.glob("*.json"))[1:]  # version 0 creates the table
        json_log = sum(p.stat().st_size for p in commits)
        print(
            f"{len(commits)} commits of {args.per_commit} events, {adds} add actions: "
            f"{json_log / len(commits):.0f} B per JSON commit, "
            f"{json_log / adds:.0f} B per add (with its commitInfo and 2 txn)"
        )
        # delta-rs writes a checkpoint itself every `delta.checkpointInterval` (100) commits,
        # so opening replays at most that many JSON commits on top of the last checkpoint.
        auto = sorted(log.glob("*.checkpoint.parquet"))
        since = len(commits) - (int(auto[-1].name.split(".")[0]) if auto else 0)
        replay_json = _open_ms(lake.uri(EVENTS))

        table = lake.table(EVENTS)
        assert table is not None
        table.create_checkpoint()
        size, by_action, rows = _checkpoint_bytes(log)
        print(f"checkpoint: {size:,} B; by action (compressed column chunks): {by_action}")
        print(
            f"  per add action: {by_action.get('add', 0) / max(rows.get('add', 1), 1):.0f} B "
            f"({rows.get('add', 0)} adds); per app transaction: "
            f"{by_action.get('txn', 0) / max(rows.get('txn', 1), 1):.0f} B ({rows.get('txn', 0)})"
        )
        replay_ckpt = _open_ms(lake.uri(EVENTS))

        table.optimize.compact()
        table = lake.table(EVENTS)
        assert table is not None
        table.create_checkpoint()
        size2, by_action2, rows2 = _checkpoint_bytes(log)
        print(
            f"after compaction: {len(table.file_uris())} files; checkpoint {size2:,} B; "
            f"per remove tombstone: "
            f"{by_action2.get('remove', 0) / max(rows2.get('remove', 1), 1):.0f} B "
            f"({rows2.get('remove', 0)} removes)"
        )
        print(
            f"open (log replay), best of 3: {replay_json:.0f} ms with {len(auto)} automatic "
            f"checkpoint(s) and {since} JSON commit(s) after the last; {replay_ckpt:.0f} ms "
            f"from a checkpoint of the last version"
        )


if __name__ == "__main__":
    main()
