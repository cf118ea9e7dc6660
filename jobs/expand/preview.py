"""`tracelake expand --runs RUN_ID... --show`: expand chosen seed runs of silver.runs in this
process and print the variations, writing nothing. The environment runs with the figures the
expansion job would fit now (from silver.component_usage, when it exists), so a preview shows
what a build would write."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..context import JobContext
from ..environment.fitting import EnvironmentFit
from ..errors import ConfigError, InputNotFoundError, TableNotFoundError
from ..lake import catalog
from .expander import ExpandConfigError, Expansion, check_settings, expand_run
from .spark_job import SEED_COLUMNS, seed_events


def load_seeds(ctx: JobContext, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    if ctx.lake.version(catalog.SILVER_RUNS) is None:
        raise TableNotFoundError(
            "silver.runs does not exist yet; run `tracelake ingest` and `tracelake build` first"
        )
    table = ctx.lake.read(catalog.SILVER_RUNS, columns=list(SEED_COLUMNS))
    table = table.filter(pc.is_in(table["run_id"], pa.array(list(run_ids), pa.string())))
    rows = {r["run_id"]: r for r in table.to_pylist()}
    missing = [r for r in run_ids if r not in rows]
    if missing:
        raise InputNotFoundError(
            f"no run {', '.join(missing[:5])} in silver.runs; list run ids with "
            '`tracelake sql "SELECT run_id, goal FROM silver_runs LIMIT 20"`'
        )
    return [rows[r] for r in run_ids]


def preview(ctx: JobContext, run_ids: Sequence[str]) -> list[Expansion]:
    if not run_ids:
        raise ConfigError("expand --show needs at least one --runs RUN_ID")
    try:
        check_settings(ctx.settings.expand)
    except ExpandConfigError as exc:
        raise ConfigError(str(exc)) from None
    seeds = load_seeds(ctx, run_ids)
    fit = current_fit(ctx)
    return [expand_run(seed_events(row), ctx.settings.expand, fit) for row in seeds]


def current_fit(ctx: JobContext) -> EnvironmentFit | None:
    """The fit at silver.component_usage's latest version; None (the catalogue's figures) when
    the table does not exist yet. Starts Spark only then."""
    from . import fit_source

    version = ctx.lake.version(fit_source.SOURCE)
    if version is None:
        return None
    from ..spark import get_session

    return fit_source.current_fit(get_session(ctx.settings), ctx.lake, version)


def _step(step: dict[str, Any]) -> str:
    params = ", ".join(f"{k}={v}" for k, v in step.items() if k != "transform")
    return f"{step['transform']}({params})"


def render(expansions: list[Expansion], say: Callable[[str], None]) -> None:
    for ex in expansions:
        say(f"seed {ex.seed_run_id}: {len(ex.accepted)} accepted, {len(ex.rejected)} rejected")
        for events, row in ex.accepted:
            chain = ", ".join(_step(s) for s in json.loads(row["transforms"]))
            say(f"  {row['synthetic_run_id']}  L{row['level']} {row['outcome']:<8} {chain}")
            say(f"    goal: {row['goal']}")
            steps = [
                e["action"]
                for e in events
                if e["event_type"]
                in ("tool_call", "component_created", "component_evolved", "memory_consulted")
            ]
            say(f"    steps: {' -> '.join(steps)}")
            if row["violations"]:
                say(f"    violations: {', '.join(row['violations'])}")
        for r in ex.rejected:
            say(f"  rejected {r['candidate_id']} [{r['check']}]: {r['reason']}")


def side_by_side(ctx: JobContext, say: Callable[[str], None]) -> None:
    """The demo's view: one seed run and two of its variations from silver.synthetic_runs."""
    spec = catalog.SILVER_SYNTHETIC_RUNS
    if ctx.lake.version(spec) is None:
        say("no synthetic runs yet")
        return
    rows = ctx.lake.read(spec).to_pylist()
    by_seed: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: r["synthetic_run_id"]):
        by_seed.setdefault(row["seed_run_id"], []).append(row)
    picked = next(((s, v) for s, v in sorted(by_seed.items()) if len(v) >= 2), None)
    if picked is None:
        say("no seed with two variations yet")
        return
    seed_id, variations = picked
    (seed,) = load_seeds(ctx, [seed_id])
    steps = [s["component"] for s in seed["steps"] if s["event_type"] == "tool_call"]
    say(f"seed      {seed_id} ({seed['outcome']})")
    say(f"  goal:   {seed['goal']}")
    say(f"  tools:  {' -> '.join(steps)}")
    for row in variations[:2]:
        chain = ", ".join(_step(s) for s in json.loads(row["transforms"]))
        say(f"variation {row['synthetic_run_id']} ({row['outcome']}, L{row['level']})")
        say(f"  goal:   {row['goal']}")
        say(f"  chain:  {chain}")
    say(f"{len(rows)} synthetic runs from {len(by_seed)} seeds in silver.synthetic_runs")
