"""The `tracelake` command line. Every command runs a job of the registry (jobs/registry.py) or
prints a report computed elsewhere; none holds logic of its own.

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
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from . import registry
from .context import JobContext, JobResult
from .errors import TracelakeError
from .lake.store import redact
from .settings import load_settings

app = typer.Typer(
    name="tracelake",
    help="Turn AI-agent execution traces into Delta tables, training datasets and better agents.",
    no_args_is_help=True,
    add_completion=True,
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
            # User text (paths, values) must never be read as markup or emoji codes.
            err.print(
                f"[bold red]error:[/] {escape(str(exc))}",
                highlight=False,
                soft_wrap=True,
                emoji=False,
            )
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:  # storage the job did not explain: still one line, redacted
            line = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else repr(exc)
            err.print(
                f"[bold red]error:[/] storage error: {escape(redact(line))}; nothing partial "
                "was committed, run the command again when storage is back",
                highlight=False,
                soft_wrap=True,
                emoji=False,
            )
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("interrupted; nothing partial was committed")
            raise typer.Exit(130) from None

    return wrapper


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        out.print(f"tracelake {version('tracelake')}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress lines.")] = False,
    lake: Annotated[
        str | None,
        typer.Option("--lake", help="Lake root for this command: a path or s3://bucket/prefix."),
    ] = None,
    config: Annotated[
        str | None,
        typer.Option("--config", help="Settings file to use instead of ./tracelake.toml."),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    # Through the environment, so that what this command starts (Airflow, spark-submit) sees
    # the same settings; the variables rank as they always do (above tracelake.toml).
    import os

    from .settings import CONFIG_ENV, ENV_PREFIX

    if config is not None:
        os.environ[CONFIG_ENV] = config
    if lake is not None:
        os.environ[f"{ENV_PREFIX}LAKE_ROOT"] = lake
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


def _run(job: str, params: dict[str, Any], unit: str = "items") -> JobResult:
    """Run a registry job with parameters as the CLI collected them."""
    return registry.run(job, _context(unit), params)


def _print_result(result: JobResult) -> None:
    colour = {"succeeded": "green", "noop": "yellow", "failed": "red"}.get(result.status, "white")
    out.print(
        f"[{colour}]{result.job}: {result.status}[/] — {escape(result.message or '')}",
        highlight=False,
        emoji=False,
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
    exact_duplicate_rate: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="Runs followed by a planted exact copy (truth in attributes)."
        ),
    ] = 0.0,
    near_duplicate_rate: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="Runs followed by a planted near copy (truth in attributes)."
        ),
    ] = 0.0,
) -> None:
    """Write simulated LLM-OS execution traces as canonical JSONL."""
    params = {
        "runs": runs,
        "seed": seed,
        "out": out_dir,
        "corrupt_rate": corrupt_rate,
        "files": files,
        "overwrite": overwrite,
        "exact_duplicate_rate": exact_duplicate_rate,
        "near_duplicate_rate": near_duplicate_rate,
    }
    _print_result(_run("simulate", params))


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
    result = _run("ingest", {"paths": list(paths), "format": format}, unit="bytes")
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


@app.command()
@user_errors
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Each table's version and row count, and the last job runs (failures with their message)."""
    from .status import report as status_report

    report = status_report(_context())
    if as_json:
        out.print_json(json.dumps(report, default=str))
        return
    out.print(f"lake: {report['lake_root']}", highlight=False)
    for warning in report["warnings"]:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
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
    for r in report["failed_runs"]:
        out.print(
            f"[red]failed[/] {r['job']} at {str(r['started_at'])[:19]}: {r['message']}",
            highlight=False,
            soft_wrap=True,
        )


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
    _print_result(_run("build", {}))


