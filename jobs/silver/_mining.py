"""Role sequences of runs, and frequent closed pattern mining with Spark's PrefixSpan.
Shared by the patterns and run_patterns jobs."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .component_usage import SYNTHETIC_SQL
from .roles import Rule, contains, pattern_name, role_sequence

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

EVENT_COLUMNS = (
    "event_id",
    "run_id",
    "seq",
    "parent_event_id",
    "ts",
    "source",
    "event_type",
    "component_name",
    "component_kind",
    "action",
    "status",
    "scenario",
    "scenario_level",
    "attributes",
)

STEPS_SQL = f"""
WITH e AS (SELECT * FROM {{events}}),
ends AS (
  SELECT parent_event_id AS id, max(ts) AS end_ts FROM e
  WHERE parent_event_id IS NOT NULL GROUP BY parent_event_id
),
delegations AS (SELECT event_id AS id FROM e WHERE event_type = 'delegation'),
steps AS (
  SELECT i.run_id, struct(i.ts AS start, ends.end_ts AS end, i.component_kind AS kind,
                          i.component_name AS name, i.action AS action,
                          i.seq AS seq, i.event_id AS event_id) AS step
  FROM e i
  LEFT JOIN ends ON ends.id = i.event_id
  LEFT JOIN delegations d ON d.id = i.parent_event_id
  WHERE i.event_type IN ('tool_call', 'delegation') AND d.id IS NULL
),
run AS (
  SELECT run_id,
    bool_or({SYNTHETIC_SQL}) AS synthetic,
    min_by(scenario, struct(seq, ts, event_id)) FILTER (WHERE scenario IS NOT NULL) AS scenario,
    min_by(scenario_level, struct(seq, ts, event_id)) FILTER (WHERE scenario_level IS NOT NULL)
      AS scenario_level,
    max_by(event_type, struct(seq, ts, event_id))
      FILTER (WHERE event_type IN ('run_completed', 'run_failed')) AS terminal,
    count_if(event_type = 'error' OR status = 'error') AS n_errors,
    count_if(event_type = 'recovery') AS n_recoveries,
    (unix_micros(max(ts)) - unix_micros(min(ts))) / 1000D AS duration_ms
  FROM e GROUP BY run_id
)
SELECT run.run_id, run.synthetic, run.scenario, run.scenario_level, run.duration_ms,
  CASE WHEN run.terminal = 'run_failed' THEN 'failure'
       WHEN run.terminal = 'run_completed' AND (run.n_errors > 0 OR run.n_recoveries > 0)
         THEN 'success_with_recovery'
       WHEN run.terminal = 'run_completed' THEN 'success'
       ELSE 'incomplete' END AS outcome,
  coalesce(transform(array_sort(s.steps, (a, b) -> CASE
      WHEN a.start < b.start THEN -1 WHEN a.start > b.start THEN 1
      WHEN a.seq < b.seq THEN -1 WHEN a.seq > b.seq THEN 1
      WHEN a.event_id < b.event_id THEN -1 WHEN a.event_id > b.event_id THEN 1 ELSE 0 END),
    x -> struct(x.start AS start, x.end AS end, x.kind AS kind, x.name AS name,
                x.action AS action)), array()) AS steps
FROM run LEFT JOIN (SELECT run_id, collect_list(step) AS steps FROM steps GROUP BY run_id) s
  USING (run_id)
