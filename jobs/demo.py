"""`tracelake demo`: the main job end to end on the embedded default (local disk + Spark local).

Steps: simulate traces (with a few corrupt lines) -> ingest -> build derived tables -> print
example analyst queries -> show one expansion and one training example in both shapes.
Re-running is safe: the same seed writes the same files and ingest and build are exactly-once,
so a second demo stores and rebuilds nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console

from .context import JobContext

DEMO_CORRUPT_RATE = 0.002


def run_demo(
    ctx: JobContext,
    *,
    runs: int,
    seed: int,
    data_dir: str,
    console: Console,
    printer: Callable[[Any], None],
) -> None:
    from . import build, sql
    from .ingest import job as ingest
    from .simulate import job as simulate

    console.rule("1. simulate")
    result = simulate.run(
        ctx, runs=runs, seed=seed, out=data_dir, corrupt_rate=DEMO_CORRUPT_RATE, overwrite=True
    )
    console.print(result.message, highlight=False)

    console.rule("2. ingest")
    result = ingest.run(ctx, [data_dir])
    console.print(result.message, highlight=False)

    console.rule("3. build")
    result = build.run(ctx)
    console.print(f"{result.status}: {result.message or ''}", highlight=False)

    console.rule("4. query")
    for title, statement in build.DEMO_QUERIES:
        console.print(f"[bold]{title}[/]\n[dim]{statement}[/]", highlight=False)
        printer(sql.query(ctx, statement))

    from .silver.demo_summary import show_lineage_and_patterns

    show_lineage_and_patterns(ctx, console)
    console.rule("5. expand: a seed run and two verified variations")
    from .expand.preview import side_by_side

    side_by_side(ctx, lambda line: console.print(line, highlight=False))
    console.rule("6. gold: one training example, as a record and as messages")
    from .gold.show import demo_example

    demo_example(ctx, lambda line: console.print(line, highlight=False, markup=False))