@app.command()
@user_errors
def rebuild() -> None:
    """Recompute every derived table from bronze."""
    _print_result(_run("rebuild", {}))


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
    commit_interval: Annotated[
        float,
        typer.Option(
            min=0,
            help="Least seconds between commits: full micro-batches in between are grouped "
            "into one, never holding a request past --flush-interval (0: no grouping).",
        ),
    ] = 0.0,
) -> None:
    """Receive OpenTelemetry spans over OTLP/HTTP (/v1/traces) into bronze, until Ctrl-C."""
    from .collect import server

    params = registry.get("collect").parse_params(
        {
            "host": host,
            "port": port,
            "flush_interval_s": flush_interval,
            "max_batch_events": max_batch_events,
            "max_body_bytes": max_body_bytes,
            "commit_interval_s": commit_interval,
        }
    )

    def listening(url: str) -> None:
        print(f"listening on {url}", flush=True)  # one plain line: scripts wait for it

    # Called directly (not through registry.run) for the listening callback, which is no
    # parameter: the parameters are validated by the same model.
    _print_result(server.serve(_context(), **params.model_dump(), on_listening=listening))


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
def landing(
    settle_s: Annotated[
        float, typer.Option("--settle-s", min=0, help="Leave files younger than this.")
    ] = 0.0,
    max_files: Annotated[int | None, typer.Option(min=1, help="Files per pickup.")] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="S3: list the whole landing prefix, not only the keys after the watermark "
            "(a reconcile: finds objects overwritten under an already-listed key).",
        ),
    ] = False,
) -> None:
    """Ingest the files that landed (Settings.landing) since the last pickup, exactly once."""
    params = {"settle_s": settle_s, "max_files": max_files, "full": full}
    _print_result(_run("landing", params, unit="bytes"))


