"""`tracelake report` before anything was built: a one-line error that says what to run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TRACELAKE = str(Path(sys.executable).with_name("tracelake"))


def test_report_without_lineage_tables_says_to_build_first(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACELAKE_", "AWS_"))}
    env.update(TRACELAKE_LAKE_ROOT=str(tmp_path / "lake"), COLUMNS="200")
    proc = subprocess.run(
        [TRACELAKE, "report"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    text = " ".join(line.strip() for line in proc.stderr.strip().splitlines())
    assert text.startswith("error:") and "no lineage tables yet" in text, proc.stderr
    assert "tracelake build" in text
