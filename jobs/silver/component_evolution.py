"""silver.component_evolution: one row per version -> next version and population (real runs,
and synthetic runs apart), with the change note, counts on both sides, deltas with intervals
and a verdict that honours sample size.

Verdict: `no evidence` unless both sides have at least `lineage.min_calls` calls; then
`improved` / `regressed` when the interval of the error-rate delta excludes 0 (the primary
measure), else by the run success-rate interval, else `no evidence`. Recomputed each run from
silver.component_version_stats (see components.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from ..context import JobContext, JobResult
from ..lake import catalog
from ..runner import JobInput, JobOutput, run_job
from . import stats as st
from ._version_stats import VersionStats, lineage, read_version_stats

JOB_NAME = "component_evolution"
OUTPUT = catalog.SILVER_COMPONENT_EVOLUTION
POPULATIONS = ("real", "synthetic")


def _verdict(a: dict, b: dict, err, succ, min_calls: int) -> tuple[str, str]:
    if a["calls"] < min_calls or b["calls"] < min_calls:
        return "no evidence", (
            f"too few calls to judge: {a['calls']} and {b['calls']} (each side needs {min_calls})"
        )
    if err is not None and err[2] < 0:
        return "improved", f"error rate fell by {-err[0]:.3f} (interval {err[1]:.3f}..{err[2]:.3f})"
    if err is not None and err[1] > 0:
        return "regressed", f"error rate rose by {err[0]:.3f} (interval {err[1]:.3f}..{err[2]:.3f})"
    if succ is not None and succ[1] > 0:
        return "improved", f"run success rate rose by {succ[0]:.3f} (error rate unchanged)"
    if succ is not None and succ[2] < 0:
        return "regressed", f"run success rate fell by {-succ[0]:.3f} (error rate unchanged)"
    return "no evidence", "every interval includes no change"


def evolution_rows(
    stats: dict[tuple[str, str], VersionStats], min_calls: int, confidence: float
) -> list[dict[str, Any]]:
    line = lineage(stats)
    rows = []
    for (component, version), (parent, declared) in sorted(line.parents.items()):
        new, old = stats.get((component, version)), stats.get((component, parent))
        for population in POPULATIONS:
            b = new.populations.get(population) if new else None
            if b is None:
                continue
            a = (old.populations.get(population) if old else None) or _nothing()
            err = st.diff_of_proportions(
                a["errors"], a["calls"], b["errors"], b["calls"], confidence
            )
            succ = st.diff_of_proportions(
                a["succeeded_runs"],
                a["finished_runs"],
                b["succeeded_runs"],
                b["finished_runs"],
                confidence,
            )
            lat = st.diff_of_means(
                a["latency_n"],
                a["latency_sum"],
                a["latency_sumsq"],
                b["latency_n"],
                b["latency_sum"],
                b["latency_sumsq"],
                confidence,
            )
            cost = st.diff_of_means(
                a["runs"],
                a["cost_sum"],
                a["cost_sumsq"],
                b["runs"],
                b["cost_sum"],
                b["cost_sumsq"],
                confidence,
            )
            verdict, reason = _verdict(a, b, err, succ, min_calls)
            rows.append(
                {
                    "component": component,
                    "from_version": parent,
                    "to_version": version,
                    "population": population,
                    "link": "declared" if declared else "inferred",
                    "change_note": b["change_note"],
                    "from_runs": a["runs"],
                    "to_runs": b["runs"],
                    "from_calls": a["calls"],
                    "to_calls": b["calls"],
                    "from_error_rate": _rate(a["errors"], a["calls"]),
                    "to_error_rate": _rate(b["errors"], b["calls"]),
                    "error_rate_delta": err[0] if err else None,
                    "error_rate_delta_low": err[1] if err else None,
                    "error_rate_delta_high": err[2] if err else None,
                    "from_success_rate": _rate(a["succeeded_runs"], a["finished_runs"]),
                    "to_success_rate": _rate(b["succeeded_runs"], b["finished_runs"]),
                    "success_rate_delta": succ[0] if succ else None,
                    "success_rate_delta_low": succ[1] if succ else None,
                    "success_rate_delta_high": succ[2] if succ else None,
                    "from_latency_ms": lat[0] if lat else _mean(a["latency_sum"], a["latency_n"]),
                    "to_latency_ms": lat[1] if lat else _mean(b["latency_sum"], b["latency_n"]),
                    "latency_delta_ms": lat[2] if lat else None,
                    "latency_delta_low_ms": lat[3] if lat else None,
                    "latency_delta_high_ms": lat[4] if lat else None,
                    "from_cost_per_run_usd": cost[0] if cost else _mean(a["cost_sum"], a["runs"]),
                    "to_cost_per_run_usd": cost[1] if cost else _mean(b["cost_sum"], b["runs"]),
                    "cost_delta_usd": cost[2] if cost else None,
                    "cost_delta_low_usd": cost[3] if cost else None,
                    "cost_delta_high_usd": cost[4] if cost else None,
                    "confidence": confidence,
                    "verdict": verdict,
                    "verdict_reason": reason,
                }
            )
    return rows


def _nothing() -> dict[str, Any]:
    keys = ("runs", "calls", "errors", "finished_runs", "succeeded_runs", "latency_n")
    return {k: 0 for k in keys} | {
        "latency_sum": 0.0,
        "latency_sumsq": 0.0,
        "cost_sum": 0.0,
        "cost_sumsq": 0.0,
    }


def _rate(x: int, n: int) -> float | None:
    return x / n if n else None


def _mean(total: float, n: int) -> float | None:
    return total / n if n else None


@dataclass(frozen=True)
class ComponentEvolution:
    name: str = JOB_NAME
    sources: tuple = (catalog.SILVER_COMPONENT_VERSION_STATS,)
    output: catalog.TableSpec = OUTPUT

    def compute(self, job: JobInput) -> JobOutput:
        settings = job.ctx.settings.lineage
        stats = read_version_stats(job)
        rows = evolution_rows(stats, settings.min_calls, settings.confidence)
        line = lineage(stats)
        verdicts: dict[str, int] = {}
        for r in rows:
            verdicts[f"{r['population']}:{r['verdict']}"] = (
                verdicts.get(f"{r['population']}:{r['verdict']}", 0) + 1
            )
        return JobOutput(
            pa.Table.from_pylist(rows, OUTPUT.schema),
            mode="overwrite",
            details={
                "note": "recomputed from silver.component_version_stats (a few rows per version)",
                "transitions": len(rows),
                "verdicts": verdicts,
                "parent_cycles": line.cycles,
                "declared_parent_newer": line.declared_backwards,
            },
        )


JOB = ComponentEvolution()


def run(ctx: JobContext, full: bool = False) -> JobResult:
    """Bring silver.component_evolution up to date with silver.component_usage."""
    return run_job(ctx, JOB, full=full)