@app.command("jobs")
@user_errors
def list_jobs(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Every job of the registry: built-in, then derived in build order."""
    specs = registry.all_jobs()
    if as_json:
        out.print_json(json.dumps([s.to_dict() for s in specs]))
        return
    view = Table("job", "kind", "reads", "writes", "spark", "description", title="jobs")
    for s in specs:
        view.add_row(
            s.name,
            s.kind,
            ", ".join(s.reads),
            ", ".join(s.writes),
            "yes" if s.needs_spark else "",
            s.description,
        )
    out.print(view)


@app.command("run")
@user_errors
def run_job(
    job: Annotated[str, typer.Argument(help="Job name (see `tracelake jobs`).")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="key=value; repeat for each parameter."),
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="Derived jobs: recompute.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Run any job by name with typed parameters, e.g. `tracelake run project_runs --full`."""
    spec = registry.get(job)
    params = registry.params_from_pairs(spec, param or [])
    if full:
        params["full"] = True
    parsed = spec.parse_params(params)  # before opening the lake: bad params fail fast
    result = spec.run(_context(), parsed)
    if as_json:
        out.print_json(json.dumps(result.to_dict(), default=str))
    else:
        _print_result(result)
    if result.status == "failed":
        raise typer.Exit(1)


@app.command()
@user_errors
def erase(
    run: Annotated[str | None, typer.Option("--run", help="Erase every event of this run.")] = None,
    value: Annotated[
        str | None, typer.Option("--value", help="Erase this text wherever it occurs.")
    ] = None,
    reason: Annotated[
        str | None, typer.Option(help="Why (request or ticket id), kept in ops.erasures.")
    ] = None,
) -> None:
    """Erase a run or a value from bronze and every derived table (audited in ops.erasures)."""
    from .silver import erase as erase_job

    _print_result(erase_job.erase(_context(), run_id=run, value=value, reason=reason))


@app.command()
@user_errors
def report() -> None:
    """Write the lineage and patterns HTML report (offline, one file) and print its path."""
    from .silver.report import write_report

    out.print(write_report(_context()), highlight=False)


@app.command()
@user_errors
def expand(
    runs: Annotated[
        list[str] | None, typer.Option("--runs", help="Seed run ids (repeat the option).")
    ] = None,
    show: Annotated[bool, typer.Option("--show", help="Preview only; write nothing.")] = False,
) -> None:
    """Scenario expansion: preview variations of seed runs (--show), or run the expansion jobs."""
    if show:
        from .expand.preview import preview, render

        render(preview(_context(), runs or []), lambda line: out.print(line, highlight=False))
        return
    if runs:
        from .errors import ConfigError

        raise ConfigError("--runs needs --show; without it every new seed run is expanded")
    from .build import run as run_build

    _print_result(run_build(_context()))


@app.command()
@user_errors
def train(
    recipe: Annotated[str, typer.Option(help="sft, dpo, constitutional, grpo or pipeline.")],
    manifest: Annotated[
        str | None, typer.Option(help="Export manifest.json (local path or s3://).")
    ] = None,
    config: Annotated[str | None, typer.Option(help="YAML file of the recipe's options.")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Option override KEY=VALUE (repeatable).")
    ] = None,
    nproc: Annotated[int, typer.Option(min=1, help="Processes (torchrun; gloo on CPU).")] = 1,
    record: Annotated[bool, typer.Option(help="Append the run record to ops.train_runs.")] = True,
    evaluate: Annotated[
        bool,
        typer.Option(help="Then run the workflow benchmark on every checkpoint (each phase's)."),
    ] = False,
    eval_tasks_per_level: Annotated[
        int | None,
        typer.Option(min=1, help="With --evaluate: only the first N tasks of each level."),
    ] = None,
) -> None:
    """Train on an export (never reads the lake); then record the run in ops.train_runs."""
    from .train_runs import train_and_record

    lines = train_and_record(
        _context,
        manifest,
        recipe,
        config,
        set_ or [],
        nproc,
        record,
        evaluate=evaluate,
        eval_tasks_per_level=eval_tasks_per_level,
    )
    for line in lines:
        out.print(line, highlight=False)


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
    rebuild_event_keys: Annotated[
        bool,
        typer.Option(
            "--rebuild-event-keys",
            help="Rebuild bronze.event_keys (the deduplication index) from bronze.events alone.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Compact small files, VACUUM (retention: [maintenance]), checkpoint, clean the log."""
    from . import maintain as maintain_job

    result = maintain_job.run(
        _context(),
        table or None,
        engine=engine,
        vacuum=not no_vacuum,
        rebuild_event_keys=rebuild_event_keys,
    )
    if as_json:
        out.print_json(json.dumps(result.to_dict(), default=str))
        return
    _print_result(result)


@app.command("cloud-config")
@user_errors
def cloud_config(
    from_terraform: Annotated[
        str, typer.Option("--from-terraform", help="File written by `terraform output -json`.")
    ],
    out_file: Annotated[str, typer.Option("--out", help="Settings file to write.")] = (
        "tracelake.toml"
    ),
    airflow_env: Annotated[
        str | None,
        typer.Option(help="Also write the Airflow workers' TRACELAKE_* exports to this file."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace existing files.")] = False,
) -> None:
    """Write tracelake.toml for an AWS deployment from its Terraform outputs."""
    from pathlib import Path

    from .cloud_config import write_cloud_config

    written = write_cloud_config(
        Path(from_terraform), Path(out_file), Path(airflow_env) if airflow_env else None, force
    )
    for path in written:
        out.print(f"wrote {path}", highlight=False)


# -- gold: show an example, record human feedback (issue 13) ---------------------------------------


@app.command()
@user_errors
def show(
    what: Annotated[str, typer.Argument(help="What to show: `example`.")],
    run_id: Annotated[str, typer.Argument(help="The run.")],
) -> None:
    """Show a run's training example: its four-part record and its messages (or why it was
    rejected)."""
    from .errors import ConfigError
    from .gold.show import show_example

    if what != "example":
        raise ConfigError(f"cannot show {what!r}; try `tracelake show example RUN_ID`")
    show_example(_context(), run_id, lambda line: out.print(line, highlight=False, markup=False))


@app.command()
@user_errors
def feedback(
    run_id: Annotated[str, typer.Argument(help="The run judged (the preferred one).")],
    annotator: Annotated[str, typer.Option(help="Who judged (recorded with the judgement).")],
    over: Annotated[
        str | None, typer.Option(help="The run it is preferred over (a preference).")
    ] = None,
    rating: Annotated[float | None, typer.Option(help="A rating of the run, 0..1.")] = None,
    note: Annotated[str | None, typer.Option(help="Why, in your words.")] = None,
) -> None:
    """Record a human preference or rating in ops.feedback; the next build turns it into
    gold.preferences pairs, ahead of the rule-based ones."""
    from .gold.show import record_feedback

    row = record_feedback(
        _context(), run_id=run_id, annotator=annotator, over=over, rating=rating, note=note
    )
    out.print(f"recorded {row['kind']} {row['feedback_id']} in ops.feedback", highlight=False)


# -- export: gold tables -> sharded datasets + manifest (issue 15) -------------------------------

export_app = typer.Typer(
    help="Export gold tables as sharded training datasets (docs/export.md); `export verify "
    "MANIFEST` re-hashes an export's shards.",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(export_app, name="export")


@export_app.callback()
@user_errors
def export_(
    typer_ctx: typer.Context,
    dataset: Annotated[
        list[str] | None,
        typer.Option("--dataset", help="sft, dpo or constitutional (repeatable; default: all)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="parquet, jsonl.zst or mds.")] = "parquet",
    to: Annotated[
        str | None, typer.Option("--to", help="Export root: a path or s3://bucket/prefix.")
    ] = None,
    build_id: Annotated[
        str | None,
        typer.Option(help="Build id (default: a hash of the table versions and options)."),
    ] = None,
    shuffle_seed: Annotated[
        int | None, typer.Option(help="Shuffle each split with this seed (recorded).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Export past a failed quality gate (recorded).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Export sft (gold.examples), dpo (gold.preferences) and constitutional
    (gold.constitutional_pairs) at pinned table versions; manifest.json is written last."""
    if typer_ctx.invoked_subcommand is not None:
        return
    from .export.job import export

    outcomes = export(
        _context(),
        dataset,
        fmt=fmt,
        to=to,
        build_id=build_id,
        shuffle_seed=shuffle_seed,
        force=force,
    )
    if as_json:
        out.print_json(json.dumps([o.to_dict() for o in outcomes]))
        return
    for o in outcomes:
        versions = ", ".join(f"{t}@{v}" for t, v in o.source_table_versions.items())
        out.print(
            f"{o.dataset}: {o.status} build {o.build_id} ({o.rows} rows, {o.shards} shards, "
            f"{versions}) -> {o.manifest}",
            highlight=False,
            markup=False,
        )


@export_app.command("verify")
@user_errors
def export_verify(
    manifest: Annotated[str, typer.Argument(help="manifest.json (or its folder): path or s3://.")],
) -> None:
    """Re-hash every shard of an export and report any that differ from its manifest."""
    from .errors import ExportVerifyError
    from .export.job import verify

    problems = verify(manifest, load_settings().storage_options_for(manifest))
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ExportVerifyError(
            f"{problems[0]}{more}; re-export the dataset, or restore the shard from its source"
        )
    out.print(f"{manifest}: every shard matches its manifest", highlight=False, markup=False)


# -- gate: quality gates from the data contracts (issue 15) -----------------------------------


@app.command("gate")
@user_errors
def gate(
    table: Annotated[
        list[str] | None,
        typer.Option(
            "--table",
            help="A table to gate, tier.name (repeatable; default: the "
            "gold tables the export reads).",
        ),
    ] = None,
    open_docs: Annotated[
        bool, typer.Option("--open", help="Open the Data Docs site in a browser.")
    ] = False,
    docs: Annotated[
        str | None,
        typer.Option(help="Build Data Docs in this local folder (default: <lake>/ops/gate_docs)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    remeasure: Annotated[
        bool,
        typer.Option(
            "--remeasure",
            help="Run every rule, also the row-level rules the gold jobs already ran on every "
            "row before committing (by default judged from those commits).",
        ),
    ] = False,
) -> None:
    """Validate tables against the suites generated from their contracts (Great Expectations on
    Spark); results go to ops.gate_results and Data Docs. Exits non-zero when a gate fails."""
    from .errors import GateFailedError
    from .quality.gates import open_docs as open_site
    from .quality.gates import run_gates

    run = run_gates(_context(), table, docs=docs, remeasure=remeasure)
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "gate_run_id": run.gate_run_id,
                    "passed": run.passed,
                    "skipped": run.skipped,
                    "docs_index": run.docs_index,
                    "results": [
                        {**r.__dict__, "expectations": [e.model_dump() for e in r.expectations]}
                        for r in run.results
                    ],
                },
                default=str,
            )
        )
    else:
        for r in run.results:
            view = Table(
                "expectation",
                "family",
                "outcome",
                "observed",
                title=f"{r.table}@{r.table_version} ({r.suite}): "
                + ("passed" if r.passed else "FAILED"),
            )
            for e in r.expectations:
                view.add_row(
                    escape(e.name),
                    e.family,
                    "ok" if e.passed else "[bold red]FAILED[/]",
                    escape(e.observed_value[:80]),
                )
            out.print(view)
            if r.checked_by:
                out.print(
                    f"{r.table}: row-level rules judged from the commits that checked every row "
                    f"(v{', v'.join(map(str, r.checked_by))}); --remeasure runs them again",
                    highlight=False,
                    markup=False,
                )
        for name in run.skipped:
            out.print(f"{name}: skipped (does not exist yet)", highlight=False, markup=False)
        if run.docs_index:
            out.print(f"Data Docs: {run.docs_index}", highlight=False, markup=False)
        elif run.docs_note:
            err.print(run.docs_note, highlight=False, markup=False)
    if open_docs and run.docs_index:
        open_site(run.docs_index)
    if not run.passed:
        failing = run.failing()
        more = f" and {len(failing) - 8} more" if len(failing) > 8 else ""
        raise GateFailedError(
            f"quality gate failed: {', '.join(failing[:8])}{more}; the export refuses these "
            "table versions until a rebuild passes (or `tracelake export --force`)"
        )


@app.command("eval")
@user_errors
def eval_(
    policy: Annotated[
        str, typer.Option(help="oracle, random, replay, a model directory or an http(s) endpoint.")
    ],
    levels: Annotated[str, typer.Option(help="Levels, comma separated.")] = "1,2,3",
    trials: Annotated[int, typer.Option(min=1, help="Trials per task (pass^k).")] = 1,
    prompt: Annotated[str, typer.Option(help="goal, or framework (docs in the prompt).")] = "goal",
    seed: Annotated[int, typer.Option(help="Evaluation seed.")] = 0,
    sample: Annotated[bool, typer.Option(help="Sample (models) instead of greedy.")] = False,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 1.0,
    model: Annotated[str, typer.Option(help="Model name sent to an endpoint.")] = "default",
    tasks_per_level: Annotated[
        int | None, typer.Option(help="Only the first N tasks of each level (smoke runs).")
    ] = None,
    chance_faults: Annotated[
        bool, typer.Option(help="Components fail at their spec's rates (besides injected).")
    ] = True,
    store: Annotated[bool, typer.Option(help="Write ops.eval_results and the events.")] = True,
    tasks: Annotated[
        str | None, typer.Option(help="Task set folder (level1.jsonl ...); default: v1.")
    ] = None,
) -> None:
    """Workflow benchmark: play the held-out tasks, append ops.eval_results, ingest the episodes
    as events and write the HTML report (docs/evaluation.md)."""
    from .errors import ConfigError
    from .evaluation.job import make_policy, run_eval, summary_lines
    from .evaluation.runner import EvalOptions

    try:
        chosen = tuple(int(x) for x in levels.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"--levels {levels!r}: comma-separated numbers from 1, 2, 3") from None
    options = EvalOptions(
        levels=chosen,
        trials=trials,
        prompt=prompt,
        seed=seed,
        chance_faults=chance_faults,
        tasks_per_level=tasks_per_level,
        task_dir=tasks,
    )
    ctx = _context()
    chosen_policy = make_policy(
        policy, sample=sample, temperature=temperature, model=model, seed=seed,
        settings=ctx.settings,
    )  # fmt: skip
    run, written = run_eval(ctx, chosen_policy, options, store_results=store)
    for line in summary_lines(run, written):
        out.print(line, highlight=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
