"""Benchmark: `tracelake export` against Hugging Face `datasets` and datatrove, Parquet shards.

    python tests/benchmarks/bench_export.py [--gb 0.5 | --rows N] [--pad 2000] [--shard-mb 64]
        [--sides ours,hf,datatrove] [--repeat 1] [--lake DIR] [--workers 2]

Builds a local lake with gold.examples rows (conversations + `pad` characters of goal text:
20,000 distinct rows, repeated with new ids up to `--gb` GB of Arrow data or `--rows` rows, one
Delta file per 20,000 rows; `--lake DIR` keeps it there and reuses it), then runs each side in
a fresh process (so peak RSS is its own):
  - ours: `export_dataset(ctx, "sft")`: the pinned Delta files streamed by record batches, one
    writer thread per split, byte-sized shards, sha256, manifest;
  - hf: the table read the same way (in memory), then `Dataset(table).shard(n, i).to_parquet(...)`
    per split with n = the shard count ours chose (HF sizes shards by count, not bytes);
  - datatrove: `ParquetReader` (goal as text, example_id as id, every other column as metadata)
    -> `ParquetWriter(max_file_size=shard size, output_filename="${split}/${rank}.parquet",
    expand_metadata=True)` under `LocalPipelineExecutor` with `--workers` tasks and workers
    (its default snappy compression and content-defined chunking).
Prints, per side: wall time, input MB/s (Arrow bytes of the input / wall time), CPU seconds
(user + sys of the process and its workers: less sensitive to a shared machine than wall time),
peak RSS (the largest process), and the spread of shard sizes (all but each split's last,
relative to the target); then the throughput ratios ours/hf and ours/datatrove and the goal
(>= 150 MB/s of input and faster than both). The load average is printed with each run. Nothing
here asserts a time: the numbers are for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_MB_S = 150.0
HERE = Path(__file__).resolve()
BLOCK = 5000  # rows per generated block
DISTINCT = 4  # distinct blocks (20,000 distinct rows), then repeated with new ids
FILE_ROWS = BLOCK * DISTINCT  # rows per Delta file


def _build(lake_dir: Path, rows: int | None, gb: float, pad: int) -> tuple[int, int]:
    """Write gold.examples (unless `lake_dir` already holds it); returns (rows, Arrow bytes)."""
    sys.path[:0] = [str(HERE.parents[1] / "export"), str(HERE.parents[1])]
    import pyarrow as pa
    from conftest import example_rows  # tests/export/conftest.py

    from tracelake.jobs.context import JobContext
    from tracelake.jobs.lake import catalog
    from tracelake.jobs.settings import Settings

    spec = catalog.get("gold.examples")
    stamp = lake_dir / "bench-input.json"
    if stamp.exists():
        held = json.loads(stamp.read_text())
        return int(held["rows"]), int(held["bytes"])
    ctx = JobContext.create(Settings(lake_root=str(lake_dir), export_root=str(lake_dir) + "-x"))
    blocks = [
        pa.Table.from_pylist(example_rows(BLOCK, seed=s, pad=pad), schema=spec.schema)
        for s in range(DISTINCT)
    ]
    base = pa.concat_tables(blocks).combine_chunks()
    total = rows if rows else max(1, int(gb * 1e9 / (base.nbytes / base.num_rows)))
    written = nbytes = 0
    ids = base.schema.get_field_index("example_id"), base.schema.get_field_index("run_id")
    while written < total:
        part = base.slice(0, min(FILE_ROWS, total - written))
        n = part.num_rows
        part = part.set_column(
            ids[0], "example_id", pa.array([f"ex-{written + i:09d}" for i in range(n)])
        )
        part = part.set_column(
            ids[1], "run_id", pa.array([f"run-{written + i:09d}" for i in range(n)])
        )
        ctx.lake.append(spec, part)
        written += n
        nbytes += part.nbytes
    stamp.write_text(json.dumps({"rows": written, "bytes": nbytes, "pad": pad}))
    return written, nbytes


def _own_usage() -> tuple[float, float]:
    """(CPU seconds, peak RSS MB) of this process itself (its workers are sampled by the parent:
    datatrove's pool workers are not this process's waited-for children)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec, so a child would report
    # the benchmark parent's peak (the lake it built) when that is higher than its own.
    status = Path("/proc/self/status")
    peak = own.ru_maxrss / 1024
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return own.ru_utime + own.ru_stime, peak


def _sizes_under(folder: Path) -> dict[str, list[int]]:
    sizes: dict[str, list[int]] = {}
    for path in sorted(folder.rglob("*.parquet")):
        sizes.setdefault(path.relative_to(folder).parts[0], []).append(path.stat().st_size)
    return sizes


