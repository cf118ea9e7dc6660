"""Per component version aggregates of silver.component_usage (the SQL of the
component_version_stats job, which keeps them incrementally), and version lineage: which
version each one replaces. Shared by the components and evolution jobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._identity_frame import version_key
from .component_identity import UNVERSIONED

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

# One row per (component, version, population) of usage rows. `known` holds a declared_at per
# version from rows aggregated earlier (empty for a full build): uses before the declaration
# are counted against the earliest one of all rows. Every column merges (MERGE_SQL).
VERSION_SQL = """
WITH u AS (
  SELECT u.*, CASE WHEN u.synthetic THEN 'synthetic' ELSE 'real' END AS population,
    least(min(u.declared_at) OVER (PARTITION BY u.component, u.version), k.declared_at)
      AS version_declared_at
  FROM {usage} u LEFT JOIN {known} k ON u.component = k.component AND u.version = k.version
)
SELECT component, version, population,
  min(kind) AS kind,
  bool_or(resolved) AS resolved,
  array_sort(array_distinct(flatten(collect_list(aliases)))) AS aliases,
  min(first_ts) AS first_seen,
  max(last_ts) AS last_seen,
  count(*) AS runs,
  sum(calls) AS calls,
  sum(errors) AS errors,
  count_if(run_outcome <> 'incomplete') AS finished_runs,
  count_if(run_succeeded) AS succeeded_runs,
  sum(latency_n) AS latency_n,
  sum(latency_sum_ms) AS latency_sum,
  sum(latency_sumsq_ms) AS latency_sumsq,
  sum(cost_usd) AS cost_sum,
  sum(cost_usd * cost_usd) AS cost_sumsq,
  array_sort(collect_set(definition_hash)) AS definition_hashes,
  min_by(parent_version, declared_at) FILTER (WHERE parent_version IS NOT NULL) AS parent,
  min(declared_at) FILTER (WHERE parent_version IS NOT NULL) AS parent_at,
  min_by(change_note, declared_at) FILTER (WHERE change_note IS NOT NULL) AS change_note,
  min(declared_at) FILTER (WHERE change_note IS NOT NULL) AS change_note_at,
  min(declared_at) AS declared_at,
  count_if(first_ts < version_declared_at) AS used_before_declared,
  sum(backwards_uses) AS backwards_uses
FROM u
GROUP BY component, version, population
"""

# Rows of VERSION_SQL (or of earlier merges) for the same keys -> one row each, as VERSION_SQL
# over all their usage rows would give (min_by ignores null orderings, so the `_at` columns
# carry each choice's ordering). used_before_declared adds up only while the version's
# declared_at stays the same: the caller recomputes a version whose declaration moves earlier.
MERGE_SQL = """
SELECT component, version, population,
  min(kind) AS kind,
  bool_or(resolved) AS resolved,
  array_sort(array_distinct(flatten(collect_list(aliases)))) AS aliases,
  min(first_seen) AS first_seen,
  max(last_seen) AS last_seen,
  sum(runs) AS runs,
  sum(calls) AS calls,
  sum(errors) AS errors,
  sum(finished_runs) AS finished_runs,
  sum(succeeded_runs) AS succeeded_runs,
  sum(latency_n) AS latency_n,
  sum(latency_sum) AS latency_sum,
  sum(latency_sumsq) AS latency_sumsq,
  sum(cost_sum) AS cost_sum,
  sum(cost_sumsq) AS cost_sumsq,
  array_sort(array_distinct(flatten(collect_list(definition_hashes)))) AS definition_hashes,
  min_by(parent, parent_at) FILTER (WHERE parent IS NOT NULL) AS parent,
  min(parent_at) FILTER (WHERE parent IS NOT NULL) AS parent_at,
  min_by(change_note, change_note_at) FILTER (WHERE change_note IS NOT NULL) AS change_note,
  min(change_note_at) FILTER (WHERE change_note IS NOT NULL) AS change_note_at,
  min(declared_at) AS declared_at,
  sum(used_before_declared) AS used_before_declared,
  sum(backwards_uses) AS backwards_uses
