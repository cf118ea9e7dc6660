"""Run the `tracelake` command as a user does: a real process, a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TRACELAKE = str(Path(sys.executable).with_name("tracelake"))


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACELAKE_", "AWS_"))}
    full_env.update(env or {})
    full_env["COLUMNS"] = "200"
    return subprocess.run(
        [TRACELAKE, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    text = " ".join(line.strip() for line in lines)
    assert text.startswith("error:"), proc.stderr
    for fragment in fragments:
        assert fragment in text, text
