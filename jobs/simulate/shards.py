"""Write runs into numbered JSONL shards (`events-00000.jsonl`, ...) so ingest can read them in
parallel. Each shard appears under its final name only once complete (hidden temp file, then
rename), and ingest skips hidden files, so a reader never sees half a shard."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

SHARD_PREFIX = "events-"
SHARD_SUFFIX = ".jsonl"


def shard_name(index: int) -> str:
    return f"{SHARD_PREFIX}{index:05d}{SHARD_SUFFIX}"


def existing_shards(out: Path) -> list[Path]:
    return sorted(out.glob(f"{SHARD_PREFIX}*{SHARD_SUFFIX}"))


class ShardWriter:
    """Writes runs in order; `write_run(lines, shard)` starts a new file whenever the shard
    number moves on (shard numbers never go back)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.files: list[str] = []
        self.bytes_written = 0
        self._handle: BinaryIO | None = None
        self._tmp: Path | None = None

    def write_run(self, lines: list[bytes], shard: int) -> None:
        if self._handle is None or shard != len(self.files) - 1:
            self._close()
            self._open(shard)
        assert self._handle is not None
        data = b"\n".join(lines) + b"\n"
        self._handle.write(data)
        self.bytes_written += len(data)

    def _open(self, index: int) -> None:
        if index != len(self.files):
            raise ValueError(f"shard {index} after {len(self.files)} shards: shards go in order")
        name = shard_name(index)
        self._tmp = self.out / f".{name}.tmp"
        self._handle = open(self._tmp, "wb", buffering=1 << 20)  # noqa: SIM115 (closed in _close)
        self.files.append(name)

    def _close(self) -> None:
        if self._handle is None or self._tmp is None:
            return
        self._handle.close()
        os.replace(self._tmp, self.out / self.files[-1])
        self._handle = self._tmp = None

    def close(self) -> None:
        self._close()

    def abort(self) -> None:
        """Drop the shard in progress (completed shards stay: each is whole)."""
        if self._handle is not None and self._tmp is not None:
            self._handle.close()
            self._tmp.unlink(missing_ok=True)
            self._handle = self._tmp = None
