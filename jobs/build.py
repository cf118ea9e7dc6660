"""`tracelake build` / `tracelake rebuild`: run every derived job, in dependency order.

build: each job consumes only the source versions it has not seen (incremental, exactly once).
rebuild: each job recomputes its table from bronze alone (the lake's derived state is a pure
function of bronze).
"""

from __future__ import annotations

from collections.abc import Collection

from .context import JobContext, JobResult
from .registry import discover
from .runner import IncrementalJob

JOB_NAME = "build"


def derived_jobs() -> list[IncrementalJob]:
    """Every derived job's JOB object, each after the jobs whose tables it reads.

    The registry discovers them (any stage module with a module-level JOB); nothing is listed
    here. Kept for callers that want the job objects themselves."""
    return [spec.load() for spec in discover()]


# Example analyst queries (`tracelake demo` prints them; `tracelake sql` runs any of them).
DEMO_QUERIES: list[tuple[str, str]] = [
    (
        "Runs by outcome",
        "SELECT outcome, count(*) AS runs, round(avg(duration_s), 2) AS avg_duration_s, "
        "round(sum(total_cost_usd), 4) AS cost_usd "
        "FROM silver_runs GROUP BY outcome ORDER BY runs DESC",
    ),
    (
        "Success rate by scenario level",
        "SELECT coalesce(scenario_level, '(none)') AS level, count(*) AS runs, "
        "round(avg(CASE WHEN outcome LIKE 'success%' THEN 1.0 ELSE 0.0 END), 3) AS success_rate "
        "FROM silver_runs GROUP BY 1 ORDER BY 1",
    ),
    (
        "Components that fail most",
        "SELECT s.component, count(*) AS steps, "
        "sum(CASE WHEN s.is_failure THEN 1 ELSE 0 END) AS errors, "
        "round(avg(s.latency_ms), 1) AS avg_latency_ms "
        "FROM (SELECT explode(steps) AS s FROM silver_runs) AS t "
        "WHERE s.component IS NOT NULL GROUP BY s.component "
        "ORDER BY errors DESC, steps DESC, s.component LIMIT 10",
    ),
    (
        "Events per type in bronze",
        "SELECT event_type, count(*) AS events FROM bronze_events "
        "GROUP BY event_type ORDER BY events DESC",
    ),
]


def _combine(results: list[JobResult], full: bool) -> JobResult:
    combined = JobResult(job="rebuild" if full else JOB_NAME, status="noop")
    for r in results:
        combined.rows_in += r.rows_in
        combined.rows_out += r.rows_out
        combined.versions_read.update(r.versions_read)
        combined.versions_written.update(r.versions_written)
        combined.details[r.job] = {"status": r.status, "message": r.message, **r.details}
        if r.status == "succeeded":
            combined.status = "succeeded"
    combined.message = "; ".join(f"{r.job}: {r.message or r.status}" for r in results)
    return combined


def run(ctx: JobContext, full: bool = False, only: Collection[str] | None = None) -> JobResult:
    """Bring every derived table up to date (full=True: recompute them all from bronze).

    only: run just these jobs (by name, still in dependency order); their sources must be up
    to date already or be among them."""
    specs = discover()
    if only is not None:
        unknown = set(only) - {spec.name for spec in specs}
        if unknown:
            raise ValueError(f"unknown job(s): {', '.join(sorted(unknown))}")
        specs = [spec for spec in specs if spec.name in only]
    return _combine([spec.run(ctx, {"full": full}) for spec in specs], full)


def rebuild(ctx: JobContext) -> JobResult:
    """Recompute every derived table from bronze alone."""
    return run(ctx, full=True)