"""

SEQUENCE_DDL = "roles array<string>, n_steps bigint, unknown_steps bigint, parallel_blocks bigint"


def run_sequences(events: DataFrame, rules: Sequence[Rule]) -> DataFrame:
    """One row per run: synthetic, scenario, level, outcome, duration_ms and its role
    sequence (roles, n_steps, unknown_steps, parallel_blocks)."""
    from pyspark.sql import functions as F

    spark = events.sparkSession
    # The query reads the events several times: materialised once, the source is scanned once.
    events = events.localCheckpoint(eager=True)
    view = f"tl_steps_{id(events):x}"
    events.createOrReplaceTempView(view)
    try:
        runs = spark.sql(STEPS_SQL.format(events=view))
    finally:
        spark.catalog.dropTempView(view)
    frozen = list(rules)

    def sequence(steps):
        s = role_sequence(frozen, [(x.start, x.end, x.kind, x.name, x.action) for x in steps or []])
        return (s.roles, s.n_steps, s.unknown_steps, s.parallel_blocks)

    seq = F.udf(sequence, SEQUENCE_DDL)
    return runs.withColumn("s", seq("steps")).select(
        "run_id",
        "synthetic",
        "scenario",
        "scenario_level",
        "duration_ms",
        "outcome",
        "s.roles",
        "s.n_steps",
        "s.unknown_steps",
        "s.parallel_blocks",
    )


@dataclass
class SequenceGroup:
    """Real runs sharing one role sequence (mining and statistics work on these groups)."""

    roles: tuple[str, ...]
    runs: int
    finished: int
    succeeded: int
    steps: int
    duration_ms: float
    levels: set[str] = field(default_factory=set)
    scenarios: set[str] = field(default_factory=set)
    examples: list[str] = field(default_factory=list)


GROUP_SQL = """
SELECT roles, count(*) AS runs,
  count_if(outcome <> 'incomplete') AS finished,
  count_if(outcome IN ('success', 'success_with_recovery')) AS succeeded,
  sum(n_steps) AS steps, coalesce(sum(duration_ms), 0D) AS duration_ms,
  collect_set(scenario_level) AS levels, collect_set(scenario) AS scenarios,
  slice(array_sort(collect_list(run_id)), 1, {examples}) AS examples
