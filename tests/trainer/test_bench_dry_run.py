"""bench_train.py runs end to end at toy size on the CPU (the GPU figures need a GPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_train.py"


def run_script(script: Path, *args: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=300,
    ).stdout


def test_bench_train_dry_run() -> None:
    out = run_script(BENCH, "--dry-run")
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    cases = {line["case"]: line for line in lines[1:]}
    assert set(cases) == {"toy:packed", "toy:sdpa", "toy-hybrid:packed"}, lines
    for case in cases.values():
        assert "error" not in case, case
        assert case["real_tokens_per_s"] > 0 and case["padding_pct"] == 0
        assert case["ratio_packed_vs_padded"] > 0 and case["mfu_vs_989"] is not None
    # The packed attention's own exactness check, in float32 on the CPU.
    assert cases["toy:packed"]["packed_vs_alone_rel"] <= 1e-5
    assert cases["toy-hybrid:packed"]["training"].startswith("hybrid")


@pytest.mark.parametrize("recipe", ["sft", "grpo"])
def test_gpu_trainer_smoke_runs_on_the_cpu_too(recipe: str) -> None:
    """The script that checks the trainer's own recipes on a GPU machine runs end to end here
    (every model option on auto, so float32 and SDPA on a CPU) and reports a passing check."""
    out = run_script(BENCH.with_name("gpu_trainer_smoke.py"), "--recipe", recipe, "--steps", "2")
    report = json.loads(out.strip().splitlines()[-1])
    assert report["recipe"] == recipe and report["device"] == "cpu"
    assert report["attention"] == "sdpa" and report["reload_check"]["ok"]
    if recipe == "sft":
        assert report["loss_last"] < report["loss_first"]


def test_eval_study_runs_end_to_end_at_toy_size() -> None:
    """The CPU study of docs/evaluation.md (make bench) at toy size: two trained variants with
    invented-value tasks, the untrained initialisation, replay and the oracle, one held-out task
    per level; its table has every policy and the oracle completes every level."""
    out = run_script(
        BENCH.with_name("bench_eval_study.py"),
        *("--steps", "2", "--train-tasks", "6", "--invented-tasks", "3"),
        *("--tasks-per-level", "1", "--variants", "full,no_synthetic_variations"),
    )
    header = next(line for line in out.splitlines() if line.startswith("policy"))
    columns = header.split()[1:]
    assert columns[-4:] == ["valid", "first", "wrong", "calls"]
    rows = {}
    for line in out.splitlines()[out.splitlines().index(header) + 1 :]:
        if line.startswith(" "):  # the variants' losses follow the table
            break
        name, *values = line.split()
        rows[name] = values
    assert set(rows) == {"full", "no_synthetic_variations", "untrained_init", "replay", "oracle"}
    oracle = dict(zip(["L1C", "L1SC", "L2C", "L2SC", "L3C", "L3SC"], rows["oracle"], strict=False))
    assert oracle["L1C"] == oracle["L2C"] == oracle["L3C"] == "1.00"
    assert "tool schemas not in the prompt" in out
