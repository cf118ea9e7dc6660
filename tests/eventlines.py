"""Helpers to write canonical event JSONL in tests."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import zstandard


def event(i: int, run: str = "run-1", **overrides: Any) -> dict[str, Any]:
    base = {
        "event_id": f"{run}-e{i}",
        "run_id": run,
        "seq": i,
        "ts": f"2026-03-0{1 + i % 3}T12:00:{i % 60:02d}.000001Z",
        "source": "test",
        "event_type": "tool_call" if i else "run_started",
        "component_name": "WebFetcherTool",
        "component_kind": "tool",
        "attributes": {"i": str(i)},
    }
    base.update(overrides)
    return base


def write_lines(
    path: Path, lines: list[bytes | dict[str, Any]], compress: str | None = None
) -> Path:
    data = b"\n".join(orjson.dumps(x) if isinstance(x, dict) else x for x in lines) + b"\n"
    if compress == "gz":
        data = gzip.compress(data)
    elif compress == "zst":
        data = zstandard.ZstdCompressor().compress(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
