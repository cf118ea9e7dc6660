"""bench_train.py runs end to end at toy size on the CPU (the GPU figures need a GPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_train.py"


def test_bench_train_dry_run() -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, str(BENCH), "--dry-run"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=300,
    ).stdout
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    case = lines[-1]
    assert case["case"] == "toy" and case["real_tokens_per_s"] > 0
    assert case["padding_pct"] == 0 and case["ratio_packed_vs_padded"] > 0
    assert case["mfu_vs_989"] is not None
