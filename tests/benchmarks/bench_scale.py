"""Bronze at scale (issue 19): does an ingest cost grow with the new data or with the lake?

    .venv/bin/python tests/benchmarks/bench_scale.py [--sizes 0,1000000,10000000]
        [--increment 10000] [--duplicate-share 0.1] [--part increment,collector]
        [--key-index on,off] [--repeats 5] [--exporters 8] [--seconds 20]

Part `increment`: lakes of each size in `--sizes` are filled with simulated canonical events
(the ingest benchmark's simulator, ingested chunk by chunk as `tracelake ingest` does). Then the
same increment goes into each: `--increment` events, `--duplicate-share` of them exact copies
of events the lake already holds (sampled uniformly from its history), the rest new. Each
increment is ingested by a fresh process (as a scheduled `tracelake ingest` is): its wall time
(from the job's start, imports excluded) and its peak RSS, `--repeats` times per lake with the
sizes interleaved (a single 0.5 s run swings by 0.2 s on a shared machine). Goal: the largest
lake within 1.2x of the empty one, in time and in peak RSS, comparing medians. Filling builds
the deduplication index (bronze.event_keys) as ingest does, then merges its files as
`tracelake maintain` does; `--key-index on,off` also times each increment with the index off
(every stored id read).

Part `collector`: `--exporters` threads post one-span OTLP/JSON requests back to back to a
collector for `--seconds`, once with a commit per micro-batch (flush every 0.2 s) and once with
micro-batches grouped into one commit every 2 s: commits per minute (bronze.events versions
added) and the acknowledgement latency (p50, p99) each exporter saw.

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_ingest import simulate

CHUNK_EVENTS = 1_000_000
GOAL_RATIO = 1.2


# -- part 1: one increment into lakes of growing size ------------------------------------------


def _ingest(lake: Path, files: list[Path]) -> None:
    from tracelake.jobs.context import JobContext
    from tracelake.jobs.ingest import job as ingest_job
    from tracelake.jobs.settings import Settings

    ctx = JobContext.create(Settings(lake_root=str(lake)))
    result = ingest_job.run(ctx, [str(f) for f in files])
    if result.status not in ("succeeded", "noop"):
        sys.exit(f"filling {lake} failed: {result.status} {result.error}")


def _merge_index(lake: Path) -> str:
    """Merge the index's small files (one per ingest commit) as maintenance does."""
    from tracelake.jobs import maintain
    from tracelake.jobs.context import JobContext
    from tracelake.jobs.lake import catalog
    from tracelake.jobs.settings import Settings

    ctx = JobContext.create(Settings(lake_root=str(lake)))
    maintain.run(ctx, [catalog.BRONZE_EVENT_KEYS.qualified_name], vacuum=False)
    files = ctx.lake.files(catalog.BRONZE_EVENT_KEYS)
    return f"{sum(f.num_records for f in files):,} keys in {len(files)} file(s)"


def _lines(files: list[Path]) -> list[bytes]:
    out: list[bytes] = []
    for f in files:
        out += f.read_bytes().splitlines()
    return out


