"""Two processes over gloo on the CPU through the trainer's own launcher: DeepSpeed ZeRO-2 (the
default) and ZeRO-3, whose checkpoint is gathered from both ranks, loaded strictly into a fresh
model, saved, reloaded and compared."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tracelake.trainer.launch import train_command


@pytest.mark.slow
@pytest.mark.parametrize("stage", [2, 3])
def test_two_process_zero_over_gloo(exports, tmp_path: Path, stage: int) -> None:
    out = tmp_path / f"zero{stage}"
    command = train_command(
        exports["sft"],
        "sft",
        overrides=[
            f"output_dir={out}",
            "steps=3",
            "micro_batches=2",
            "pack_capacity=512",
            "max_length=512",
            f"zero_stage={stage}",
            "log_every=1",
        ],
        nproc=2,
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=480)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((out / "run_record.json").read_text())
    assert record["world_size"] == 2 and record["steps"] == 3
    assert record["options"]["zero_stage"] == stage and record["reload_check"]["ok"]
    assert record["loss_last"] == record["loss_last"]  # finite, not NaN