def _ours(ctx, out_dir: str) -> dict[str, list[int]]:
    from tracelake.jobs.export.job import export_dataset
    from tracelake.schemas.manifest import read_manifest

    outcome = export_dataset(ctx, "sft", to=out_dir)
    manifest = read_manifest(outcome.manifest)
    return {s: [x.bytes for x in e.shards] for s, e in manifest.splits.items()}


def _hf(ctx, out_dir: str, counts: dict[str, int]) -> dict[str, list[int]]:
    import pyarrow.compute as pc
    from datasets import Dataset

    from tracelake.jobs.lake import catalog

    spec = catalog.get("gold.examples")
    table = ctx.lake.read(spec, version=ctx.lake.version(spec))
    sizes: dict[str, list[int]] = {}
    for split, n in counts.items():
        # A given fingerprint: without one, datasets hashes the table, which pickles it with
        # its columns combined, and fails past 2 GB of one string column (the 5 GB input).
        part = Dataset(table.filter(pc.equal(table["split"], split)), fingerprint=f"bench-{split}")
        folder = Path(out_dir) / split
        folder.mkdir(parents=True, exist_ok=True)
        sizes[split] = []
        for i in range(n):
            path = folder / f"{split}-{i:05d}-of-{n:05d}.parquet"
            part.shard(num_shards=n, index=i, contiguous=True).to_parquet(str(path))
            sizes[split].append(path.stat().st_size)
    return sizes


def _datatrove(lake_dir: str, out_dir: str, shard_bytes: int, workers: int) -> dict[str, list[int]]:
    import pyarrow as pa
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import ParquetWriter

    from tracelake.jobs.lake import catalog

    # The writer's schema, given: inferred from the first document it breaks on a later batch
    # (an empty list's type). Text and id first, the other columns as expanded metadata.
    spec = catalog.get("gold.examples").schema
    fields = [pa.field("text", pa.string()), pa.field("id", pa.string())]
    fields += [f for f in spec if f.name not in ("goal", "example_id")]
    schema = pa.schema([*fields, pa.field("file_path", pa.string())])
    # The benchmark's lake is append-only: every Parquet file of the table is in its version.
    executor = LocalPipelineExecutor(
        pipeline=[
            ParquetReader(
                f"{lake_dir}/gold/examples",
                glob_pattern="*.parquet",
                recursive=False,
                text_key="goal",
                id_key="example_id",
            ),
            ParquetWriter(
                out_dir,
                output_filename="${split}/${rank}.parquet",
                max_file_size=shard_bytes,
                expand_metadata=True,
                schema=schema,
            ),
        ],
        tasks=workers,
        workers=workers,
        logging_dir=f"{out_dir}-logs",
        skip_completed=False,
    )
    executor.run()
    return _sizes_under(Path(out_dir))


def _child(mode: str, lake_dir: str, out_dir: str, shard_bytes: int, extra: str) -> None:
    import pandas  # noqa: F401 - imported by every side (pyarrow, datasets): not timed

    from tracelake.jobs.context import JobContext
    from tracelake.jobs.settings import Settings

    settings = Settings(lake_root=lake_dir, export_root=out_dir)
    settings.export.shard_bytes = shard_bytes
    ctx = JobContext.create(settings)
    if mode == "hf":
        import datasets  # noqa: F401 - its import is not timed
    elif mode == "datatrove":
        import datatrove.executor  # noqa: F401
    cpu0 = _own_usage()[0]
    start = time.perf_counter()
    if mode == "ours":
        sizes = _ours(ctx, out_dir)
    elif mode == "hf":
        sizes = _hf(ctx, out_dir, json.loads(extra))
    else:
        sizes = _datatrove(lake_dir, out_dir, shard_bytes, int(extra))
    wall = time.perf_counter() - start
    cpu, peak = _own_usage()
    print(json.dumps({"wall_s": wall, "cpu_s": cpu - cpu0, "peak_mb": peak, "sizes": sizes}))