def _fill(
    root: Path, sizes: list[int], seed: int
) -> tuple[dict[int, Path], dict[int, list[bytes]]]:
    """Lakes of each size (the smaller ones a prefix of the larger), and for each a uniform
    sample of the raw lines it holds (the duplicates of its increment come from there)."""
    lakes = {size: root / f"lake-{size}" for size in sizes}
    samples: dict[int, list[bytes]] = {size: [] for size in sizes}
    rng = random.Random(seed)
    filled = 0
    chunk = 0
    largest = max(sizes)
    # Chunks no larger than the smallest lake, so that each lake holds about its size.
    chunk_events = min([CHUNK_EVENTS] + [s for s in sizes if s])
    while filled < largest:
        part = min(chunk_events, largest - filled)
        n, _, _, files = simulate(root / f"chunk-{chunk}", part, seed + chunk)
        lines = _lines(files)
        picked = rng.sample(lines, min(len(lines), 5_000))
        for size, lake in lakes.items():
            if filled < size:
                _ingest(lake, files)
                # Weighted by the chunk's share of this lake's history.
                samples[size] += picked[: max(1, len(picked) * n // size)]
        shutil.rmtree(root / f"chunk-{chunk}")
        filled += n
        chunk += 1
        print(f"  filled {filled:,} events", flush=True)
    for size in sizes:
        lakes[size].mkdir(parents=True, exist_ok=True)
        if size:
            print(f"  lake of {size:,} events: index {_merge_index(lakes[size])}", flush=True)
    return lakes, samples


_CHILD = """
import json, resource, sys, time
from tracelake.jobs.context import JobContext
from tracelake.jobs.ingest import job as ingest_job
from tracelake.jobs.settings import Settings
ctx = JobContext.create(Settings(lake_root=sys.argv[1]))
profile = sys.argv[3] if len(sys.argv) > 3 else ""
t0 = time.perf_counter()
if profile:
    import cProfile
    profiler = cProfile.Profile()
    result = profiler.runcall(ingest_job.run, ctx, [sys.argv[2]])
    profiler.dump_stats(profile)
else:
    result = ingest_job.run(ctx, [sys.argv[2]])
seconds = time.perf_counter() - t0
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec, so this child would report
# the filling parent's peak instead of its own.
rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        rss_mib = int(line.split()[1]) / 1024
print(json.dumps({"seconds": seconds, "rss_mib": rss_mib, "stored": result.rows_out,
                  "duplicates": result.rows_duplicate, "status": result.status}))
"""


def _increment_run(lake: Path, increment: Path, key_index: bool, profile: str = "") -> dict:
    # A copy of the lake per run, so that every run ingests the increment into the same lake.
    copy = lake.with_name(lake.name + "-run")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(lake, copy)
    env = {**os.environ, "TRACELAKE_INGEST__KEY_INDEX": "true" if key_index else "false"}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(copy), str(increment), profile],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    shutil.rmtree(copy)
    return json.loads(out.stdout.strip().splitlines()[-1])


def part_increment(args: argparse.Namespace, root: Path) -> None:
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    print(f"filling lakes of {', '.join(f'{s:,}' for s in sizes)} events ...", flush=True)
    t0 = time.perf_counter()
    marker = root / "filled.json"
    wanted = {"sizes": sizes, "seed": args.seed}
    if marker.exists() and json.loads(marker.read_text()) == wanted:  # --workdir kept them
        lakes = {size: root / f"lake-{size}" for size in sizes}
        samples = {
            size: [bytes.fromhex(h) for h in json.loads((root / f"sample-{size}.json").read_text())]
            for size in sizes
        }
        print("  reusing the lakes of an earlier run in --workdir")
    else:
        lakes, samples = _fill(root, sizes, args.seed)
        for size, picked in samples.items():
            (root / f"sample-{size}.json").write_text(json.dumps([b.hex() for b in picked]))
        marker.write_text(json.dumps(wanted))
    print(f"  done in {time.perf_counter() - t0:.0f} s")

    # The new part of the increment: events no lake holds (another simulator seed).
    n_dup = int(args.increment * args.duplicate_share)
    shutil.rmtree(root / "new", ignore_errors=True)  # a --workdir of an earlier run
    _, _, _, files = simulate(root / "new", args.increment - n_dup + 1, args.seed + 10_000)
    new_lines = _lines(files)[: args.increment - n_dup + 1]
    # An empty lake's first ingest also creates its tables: seed it with one event beforehand,
    # so that what is timed everywhere is the increment alone.
    seed_event = root / "seed-event.jsonl"
    seed_event.write_bytes(new_lines.pop() + b"\n")
    for size in sizes:
        if size == 0:
            _ingest(lakes[size], [seed_event])
    any_sample = next(s for s in samples.values() if s)
    rng = random.Random(args.seed)
    print(
        f"\nincrement: {len(new_lines):,} new events + {n_dup:,} copies of events the lake holds "
        "(the empty lake: the same copies, new to it; it holds one event, so its tables "
        "exist); one fresh process each"
    )
    modes = [m == "on" for m in args.key_index.split(",")]
    print(
        f"{'key index':>9} {'lake events':>12} {'seconds':>8} {'peak RSS':>10} {'stored':>8} "
        f"{'duplicates':>10}"
    )
    increments = {}
    for size in sizes:
        pool = samples[size] or any_sample
        dups = rng.sample(pool, n_dup) if len(pool) >= n_dup else rng.choices(pool, k=n_dup)
        increments[size] = root / f"increment-{size}.jsonl"
        increments[size].write_bytes(b"\n".join(new_lines + dups) + b"\n")
    for key_index in modes:
        # Runs interleaved (every size once, then again): a slow moment of a shared machine
        # then lands on all sizes alike, and the medians compare like with like.
        runs: dict[int, list[dict]] = {size: [] for size in sizes}
        for repeat in range(args.repeats):
            for size in sizes:
                profile = ""
                if args.profile and size == sizes[-1] and repeat == 0:
                    profile = str(
                        Path(args.profile).with_suffix(f".{'on' if key_index else 'off'}.prof")
                    )
                run = _increment_run(lakes[size], increments[size], key_index, profile)
                runs[size].append(run)
                if profile:
                    print(f"  (profile of this run: {profile})")
                print(
                    f"{'on' if key_index else 'off':>9} {size:>12,} {run['seconds']:>8.2f} "
                    f"{run['rss_mib']:>8.0f} MiB {run['stored']:>8,} {run['duplicates']:>10,}",
                    flush=True,
                )
        figures = {
            size: {
                "seconds": statistics.median(r["seconds"] for r in runs[size]),
                "rss_mib": statistics.median(r["rss_mib"] for r in runs[size]),
            }
            for size in sizes
        }
        if args.repeats > 1:
            for size in sizes:
                print(
                    f"   median {size:>12,} {figures[size]['seconds']:>8.2f} "
                    f"{figures[size]['rss_mib']:>8.0f} MiB"
                )
        small, large = figures[sizes[0]], figures[sizes[-1]]
        t_ratio = large["seconds"] / small["seconds"]
        m_ratio = large["rss_mib"] / small["rss_mib"]
        verdict = "met" if max(t_ratio, m_ratio) <= GOAL_RATIO else "not met"
        print(
            f"key index {'on' if key_index else 'off'}: {sizes[-1]:,}-event lake vs "
            f"{sizes[0]:,}: time {t_ratio:.2f}x, peak RSS {m_ratio:.2f}x, medians of "
            f"{args.repeats} (goal <= {GOAL_RATIO}x each: {verdict})\n"
        )


# -- part 2: the collector's commits and acknowledgements --------------------------------------


def _request_body(trace: str, first_span: int, spans: int) -> bytes:
    start = 1_767_225_600_000_000_000 + first_span * 1_000_000
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": "bench"}}]
                    },
                    "scopeSpans": [
                        {
                            "scope": {"name": "bench"},
                            "spans": [
                                {
                                    "traceId": trace,
                                    "spanId": f"{first_span + i:016x}",
                                    "parentSpanId": "b7ad6b7169203331",
                                    "name": "execute_tool lookup",
                                    "kind": 1,
                                    "startTimeUnixNano": str(start + i * 1_000_000),
                                    "endTimeUnixNano": str(start + i * 1_000_000 + 5_000_000),
                                    "attributes": [
                                        {
                                            "key": "gen_ai.operation.name",
                                            "value": {"stringValue": "execute_tool"},
                                        },
                                        {
                                            "key": "gen_ai.tool.name",
                                            "value": {"stringValue": "lookup"},
                                        },
                                    ],
                                }
                                for i in range(spans)
                            ],
                        }
                    ],
                }
            ]
        }
    ).encode()


