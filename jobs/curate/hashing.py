"""Exact content hashes of a batch's trajectory texts, in other processes while the caller goes on.

The hash's normalisation is regex-bound (Python's `re` holds the GIL), so threads would not
overlap it with the MinHash signatures; worker processes do. They are plain interpreters running
this module (`python -m`), not multiprocessing children: those re-import the caller's `__main__`,
which may be a script that is not import-safe or a host's task runner.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable

import orjson

from .text import content_hash

# (content hash, None), or ("", the error) for a text whose hash raised.
HashOrError = tuple[str, str | None]


def hashes_or_errors(texts: list[str]) -> list[HashOrError]:
    out: list[HashOrError] = []
    for text in texts:
        try:
            out.append((content_hash(text), None))
        except Exception as exc:  # one bad row must not fail the batch
            out.append(("", f"{type(exc).__name__}: {exc}"))
    return out


class _Worker:
    """One worker process hashing one chunk; `result` waits for it."""

    def __init__(self, texts: list[str]) -> None:
        self._texts = texts
        self._output = b""
        self._process: subprocess.Popen[bytes] | None = None
        try:  # text a worker cannot be sent (lone surrogates) is hashed here, by `result`
            payload = orjson.dumps(texts)
        except orjson.JSONEncodeError:
            return
        self._process = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        # communicate() in a thread: it waits on pipes (no GIL held) while the caller works.
        self._thread = threading.Thread(target=self._talk, args=(payload,), daemon=True)
        self._thread.start()

    def _talk(self, payload: bytes) -> None:
        assert self._process is not None
        self._output, _ = self._process.communicate(payload)

    def result(self) -> list[HashOrError]:
        if self._process is not None:
            self._thread.join()
            if self._process.returncode == 0:
                return [(digest, error) for digest, error in orjson.loads(self._output)]
        # A worker that could not run costs time, not correctness: hash here instead.
        return hashes_or_errors(self._texts)

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()


def hash_in_background(
    texts: list[str], workers: int, parallel_from: int
) -> Callable[[], list[HashOrError]]:
    """Start hashing `texts` and return the function that waits for the hashes, in input order:
    in `workers - 1` worker processes for a batch of at least `parallel_from` texts, inline
    otherwise (starting interpreters costs more than it saves on a few hundred texts)."""
    helpers = workers - 1
    if helpers < 1 or len(texts) < parallel_from:
        return lambda: hashes_or_errors(texts)
    size = -(-len(texts) // helpers)
    started = [_Worker(texts[i : i + size]) for i in range(0, len(texts), size)]

    def wait() -> list[HashOrError]:
        try:
            return [pair for worker in started for pair in worker.result()]
        finally:
            for worker in started:
                worker.kill()

    return wait


if __name__ == "__main__":
    sys.stdout.buffer.write(orjson.dumps(hashes_or_errors(orjson.loads(sys.stdin.buffer.read()))))
