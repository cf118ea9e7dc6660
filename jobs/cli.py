"""The `tracelake` command line. Every command calls a job entry point; none holds logic of its own.

User errors (TracelakeError) print as one line on stderr with a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from .context import JobContext, JobResult
from .errors import TracelakeError
from .settings import load_settings

app = typer.Typer(
    name="tracelake",
    help="Turn AI-agent execution traces into Delta tables, training datasets and better agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


class RichProgress:
    """The Progress protocol as a rich progress bar (bytes when `unit` is bytes)."""

    def __init__(self, console: Console, unit: str = "items") -> None:
        count = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            count,
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task: Any = None

    def start(self, description: str, total: float | None) -> None:
        self._progress.start()
        self._task = self._progress.add_task(description, total=total)

    def advance(self, amount: float = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)

    def finish(self) -> None:
        self._progress.stop()
        self._task = None


def _context(unit: str = "items") -> JobContext:
    return JobContext.create(load_settings(), progress=RichProgress(err, unit))


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn TracelakeError into a one-line message and its exit code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TracelakeError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("interrupted; nothing partial was committed")
            raise typer.Exit(130) from None

    return wrapper


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress lines.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


def _print_result(result: JobResult) -> None:
    colour = {"succeeded": "green", "noop": "yellow", "failed": "red"}.get(result.status, "white")
    out.print(
        f"[{colour}]{result.job}: {result.status}[/] — {result.message or ''}", highlight=False
    )


@app.command()
@user_errors
def simulate(
    out_dir: Annotated[str, typer.Option("--out", help="Directory to write JSONL files to.")],
    runs: Annotated[int, typer.Option(min=1, help="Number of runs to simulate.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same bytes.")] = 0,
    corrupt_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Fraction of lines to corrupt.")
    ] = 0.0,
    files: Annotated[
        int | None, typer.Option(min=1, help="Number of files (default: ~5000 runs each).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace files already in --out.")
    ] = False,
) -> None:
    """Write simulated LLM-OS execution traces as canonical JSONL."""
    from .simulate import job

    result = job.run(
        _context(),
        runs=runs,
        seed=seed,
        out=out_dir,
        corrupt_rate=corrupt_rate,
        files=files,
        overwrite=overwrite,
    )
    _print_result(result)


@app.command()
@user_errors
def ingest(
    paths: Annotated[
        list[str], typer.Argument(help="Files, directories, globs or s3:// prefixes.")
    ],
    format: Annotated[
        str | None, typer.Option("--format", "-f", help="Force a dialect instead of detecting it.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Ingest trace files into bronze.events; bad records go to bronze.quarantine."""
    from .ingest import job

    ctx = _context(unit="bytes")
    result = job.run(ctx, list(paths), format=format)
    if as_json:
        out.print_json(json.dumps(result.to_dict(), default=str))
        return
    _print_result(result)
    per_dialect = result.details.get("per_dialect", {})
    if per_dialect:
        table = Table("dialect", "files", "records", "events", "quarantined", title="per dialect")
        for name, stats in per_dialect.items():
            table.add_row(
                name, *(str(stats[k]) for k in ("files", "records", "events", "quarantined"))
            )
        out.print(table)
    if result.rows_quarantined:
        out.print(
            f"quarantined records: {result.details['quarantine_table']} — inspect with "
            'tracelake sql "SELECT source_uri, source_position, reason FROM bronze_quarantine"',
            highlight=False,
        )


def _file_counts(ctx: JobContext, spec: Any) -> dict[str, Any]:
    from .lake.maintenance import file_stats

    stats = file_stats(ctx.lake, spec, ctx.settings.maintenance.small_file_bytes)
    if stats is None:
        return {"files": 0, "small_files": 0, "small_ratio": 0.0}
    return {
        "files": stats.files,
        "small_files": stats.small_files,
        "small_ratio": round(stats.small_ratio, 3),
    }


def _status(ctx: JobContext, last_runs: int = 10) -> dict[str, Any]:
    from .lake import catalog

    tables = []
    for spec in catalog.all_tables():
        version = ctx.lake.version(spec)
        tables.append(
            {
                "table": spec.qualified_name,
                "uri": ctx.lake.uri(spec),
                "version": version,
                "rows": ctx.lake.count(spec) if version is not None else 0,
                **_file_counts(ctx, spec),
            }
        )
    runs = ctx.lake.read(catalog.OPS_JOB_RUNS).to_pylist()
    runs.sort(key=lambda r: r["started_at"], reverse=True)
    keep = ("job", "status", "started_at", "duration_s", "rows_in", "rows_out", "rows_quarantined")
    return {
        "lake_root": ctx.lake.root,
        "tables": tables,
        "job_runs": [{k: r[k] for k in keep} for r in runs[:last_runs]],
    }


