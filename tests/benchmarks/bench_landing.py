"""Benchmark: the S3 landing pickup's listing cost with 1x and 10x the landed history.

    python tests/benchmarks/bench_landing.py [--history 200] [--increment 100]

Starts the SeaweedFS test server (tests/s3server.py), lands `history` objects (time-ordered
keys) and records them in the ledger, then lands `increment` new objects and times one pickup:
objects listed, pickup seconds. The same again with 10x the history in a fresh bucket. Prints
both and the ratios (10x / 1x); the listed-objects ratio is the figure that matters (1.0: the
listing grows with the increment, not the history). A full reconcile's listing is printed for
contrast. Figures, not assertions: the tests assert the listing counts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path[:0] = [str(HERE.parents[1])]


def _land(fs, prefix: str, start: int, count: int) -> None:
    for i in range(start, start + count):
        with fs.open_output_stream(f"{prefix}/2026/03/01/{i:08d}.jsonl") as out:
            out.write(f"{i}\n".encode())


def _measure(server, history: int, increment: int) -> dict[str, float]:
    from tracelake.jobs.context import JobContext
    from tracelake.jobs.landing import LandingZone
    from tracelake.jobs.settings import S3Settings, Settings

    bucket = server.create_bucket(f"bench-{uuid.uuid4().hex[:10]}")
    settings = Settings(
        lake_root=f"s3://{bucket}/lake",
        landing=f"s3://{bucket}/landing",
        s3=S3Settings(
            endpoint_url=server.endpoint,
            access_key_id=server.access_key,
            secret_access_key=server.secret_key,
            region="us-east-1",
        ),
    )
    zone = LandingZone(JobContext.create(settings))
    fs = server.filesystem()
    prefix = f"{bucket}/landing"
    _land(fs, prefix, 0, history)
    first = zone.pending(watermark_lag_s=0)
    zone.mark_consumed(first.pending, "history", first.watermark)
    _land(fs, prefix, history, increment)
    t0 = time.perf_counter()
    pickup = zone.pending(watermark_lag_s=0)
    seconds = time.perf_counter() - t0
    assert len(pickup.pending) == increment
    full = zone.pending(full=True, watermark_lag_s=0)
    return {"listed": pickup.listed, "seconds": seconds, "full_listed": full.listed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=200)
    parser.add_argument("--increment", type=int, default=100)
    args, _ = parser.parse_known_args()
    from s3server import S3Server

    server = S3Server(Path(tempfile.mkdtemp(prefix="bench-landing-"))).start()
    try:
        one = _measure(server, args.history, args.increment)
        ten = _measure(server, 10 * args.history, args.increment)
    finally:
        server.stop()
    for name, m in (("1x", one), ("10x", ten)):
        print(
            f"history {name}: listed {m['listed']:.0f} objects in {m['seconds']:.3f} s "
            f"(a full reconcile lists {m['full_listed']:.0f})"
        )
    print(
        f"ratio 10x/1x: listed {ten['listed'] / one['listed']:.2f}, "
        f"pickup time {ten['seconds'] / one['seconds']:.2f}"
    )


if __name__ == "__main__":
    main()