FROM {runs} WHERE NOT synthetic AND size(roles) > 0 GROUP BY roles
"""


def sequence_groups(runs: DataFrame, examples: int) -> list[SequenceGroup]:
    spark = runs.sparkSession
    view = f"tl_seq_{id(runs):x}"
    runs.createOrReplaceTempView(view)
    try:
        rows = spark.sql(GROUP_SQL.format(runs=view, examples=max(examples, 1))).collect()
    finally:
        spark.catalog.dropTempView(view)
    return [
        SequenceGroup(
            tuple(r["roles"]),
            r["runs"],
            r["finished"],
            r["succeeded"],
            r["steps"],
            r["duration_ms"],
            set(r["levels"]),
            set(r["scenarios"]),
            list(r["examples"]),
        )
        for r in sorted(rows, key=lambda r: tuple(r["roles"]))
    ]


def mine(
    runs: DataFrame, min_support: float, max_length: int, min_length: int
) -> tuple[dict[tuple[str, ...], int], int]:
    """Frequent sequential patterns of the real runs' role sequences, filtered to the closed ones
    of at least min_length roles: {roles: runs containing them}, runs mined.

    PrefixSpan over the distinct sequences, each weighted by its runs (a few hundred distinct
    sequences stand for any number of runs): what Spark's `pyspark.ml.fpm.PrefixSpan` finds
    for these one-item itemsets (a pattern is frequent when at least ceil(min_support x runs)
    runs contain it), without a Spark job per prefix."""
    counts = {
        tuple(r["roles"]): int(r["n"])
        for r in runs.where("NOT synthetic AND size(roles) > 0")
        .groupBy("roles")
        .agg({"*": "count"})
        .withColumnRenamed("count(1)", "n")
        .collect()
    }
    n = sum(counts.values())
    if n == 0:
        return {}, 0
    min_count = math.ceil(min_support * n)
    return closed(prefix_span(counts, min_count, max_length), min_length), n


def prefix_span(
    sequences: dict[tuple[str, ...], int], min_count: int, max_length: int
) -> dict[tuple[str, ...], int]:
    """Every pattern (a subsequence, gaps allowed) of at most max_length items that at least
    min_count of the weighted sequences contain: {pattern: weight of the sequences containing
    it}. Depth-first over prefixes, each with its projected suffixes."""
    found: dict[tuple[str, ...], int] = {}

    def grow(prefix: tuple[str, ...], projected: list[tuple[tuple[str, ...], int]]) -> None:
        support: dict[str, int] = {}
        for suffix, weight in projected:
            for item in set(suffix):
                support[item] = support.get(item, 0) + weight
        for item, count in support.items():
            if count < max(min_count, 1):
                continue
            pattern = (*prefix, item)
            found[pattern] = count
            if len(pattern) < max_length:
                nxt = [(s[s.index(item) + 1 :], w) for s, w in projected if item in s]
                grow(pattern, [(s, w) for s, w in nxt if s])

    grow((), list(sequences.items()))
    return found


def closed(frequent: dict[tuple[str, ...], int], min_length: int) -> dict[tuple[str, ...], int]:
    """Patterns no frequent super-pattern (one role longer) matches with the same support."""
    by_length: dict[int, list[tuple[str, ...]]] = {}
    for p in frequent:
        by_length.setdefault(len(p), []).append(p)
    kept = {}
    for p, freq in frequent.items():
        if len(p) < min_length:
            continue
        longer = by_length.get(len(p) + 1, [])
        if not any(frequent[q] == freq and contains(q, p) for q in longer):
            kept[p] = freq
    return kept


def maximal(patterns: dict[tuple[str, ...], int], frequent_keys: Sequence[tuple[str, ...]]) -> set:
    return {
        p for p in patterns if not any(len(q) > len(p) and contains(q, p) for q in frequent_keys)
    }


def best_pattern(
    roles: Sequence[str], patterns: dict[tuple[str, ...], int]
) -> tuple[str, ...] | None:
    """The most specific pattern a sequence contains: the longest, then the most frequent,
    then the first by name (deterministic)."""
    best = None
    for p, freq in patterns.items():
        if not contains(roles, p):
            continue
        key = (len(p), freq, tuple(-ord(c) for c in pattern_name(p)))
        if best is None or key > best[0]:
            best = (key, p)
    return best[1] if best else None


def pattern_id(roles: Sequence[str]) -> str:
    return hashlib.sha256("\x1f".join(roles).encode()).hexdigest()[:16]


def describe(
    patterns: dict[tuple[str, ...], int],
    groups: list[SequenceGroup],
    runs_mined: int,
    min_support: float,
    confidence: float,
    examples: int,
) -> list[dict[str, Any]]:
    from .stats import wilson

    assigned: dict[tuple[str, ...], int] = {}
    for g in groups:
        best = best_pattern(g.roles, patterns)
        if best is not None:
            assigned[best] = assigned.get(best, 0) + g.runs
    tops = maximal(patterns, list(patterns))
    rows = []
    for p, freq in sorted(patterns.items(), key=lambda kv: (-kv[1], kv[0])):
        members = [g for g in groups if contains(g.roles, p)]
        runs = sum(g.runs for g in members)
        finished = sum(g.finished for g in members)
        succeeded = sum(g.succeeded for g in members)
        interval = wilson(succeeded, finished, confidence)
        sample = sorted(r for g in members for r in g.examples)[:examples]
        rows.append(
            {
                "pattern_id": pattern_id(p),
                "name": pattern_name(p),
                "roles": list(p),
                "length": len(p),
                "support": freq / runs_mined,
                "n_runs": freq,
                "closed": True,
                "maximal": p in tops,
                "assigned_runs": assigned.get(p, 0),
                "success_rate": succeeded / finished if finished else None,
                "success_low": interval[0] if interval else None,
                "success_high": interval[1] if interval else None,
                "mean_steps": sum(g.steps for g in members) / runs if runs else None,
                "mean_latency_ms": sum(g.duration_ms for g in members) / runs if runs else None,
                "levels": sorted({x for g in members for x in g.levels}),
                "scenarios": sorted({x for g in members for x in g.scenarios}),
                "example_run_ids": sample,
                "min_support": min_support,
                "runs_mined": runs_mined,
            }
        )
    return rows