@app.command()
@user_errors
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Each table's version and row count, and the last job runs."""
    report = _status(_context())
    if as_json:
        out.print_json(json.dumps(report, default=str))
        return
    out.print(f"lake: {report['lake_root']}", highlight=False)
    tables = Table("table", "version", "rows", "files", "small", title="tables")
    for t in report["tables"]:
        version = "—" if t["version"] is None else str(t["version"])
        small = f"{t['small_files']} ({t['small_ratio']:.0%})" if t["files"] else "—"
        tables.add_row(t["table"], version, str(t["rows"]), str(t["files"]), small)
    out.print(tables)
    runs = Table(
        "job", "status", "started", "seconds", "in", "out", "quarantined", title="job runs"
    )
    for r in report["job_runs"]:
        runs.add_row(
            r["job"],
            r["status"],
            str(r["started_at"])[:19],
            f"{r['duration_s']:.1f}",
            str(r["rows_in"]),
            str(r["rows_out"]),
            str(r["rows_quarantined"]),
        )
    out.print(runs)


def print_arrow(table: Any, fmt: str = "table", max_rows: int = 50) -> None:
    """Print a pyarrow table as a readable table, CSV or JSON lines (user text never markup)."""
    from .query.output import emit

    emit(table, fmt, out, max_rows)


@app.command()
@user_errors
def sql(
    statement: Annotated[
        str | None,
        typer.Argument(help='e.g. "SELECT * FROM silver.runs LIMIT 5"; none: interactive'),
    ] = None,
    file: Annotated[
        str | None, typer.Option("--file", "-f", help="Run the statements of a .sql file.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
    engine: Annotated[
        str | None, typer.Option("--engine", help="embedded (DuckDB) or spark (Spark SQL)")
    ] = None,
    allow_writes: Annotated[
        bool,
        typer.Option(
            "--allow-writes", help="Operators only: lift the read-only guard of tracelake sql."
        ),
    ] = False,
) -> None:
    """SQL over the lake: tables as bronze.events, silver.runs, ... (or bronze_events)."""
    from .query import cli_sql

    raise typer.Exit(cli_sql.main(_context(), statement, file, fmt, engine, allow_writes, out, err))


@app.command()
@user_errors
def build() -> None:
    """Run the derived-table jobs incrementally (only what bronze added since last time)."""
    from . import build as build_job

    _print_result(build_job.run(_context()))


@app.command()
@user_errors
def rebuild() -> None:
    """Recompute every derived table from bronze."""
    from . import build as build_job

    _print_result(build_job.rebuild(_context()))


@app.command()
@user_errors
def collect(
    port: Annotated[int, typer.Option(help="OTLP/HTTP port (0: any free port).")] = 4318,
    host: Annotated[str, typer.Option(help="Bind address (loopback by default).")] = "127.0.0.1",
    flush_interval: Annotated[
        float, typer.Option(min=0.01, help="Seconds between micro-batch commits.")
    ] = 1.0,
    max_batch_events: Annotated[int, typer.Option(min=1, help="Events per micro-batch.")] = 10_000,
    max_body_bytes: Annotated[
        int, typer.Option(min=1024, help="Largest accepted request body (413 above).")
    ] = 20 * 1024 * 1024,
) -> None:
    """Receive OpenTelemetry spans over OTLP/HTTP (/v1/traces) into bronze, until Ctrl-C."""
    from .collect import server

    result = server.serve(
        _context(),
        host=host,
        port=port,
        flush_interval_s=flush_interval,
        max_batch_events=max_batch_events,
        max_body_bytes=max_body_bytes,
        on_listening=lambda url: out.print(f"listening on {url}", highlight=False),
    )
    _print_result(result)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@user_errors
def airflow(context: typer.Context) -> None:
    """Start a local Airflow (standalone) with the tracelake DAGs: [--port N] [--project-dir D]."""
    from . import airflow_local

    raise typer.Exit(airflow_local.main(list(context.args)))


@app.command()
@user_errors
def demo(
    runs: Annotated[int, typer.Option(min=1, help="Runs to simulate.")] = 300,
    seed: Annotated[int, typer.Option(help="Simulator seed.")] = 7,
    data_dir: Annotated[str, typer.Option(help="Where simulated traces go.")] = "demo-data",
) -> None:
    """The main job end to end on the embedded default: simulate, ingest, build, query, status."""
    from .demo import run_demo

    run_demo(_context(), runs=runs, seed=seed, data_dir=data_dir, console=out, printer=print_arrow)
    status(as_json=False)


@app.command()
@user_errors
def maintain(
    table: Annotated[
        list[str] | None, typer.Option("--table", help="Only this table (repeatable).")
    ] = None,
    engine: Annotated[
        str, typer.Option("--engine", help="delta-rs (default) or spark (native Delta)")
    ] = "delta-rs",
    no_vacuum: Annotated[bool, typer.Option("--no-vacuum", help="Skip VACUUM.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Compact small files, VACUUM (retention: [maintenance]), checkpoint, clean the log."""
    from . import maintain as maintain_job

    result = maintain_job.run(_context(), table or None, engine=engine, vacuum=not no_vacuum)
    if as_json:
        out.print_json(json.dumps(result.to_dict(), default=str))
        return
    _print_result(result)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
