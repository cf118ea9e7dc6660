"""Benchmark: `tracelake export` against Hugging Face `datasets` writing the same shards.

    python tests/benchmarks/bench_export.py [--rows 20000] [--pad 2000] [--shard-mb 8]

Builds a local lake with gold.examples rows (conversations + `pad` characters of goal text),
then, each in a fresh process (so peak RSS is its own):
  - ours: `export_dataset(ctx, "sft")` (delta-rs read at a pinned version, sort, byte-sized
    shards, sha256, manifest);
  - hf: the same table read the same way, then `Dataset(table).shard(n, i).to_parquet(...)` per
    split with n = the shard count ours chose (HF sizes shards by count, not bytes).
Prints input MB/s (Arrow bytes of the table / wall time), peak RSS, the spread of shard sizes
(all but each split's last, relative to the target) and the throughput ratio ours / hf.
Target: ratio >= 0.8 (we hash and size every shard on top of writing it).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 0.8
HERE = Path(__file__).resolve()


def _build(lake_dir: Path, rows: int, pad: int) -> None:
    sys.path[:0] = [str(HERE.parents[1] / "export"), str(HERE.parents[1])]
    from conftest import append, example_rows  # tests/export/conftest.py

    from tracelake.jobs.context import JobContext
    from tracelake.jobs.settings import Settings

    ctx = JobContext.create(Settings(lake_root=str(lake_dir), export_root=str(lake_dir) + "-x"))
    for start in range(0, rows, 5000):
        batch = example_rows(min(5000, rows - start), seed=start, pad=pad)
        for i, row in enumerate(batch):
            row["example_id"] = f"ex-{start + i:08d}"
        append(ctx, "gold.examples", batch)


def _child(mode: str, lake_dir: str, out_dir: str, shard_bytes: int, shards: str) -> None:
    import pyarrow.compute as pc

    from tracelake.jobs.context import JobContext
    from tracelake.jobs.lake import catalog
    from tracelake.jobs.settings import Settings

    settings = Settings(lake_root=lake_dir, export_root=out_dir)
    settings.export.shard_bytes = shard_bytes
    ctx = JobContext.create(settings)
    spec = catalog.get("gold.examples")
    start = time.perf_counter()
    if mode == "ours":
        from tracelake.jobs.export.job import export_dataset
        from tracelake.schemas.manifest import read_manifest

        outcome = export_dataset(ctx, "sft")
        manifest = read_manifest(outcome.manifest)
        sizes = {s: [x.bytes for x in e.shards] for s, e in manifest.splits.items()}
    else:
        from datasets import Dataset

        table = ctx.lake.read(spec, version=ctx.lake.version(spec))
        counts = json.loads(shards)
        sizes = {}
        for split, n in counts.items():
            part = Dataset(table.filter(pc.equal(table["split"], split)))
            folder = Path(out_dir) / split
            folder.mkdir(parents=True, exist_ok=True)
            sizes[split] = []
            for i in range(n):
                path = folder / f"{split}-{i:05d}-of-{n:05d}.parquet"
                part.shard(num_shards=n, index=i, contiguous=True).to_parquet(str(path))
                sizes[split].append(path.stat().st_size)
    wall = time.perf_counter() - start
    input_bytes = ctx.lake.read(spec).nbytes
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps({"wall_s": wall, "input_bytes": input_bytes, "peak_mb": peak_mb, "sizes": sizes})
    )


def _run(mode: str, lake: Path, out: Path, shard_bytes: int, shards: dict) -> dict:
    proc = subprocess.run(
        [
            sys.executable,
            str(HERE),
            "--child",
            mode,
            str(lake),
            str(out),
            str(shard_bytes),
            json.dumps(shards),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


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
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--pad", type=int, default=2000)
    parser.add_argument("--shard-mb", type=float, default=8)
    args = parser.parse_args()
    shard_bytes = int(args.shard_mb * 1024 * 1024)
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        lake = Path(tmp) / "lake"
        _build(lake, args.rows, args.pad)
        ours = _run("ours", lake, Path(tmp) / "ours", shard_bytes, {})
        counts = {s: len(v) for s, v in ours["sizes"].items()}
        hf = _run("hf", lake, Path(tmp) / "hf", shard_bytes, counts)
    mb = ours["input_bytes"] / 1e6
    print(f"input: {args.rows} rows, {mb:.1f} MB (Arrow); shard target {args.shard_mb} MiB")
    for name, r in (("ours", ours), ("hf datasets", hf)):
        print(
            f"{name:12s} {r['wall_s']:6.2f} s  {mb / r['wall_s']:7.1f} MB/s  "
            f"peak RSS {r['peak_mb']:6.0f} MB  shards {sum(map(len, r['sizes'].values()))}  "
            f"sizes {_spread(r['sizes'], shard_bytes)}"
        )
    ratio = hf["wall_s"] / ours["wall_s"]
    print(f"ratio ours/hf throughput: {ratio:.2f} (target >= {TARGET_RATIO})")


if __name__ == "__main__":
    main()