def _collector_run(args: argparse.Namespace, root: Path, commit_interval: float) -> dict:
    from tracelake.jobs.collect import serve
    from tracelake.jobs.context import JobContext
    from tracelake.jobs.lake import catalog
    from tracelake.jobs.settings import Settings

    ctx = JobContext.create(Settings(lake_root=str(root / f"collector-{commit_interval}")))
    stop, ready, urls = threading.Event(), threading.Event(), []
    server = threading.Thread(
        target=serve,
        args=(ctx,),
        kwargs=dict(
            port=0,
            ready=ready,
            stop=stop,
            on_listening=urls.append,
            flush_interval_s=args.flush_interval,
            max_batch_events=args.max_batch_events,
            commit_interval_s=commit_interval,
        ),
    )
    server.start()
    if not ready.wait(60) or not urls:
        sys.exit("the collector did not start")
    url = urls[0].rstrip("/")
    url = url if url.endswith("/v1/traces") else url + "/v1/traces"
    before = ctx.lake.version(catalog.BRONZE_EVENTS) or 0
    exporters, spans = args.exporters, args.spans_per_request
    latencies: list[list[float]] = [[] for _ in range(exporters)]
    failures: list[list[str]] = [[] for _ in range(exporters)]
    deadline = time.perf_counter() + args.seconds

    def exporter(k: int) -> None:
        trace = f"{k + 1:032x}"
        sent = 0
        while time.perf_counter() < deadline:
            request = urllib.request.Request(
                url, _request_body(trace, sent + 1, spans), {"Content-Type": "application/json"}
            )
            sent += spans
            t0 = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:
                    answer.read()
                latencies[k].append(time.perf_counter() - t0)
            except urllib.error.HTTPError as exc:  # 503: the collector pushed back
                failures[k].append(str(exc.code))
            except OSError as exc:
                failures[k].append(type(exc).__name__)

    t_start = time.perf_counter()
    threads = [threading.Thread(target=exporter, args=(k,)) for k in range(exporters)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t_start
    commits = (ctx.lake.version(catalog.BRONZE_EVENTS) or 0) - before
    stop.set()
    server.join(60)
    flat = sorted(x for per in latencies for x in per)
    return {
        "spans_per_s": len(flat) * spans / elapsed,
        "requests": len(flat),
        "failures": Counter(f for per in failures for f in per),
        "commits_per_min": commits / elapsed * 60,
        "p50_ms": statistics.median(flat) * 1000 if flat else float("nan"),
        "p99_ms": flat[int(0.99 * (len(flat) - 1))] * 1000 if flat else float("nan"),
    }


def part_collector(args: argparse.Namespace, root: Path) -> None:
    print(
        f"\ncollector: {args.exporters} exporters posting {args.spans_per_request}-span requests "
        f"back to back for {args.seconds:.0f} s; flush interval {args.flush_interval} s, "
        f"micro-batches of up to {args.max_batch_events:,} events"
    )
    print(f"{'commits':<34} {'spans/s':>8} {'commits/min':>12} {'p50 ms':>8} {'p99 ms':>8}")
    for label, interval in (
        ("one per micro-batch", 0.0),
        (f"grouped (--commit-interval {args.commit_interval:g})", args.commit_interval),
    ):
        r = _collector_run(args, root, interval)
        print(
            f"{label:<34} {r['spans_per_s']:>8,.0f} {r['commits_per_min']:>12.0f} "
            f"{r['p50_ms']:>8.0f} {r['p99_ms']:>8.0f}"
            + (f"  (failed: {dict(r['failures'])})" if r["failures"] else ""),
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="0,1000000,10000000")
    ap.add_argument("--increment", type=int, default=10_000)
    ap.add_argument("--duplicate-share", type=float, default=0.1)
    ap.add_argument("--part", default="increment,collector")
    ap.add_argument("--key-index", default="on", help="on, off or on,off (the index setting)")
    ap.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="increment runs per lake, interleaved across sizes; the ratios compare medians",
    )
    ap.add_argument("--exporters", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--spans-per-request", type=int, default=256)
    ap.add_argument("--flush-interval", type=float, default=1.0)
    ap.add_argument("--max-batch-events", type=int, default=500)
    ap.add_argument("--commit-interval", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--workdir",
        help="keep the filled lakes here and reuse them when sizes and seed match (default: a "
        "temporary directory, removed at the end)",
    )
    ap.add_argument(
        "--profile", help="cProfile the largest lake's increment into this path (.on/.off.prof)"
    )
    args = ap.parse_args()
    parts = set(args.part.split(","))
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        root = Path(args.workdir) if args.workdir else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        if "increment" in parts:
            part_increment(args, root)
        if "collector" in parts:
            part_collector(args, Path(tmp))
    print(f"(load average at the end: {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
