"""Two processes, DeepSpeed ZeRO-2 over gloo on the CPU, through the trainer's own launcher."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tracelake.trainer.launch import train_command


@pytest.mark.slow
def test_two_process_zero2_over_gloo(exports, tmp_path: Path) -> None:
    out = tmp_path / "zero2"
    command = train_command(
        exports["sft"],
        "sft",
        overrides=[
            f"output_dir={out}",
            "steps=3",
            "micro_batches=2",
            "pack_capacity=512",
            "max_length=512",
            "zero_stage=2",
            "log_every=1",
        ],
        nproc=2,
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=480)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((out / "run_record.json").read_text())
    assert record["world_size"] == 2 and record["steps"] == 3
    assert record["options"]["zero_stage"] == 2 and record["reload_check"]["ok"]
    assert record["loss_last"] == record["loss_last"]  # finite, not NaN