FROM {stats}
GROUP BY component, version, population
"""


@dataclass
class VersionStats:
    component: str
    version: str
    populations: dict[str, dict[str, Any]] = field(default_factory=dict)

    def merged(self, key: str) -> list[Any]:
        return [p[key] for p in self.populations.values() if p[key] is not None]


@dataclass
class Lineage:
    """Each versioned component's versions in order and the parent of each version."""

    versions: dict[str, list[str]]  # component -> versions, oldest first
    parents: dict[tuple[str, str], tuple[str, bool]]  # (component, version) -> (parent, declared)
    cycles: int  # declared parent links dropped because they formed a cycle
    declared_backwards: int  # declared parents newer than their child (kept, counted)


def aggregate(usage: DataFrame, known: DataFrame | None = None) -> DataFrame:
    """Usage rows -> VERSION_SQL rows; `known`: (component, version, declared_at) of rows
    aggregated before (see VERSION_SQL)."""
    spark = usage.sparkSession
    tag = f"{id(usage):x}"
    if known is None:
        known = spark.createDataFrame([], "component string, version string, declared_at timestamp")
    usage.createOrReplaceTempView(f"tl_version_usage_{tag}")
    known.createOrReplaceTempView(f"tl_version_known_{tag}")
    try:
        return spark.sql(
            VERSION_SQL.format(usage=f"tl_version_usage_{tag}", known=f"tl_version_known_{tag}")
        )
    finally:
        spark.catalog.dropTempView(f"tl_version_usage_{tag}")
        spark.catalog.dropTempView(f"tl_version_known_{tag}")


def merge(stats: DataFrame) -> DataFrame:
    """Aggregate rows with repeated keys -> one row per key (MERGE_SQL)."""
    spark = stats.sparkSession
    view = f"tl_version_merge_{id(stats):x}"
    stats.createOrReplaceTempView(view)
    try:
        return spark.sql(MERGE_SQL.format(stats=view))
    finally:
        spark.catalog.dropTempView(view)


def version_stats(rows: list[dict[str, Any]]) -> dict[tuple[str, str], VersionStats]:
    """silver.component_version_stats rows -> per (component, version) statistics."""
    stats: dict[tuple[str, str], VersionStats] = {}
    for d in sorted(rows, key=lambda r: (r["component"], r["version"], r["population"])):
        s = stats.setdefault(
            (d["component"], d["version"]), VersionStats(d["component"], d["version"])
        )
        s.populations[d["population"]] = d
    return stats


def read_version_stats(job: Any) -> dict[tuple[str, str], VersionStats]:
    """silver.component_version_stats at the version this job run reads (a small table, read
    in this process)."""
    from ..lake import catalog

    spec = catalog.SILVER_COMPONENT_VERSION_STATS
    table = job.ctx.lake.table(spec, version=job.range(spec).upto)
    return version_stats(table.to_pyarrow_table().to_pylist() if table else [])


def lineage(stats: dict[tuple[str, str], VersionStats]) -> Lineage:
    """Parents: a declared one (an evolution event named the version it replaces) wins; else
    the next lower version seen. Declared links that form a cycle are dropped and counted."""
    versions: dict[str, list[str]] = {}
    declared: dict[tuple[str, str], str] = {}
    for (component, version), s in stats.items():
        if version == UNVERSIONED:
            continue
        versions.setdefault(component, []).append(version)
        parents = [p for p in s.merged("parent") if p != version]
        if parents:
            declared[(component, version)] = min(parents)
    declared, cycles = drop_cycles(declared)
    parents: dict[tuple[str, str], tuple[str, bool]] = {}
    backwards = 0
    for component, vs in versions.items():
        vs.sort(key=version_key)
        for i, version in enumerate(vs):
            d = declared.get((component, version))
            if d is not None:
                parents[(component, version)] = (d, True)
                if version_key(d) > version_key(version):
                    backwards += 1
            elif i > 0:
                parents[(component, version)] = (vs[i - 1], False)
    return Lineage(versions, parents, cycles, backwards)


def drop_cycles(declared: dict[tuple[str, str], str]) -> tuple[dict[tuple[str, str], str], int]:
    """Declared parent links minus those that lead back to their own version (a cycle in the
    evolution events); returns the kept links and how many were dropped."""
    kept = dict(declared)
    cycles = 0
    for key in sorted(declared):
        seen = {key[1]}
        parent = kept.get(key)
        while parent is not None:
            if parent in seen:
                cycles += 1
                del kept[key]
                break
            seen.add(parent)
            parent = kept.get((key[0], parent))
    return kept, cycles