def _run(mode: str, lake: Path, out: Path, shard_bytes: int, extra: str) -> dict | None:
    import psutil  # the train extra's (accelerate's) dependency, like datasets and datatrove

    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(f"{out}-logs", ignore_errors=True)
    load = os.getloadavg()[0]
    argv = [sys.executable, str(HERE), "--child", mode, str(lake), str(out), str(shard_bytes)]
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        proc = subprocess.Popen([*argv, extra], stdout=stdout, stderr=stderr, text=True)
        # Worker processes (datatrove's pool): CPU and RSS sampled every 50 ms.
        cpu: dict[int, float] = {}
        rss: dict[int, int] = {}
        while proc.poll() is None:
            try:
                workers = psutil.Process(proc.pid).children(recursive=True)
            except psutil.Error:
                workers = []
            for worker in workers:
                try:
                    times = worker.cpu_times()
                    cpu[worker.pid] = times.user + times.system
                    rss[worker.pid] = max(rss.get(worker.pid, 0), worker.memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(0.05)
        stdout.seek(0)
        stderr.seek(0)
        if proc.returncode != 0:
            error = stderr.read().strip().splitlines() or [f"exit status {proc.returncode}"]
            print(f"  {mode} failed: {error[-1][:300]}", flush=True)
            return None
        result = json.loads(stdout.read().strip().splitlines()[-1])
    result["cpu_s"] += sum(cpu.values())
    result["peak_mb"] = max([result["peak_mb"], *(r / 2**20 for r in rss.values())])
    result["load"] = load
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(f"{out}-logs", ignore_errors=True)
    return result


def _spread(sizes: dict[str, list[int]], target: int) -> str:
    full = [s for v in sizes.values() for s in v[:-1]]
    if not full:
        return "n/a (one shard per split)"
    lo, hi = min(full) / target - 1, max(full) / target - 1
    return f"{lo:+.1%} .. {hi:+.1%} of target over {len(full)} shards"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(*sys.argv[2:5], int(sys.argv[5]), sys.argv[6])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, default=0.5, help="GB of Arrow input (default 0.5)")
    parser.add_argument("--rows", type=int, default=None, help="rows of input (instead of --gb)")
    parser.add_argument("--pad", type=int, default=2000)
    parser.add_argument("--shard-mb", type=float, default=64)
    parser.add_argument("--sides", default="ours,hf,datatrove")
    parser.add_argument("--repeat", type=int, default=1, help="runs of every side, one lake")
    parser.add_argument("--workers", type=int, default=2, help="datatrove's tasks and workers")
    parser.add_argument("--lake", default=None, help="build (or reuse) the input lake here")
    args = parser.parse_args()
    sides = [s for s in args.sides.split(",") if s]
    shard_bytes = int(args.shard_mb * 1024 * 1024)
    tmp = Path(tempfile.mkdtemp(prefix="bench-export-"))
    try:
        lake = Path(args.lake) if args.lake else tmp / "lake"
        started = time.perf_counter()
        rows, nbytes = _build(lake, args.rows, args.gb, args.pad)
        mb = nbytes / 1e6
        print(
            f"input: {rows} rows, {mb:.1f} MB (Arrow), {FILE_ROWS} rows per Delta file "
            f"(built or reused in {time.perf_counter() - started:.0f} s); shard target "
            f"{args.shard_mb} MiB; {os.cpu_count()} CPUs"
        )
        for run in range(args.repeat):
            ours = _run("ours", lake, tmp / "ours", shard_bytes, "")
            if ours is None:
                raise SystemExit("ours failed")
            results = {"ours": ours}
            counts = {s: len(v) for s, v in ours["sizes"].items()}
            others = {
                "hf": ("hf", json.dumps(counts)),
                "datatrove": ("dt", str(args.workers)),
            }
            for side, (folder, extra) in others.items():
                if side in sides:
                    result = _run(side, lake, tmp / folder, shard_bytes, extra)
                    if result is not None:
                        results[side] = result
            print(f"run {run + 1}:")
            for name, r in results.items():
                print(
                    f"  {name:10s} {r['wall_s']:7.2f} s {mb / r['wall_s']:7.1f} MB/s  "
                    f"cpu {r['cpu_s']:7.2f} s  peak RSS {r['peak_mb']:6.0f} MB  "
                    f"shards {sum(map(len, r['sizes'].values())):3d}  "
                    f"sizes {_spread(r['sizes'], shard_bytes)}  (load {r['load']:.1f})"
                )
            ratios = {
                other: results[other]["wall_s"] / ours["wall_s"]
                for other in ("hf", "datatrove")
                if other in results
            }
            for other, ratio in ratios.items():
                print(f"  ratio ours/{other} throughput: {ratio:.2f}")
            rate = mb / ours["wall_s"]
            faster = "n/a" if not ratios else "yes" if min(ratios.values()) > 1 else "no"
            print(
                f"  goal >= {GOAL_MB_S:.0f} MB/s: {'met' if rate >= GOAL_MB_S else 'not met'} "
                f"({rate:.1f}); faster than the others run: {faster}"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
