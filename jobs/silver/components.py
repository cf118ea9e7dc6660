"""silver.components: one row per canonical component version, from
silver.component_version_stats.

The table is small (components x versions); each run recomputes it from the version
statistics (a few rows per version, kept incrementally by the component_version_stats job and
read in the driver), so this costs neither a read of the usage table nor of the events.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from ..context import JobContext, JobResult
from ..lake import catalog
from ..runner import JobInput, JobOutput, run_job
from ._version_stats import lineage, read_version_stats

JOB_NAME = "components"
OUTPUT = catalog.SILVER_COMPONENTS


def component_rows(stats, line) -> list[dict]:
    rows = []
    for (component, version), s in sorted(stats.items()):
        real = s.populations.get("real", {})
        synthetic = s.populations.get("synthetic", {})
        hashes = sorted({h for p in s.populations.values() for h in p["definition_hashes"]})
        parent = line.parents.get((component, version))
        declared = s.merged("declared_at")
        notes = s.merged("change_note")
        rows.append(
            {
                "component": component,
                "version": version,
                "kind": next(iter(s.merged("kind")), None),
                "resolved": any(s.merged("resolved")) or bool(declared),
                "aliases": sorted(
                    {
                        (a["alias"], a["dialect"])
                        for p in s.populations.values()
                        for a in p["aliases"]
                    }
                ),
                "first_seen": min(s.merged("first_seen")),
                "last_seen": max(s.merged("last_seen")),
                "runs": real.get("runs", 0),
                "synthetic_runs": synthetic.get("runs", 0),
                "calls": real.get("calls", 0),
                "definition_hash": hashes[0] if hashes else None,
                "definition_conflict": len(hashes) > 1,
                "parent_version": parent[0] if parent else None,
                "parent_declared": bool(parent and parent[1]),
                "change_note": notes[0] if notes else None,
                "declared_at": min(declared) if declared else None,
                "used_before_declared": sum(s.merged("used_before_declared")),
                "backwards_uses": sum(s.merged("backwards_uses")),
            }
        )
    for row in rows:
        row["aliases"] = [{"alias": a, "dialect": d} for a, d in row["aliases"]]
    return rows


@dataclass(frozen=True)
class Components:
    name: str = JOB_NAME
    sources: tuple = (catalog.SILVER_COMPONENT_VERSION_STATS,)
    output: catalog.TableSpec = OUTPUT

    def compute(self, job: JobInput) -> JobOutput:
        stats = read_version_stats(job)
        line = lineage(stats)
        rows = component_rows(stats, line)
        return JobOutput(
            pa.Table.from_pylist(rows, OUTPUT.schema),
            mode="overwrite",
            details={
                "note": "recomputed from silver.component_version_stats (a few rows per version)",
                "component_versions": len(rows),
                "unresolved_components": len({r["component"] for r in rows if not r["resolved"]}),
                "definition_conflicts": sum(r["definition_conflict"] for r in rows),
                "parent_cycles": line.cycles,
                "declared_parent_newer": line.declared_backwards,
                "used_before_declared": sum(r["used_before_declared"] for r in rows),
                "version_backwards_events": sum(r["backwards_uses"] for r in rows),
            },
        )


JOB = Components()


def run(ctx: JobContext, full: bool = False) -> JobResult:
    """Bring silver.components up to date with silver.component_usage."""
    return run_job(ctx, JOB, full=full)
