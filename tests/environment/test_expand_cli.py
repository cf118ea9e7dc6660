"""`tracelake expand` as a user runs it: one-line errors before any work, non-zero exits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TRACELAKE = str(Path(sys.executable).with_name("tracelake"))


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACELAKE_", "AWS_"))}
    full_env.update(env or {})
    full_env["COLUMNS"] = "200"
    return subprocess.run(
        [TRACELAKE, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    ("args", "env", "fragment"),
    [
        (["expand", "--show", "--runs", "r1"], {}, "silver.runs does not exist yet"),
        (
            ["expand", "--show", "--runs", "r1"],
            {"TRACELAKE_EXPAND__LLM_ENDPOINT": "http://127.0.0.1:9/v1"},
            "llm_endpoint",
        ),
        (["expand", "--show"], {}, "needs at least one --runs"),
        (["expand", "--runs", "r1"], {}, "--runs needs --show"),
    ],
)
def test_expand_errors_are_one_line(tmp_path, args, env, fragment):
    proc = run_cli(*args, cwd=tmp_path, env=env)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    text = " ".join(line.strip() for line in proc.stderr.strip().splitlines())
    assert text.startswith("error:") and fragment in text, text
