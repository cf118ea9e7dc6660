"""Per component version aggregates of silver.component_usage, and version lineage: which
version each one replaces. Shared by the components and evolution jobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._identity_frame import version_key
from .component_identity import UNVERSIONED

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

VERSION_SQL = """
WITH u AS (
  SELECT *, min(declared_at) OVER (PARTITION BY component, version) AS version_declared_at
  FROM {usage}
)
SELECT component, version,
  CASE WHEN synthetic THEN 'synthetic' ELSE 'real' END AS population,
  first(kind, true) AS kind,
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
  min_by(change_note, declared_at) FILTER (WHERE change_note IS NOT NULL) AS change_note,
  min(declared_at) AS declared_at,
  count_if(first_ts < version_declared_at) AS used_before_declared,
  sum(backwards_uses) AS backwards_uses
FROM u
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


def version_stats(usage: DataFrame) -> dict[tuple[str, str], VersionStats]:
    spark = usage.sparkSession
    view = f"tl_version_usage_{id(usage):x}"
    usage.createOrReplaceTempView(view)
    try:
        rows = spark.sql(VERSION_SQL.format(usage=view)).collect()
    finally:
        spark.catalog.dropTempView(view)
    stats: dict[tuple[str, str], VersionStats] = {}
    for r in rows:
        d = r.asDict(recursive=True)
        s = stats.setdefault(
            (d["component"], d["version"]), VersionStats(d["component"], d["version"])
        )
        s.populations[d["population"]] = d
    return stats


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
