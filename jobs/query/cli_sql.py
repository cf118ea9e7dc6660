"""What `tracelake sql` does: one statement, a file of statements, or a REPL; results printed
as a table, CSV or JSON lines; every SQL or output error is one line, never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
from rich.console import Console
from rich.text import Text

from ..context import JobContext
from ..errors import SqlQueryError, TracelakeError
from .output import FORMATS, emit
from .repl import LineReader, repl


def _show(table: pa.Table, fmt: str, out: Console) -> None:
    try:
        emit(table, fmt, out)
    except BrokenPipeError:
        raise
    except (OSError, pa.ArrowException, ValueError, TypeError) as exc:
        raise SqlQueryError(f"cannot print the result as {fmt}: {exc}".splitlines()[0]) from None


def main(
    ctx: JobContext,
    statement: str | None,
    file: str | None,
    fmt: str,
    engine: str | None,
    allow_writes: bool,
    out: Console,
    err: Console,
) -> int:
    from ..sql import open_engine, run_script

    if fmt not in FORMATS:
        raise SqlQueryError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if statement is not None and file is not None:
        raise SqlQueryError("give a statement or --file, not both")
    text = statement
    if file is not None:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SqlQueryError(f"cannot read {file}: {exc.__class__.__name__}: {exc}") from None
    opened = open_engine(ctx, engine, allow_unsafe=allow_writes)
    try:
        if text is not None:
            for _, table in run_script(opened, text):
                _show(table, fmt, out)
            return 0
        interactive = sys.stdin.isatty()
        if interactive:
            err.print(
                Text(f"tracelake sql ({opened.name}); end statements with ; and .quit to leave")
            )

        def report(message: str) -> None:
            err.print(Text("error: ", style="bold red") + Text(message), soft_wrap=True)

        failed = repl(opened.run, LineReader(interactive), lambda t: _show(t, fmt, out), report)
        return 0 if interactive or not failed else 2
    except BrokenPipeError:  # `| head`: the reader left; nothing to report
        return 0
    except TracelakeError:
        raise
    finally:
        opened.close()
