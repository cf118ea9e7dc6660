"""The interactive `tracelake sql` (no query given): statements end with `;`, an error is
reported and the session goes on, `.quit` / `exit` / end of input leaves."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

import pyarrow as pa

from ..errors import TracelakeError
from .statements import split_statements

QUIT = {".quit", ".exit", "quit", "exit", r"\q"}
PROMPT, CONTINUE = "tracelake> ", "      ...> "


class LineReader:
    """Lines typed at a prompt (readline editing) or piped in; `prompt` is what to show next."""

    def __init__(self, interactive: bool) -> None:
        self.interactive = interactive
        self.prompt = PROMPT

    def __iter__(self) -> Iterator[str]:
        if not self.interactive:
            yield from sys.stdin
            return
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401  (line editing and history for input())
        while True:
            try:
                yield input(self.prompt)
            except EOFError:
                return


def repl(
    run: Callable[[str], pa.Table],
    reader: LineReader,
    show: Callable[[pa.Table], None],
    report: Callable[[str], None],
) -> int:
    """Run statements as they are completed; returns the number of failed statements."""

    def execute(text: str) -> int:
        failures = 0
        for statement in split_statements(text):
            try:
                show(run(statement))
            except TracelakeError as exc:
                failures += 1
                report(str(exc))
        return failures

    buffer: list[str] = []
    failed = 0
    for line in reader:
        if not buffer and line.strip().lower() in QUIT:
            break
        buffer.append(line.rstrip("\n"))
        text = "\n".join(buffer)
        if not text.rstrip().endswith(";"):
            reader.prompt = CONTINUE if text.strip() else PROMPT
            continue
        buffer, reader.prompt = [], PROMPT
        failed += execute(text)
    return failed + execute("\n".join(buffer))  # a last statement without `;`
