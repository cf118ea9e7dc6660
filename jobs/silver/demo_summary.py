"""The end of `tracelake demo`: the three planted workflow patterns as mined, and the
WebFetch (WebFetcherTool) evolution with its evidence."""

from __future__ import annotations

from rich.console import Console

from ..context import JobContext
from ..lake import catalog
from .report import write_report
from .roles import contains

# The methodology's three workflow shapes, in this vocabulary's roles.
SHAPES = {
    "Fetch -> Process -> Output": ("Fetch", "Process", "Output"),
    "Parallel Processing -> Merge -> Summarize": ("Parallel(Fetch)", "Merge", "Summarize"),
    "Iterative Refinement -> Quality Check -> Finalize": ("Refine", "Check", "Output"),
}


def show_lineage_and_patterns(ctx: JobContext, console: Console) -> None:
    console.rule("5. workflow patterns and component evolution")
    patterns = ctx.lake.read(catalog.SILVER_PATTERNS).to_pylist()
    for shape, roles in SHAPES.items():
        found = sorted(
            (p for p in patterns if contains(p["roles"], roles)),
            key=lambda p: (-p["support"], p["name"]),
        )
        if not found:
            console.print(f"{shape}: not among the mined patterns", highlight=False)
            continue
        p = found[0]
        console.print(
            f"{shape}: mined as [bold]{p['name']}[/] - {p['n_runs']} runs "
            f"({p['support']:.0%}), success {p['success_rate'] or 0:.0%}",
            highlight=False,
        )
    for r in ctx.lake.read(catalog.SILVER_COMPONENT_EVOLUTION).to_pylist():
        if r["component"] != "WebFetch" or r["population"] != "real":
            continue
        rate = (
            f"error rate {r['from_error_rate']:.1%} -> {r['to_error_rate']:.1%}"
            if r["from_error_rate"] is not None and r["to_error_rate"] is not None
            else "error rate n/a"
        )
        console.print(
            f"WebFetch (WebFetcherTool) {r['from_version']} -> {r['to_version']}: {rate}, "
            f"[bold]{r['verdict']}[/] ({r['verdict_reason']})",
            highlight=False,
        )
    console.print(f"report: {write_report(ctx)}", highlight=False)
