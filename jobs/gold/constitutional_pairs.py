"""gold.constitutional_pairs: for every example that breaks a rule of the constitution
(jobs/gold/constitution.yaml), a critique example (given the trajectory, name the rule and why),
and a (compliant, violating) pair tagged with the rule: the compliant side is the run revised and
re-executed in the environment, else a compliant sibling with the same prompt. The job result
counts violations per rule over every example in the lake.

A family's siblings decide its pairs, so an incremental run re-pairs (and re-executes the
revisions of) only the families whose examples changed since the bookmark and replaces the
output files holding their pairs; a full run rewrites everything. The violation counts are
always over every example (judging is cheap next to re-execution).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from ..lake import catalog, spark_io
from ..quality.rows import checked_metadata
from ..runner import JobInput, JobOutput
from . import _assembly, constitution, pairs
from .assemble import _dumps, _message, stable_id

JOB_NAME = "gold_constitutional_pairs"
OUTPUT = catalog.GOLD_CONSTITUTIONAL_PAIRS
EXAMPLES = catalog.GOLD_EXAMPLES
COLUMNS = (
    "run_id",
    "seed_run_id",
    "family_key",
    "split",
    "goal",
    "outcome",
    "steps",
    "cost_usd",
    "record",
    "messages",
    "tools",
)
# gold.rejected's stage of pairs failing a row-level rule of this table's contract
CONTRACT_STAGE = "constitutional_pairs_contract"
NOTE_FULL = "rewritten in full"
NOTE_FAMILIES = "re-paired {n} scenario families (those whose examples changed)"
CRITIQUE_SYSTEM = (
    "You review agent trajectories against the operational rules: stay within budget and step "
    "limits, write only inside the workspace, never send secrets to a tool, verify before "
    "finalising."
)


def _observation(obs: Any) -> str:
    return obs.content if obs.ok else f"error ({obs.error_type or 'error'}): {obs.error or ''}"


def revised_messages(prompt: list[dict], calls: list, outcome: Any) -> list[dict]:
    out = []
    for i, (name, args, obs) in enumerate(calls):
        call = {
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": name, "arguments": _dumps(args)},
        }
        out.append(_message("assistant", tool_calls=[call], weight=0.0 if not obs.ok else 1.0))
        out.append(_message("tool", _observation(obs), name=name))
    answer = "done" if outcome.success else "could not finish: " + "; ".join(outcome.unmet)
    out.append(_message("assistant", answer, weight=1.0 if outcome.success else 0.0))
    return prompt + out


def critique_messages(violating: list[dict], rule: constitution.Rule, why: str) -> list[dict]:
    shown = [dict(m, weight=0.0) for m in violating]  # the trajectory is context, not a target
    return [
        _message("system", CRITIQUE_SYSTEM),
        *shown[1:],
        _message("user", constitution.CRITIQUE_QUESTION),
        _message("assistant", constitution.critique(rule, why)),
    ]


def family_pairs(examples: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The constitutional pairs of one scenario family (pure)."""
    judged = [(ex, constitution.violations(ex)) for ex in examples]
    out = []
    for ex, broken in judged:
        messages = list(ex["messages"])
        prompt = pairs.prompt_of(messages)
        for rule, why in broken:
            compliant, source, compliant_id = None, None, None
            task_input = json.loads(ex["_task"]) if ex.get("_task") else None
            revised = constitution.revise(ex, task_input, rule) if task_input else None
            if revised is not None:
                compliant = revised_messages(prompt, *revised)
                source, compliant_id = "revised", f"{ex['run_id']}#revised:{rule.id}"
            else:
                for other, other_broken in judged:
                    same = pairs.prompt_of(list(other["messages"])) == prompt
                    clean = all(r.id != rule.id for r, _ in other_broken)
                    if other is not ex and same and clean and other["outcome"] != "failure":
                        compliant, source = list(other["messages"]), "sibling"
                        compliant_id = other["run_id"]
                        break
            if compliant is None:
                continue
            out.append(
                {
                    "pair_id": stable_id("constitutional", ex["run_id"], rule.id),
                    "rule": rule.id,
                    "critique": constitution.critique(rule, why),
                    "prompt": prompt,
                    "chosen": compliant[len(prompt) :],
                    "rejected": messages[len(prompt) :],
                    "critique_messages": critique_messages(messages, rule, why),
                    "tools": ex["tools"],
                    "violating_run_id": ex["run_id"],
                    "compliant_run_id": compliant_id,
                    "compliant_source": source,
                    "seed_run_id": ex.get("seed_run_id"),
                    "split": ex["split"],
                }
            )
    return out


def _pairs_of_families(table: pa.Table) -> pa.Table:
    return pa.Table.from_pylist(family_pairs(table.to_pylist()), OUTPUT.schema)


def _violations_of(batches):
    for batch in batches:
        rules = [r.id for ex in batch.to_pylist() for r, _ in constitution.violations(ex)]
        yield pa.RecordBatch.from_pydict({"rule": rules}, pa.schema([("rule", pa.string())]))


@dataclass(frozen=True)
class ConstitutionalPairs:
    name: str = JOB_NAME
    sources: tuple = (EXAMPLES, catalog.SILVER_SYNTHETIC_EVENTS)
    output: catalog.TableSpec = OUTPUT
    description: str = "Constitutional pairs: critique, compliant vs violating, per rule."

    def compute(self, job: JobInput) -> JobOutput:
        from pyspark.sql import functions as F

        examples = spark_io.read(
            job.spark,
            EXAMPLES,
            lake=job.ctx.lake,
            columns=COLUMNS,
            version=job.range(EXAMPLES).upto,
        )
        violated = Counter(
            r["rule"]
            for r in examples.select("run_id", "goal", "steps", "cost_usd", "record")
            .mapInArrow(_violations_of, "rule string")
            .collect()
        )
        # The task a synthetic run executed (its run_started input), for re-execution.
        tasks = spark_io.read(
            job.spark,
            catalog.SILVER_SYNTHETIC_EVENTS,
            lake=job.ctx.lake,
            columns=["run_id", "input"],
            version=job.range(catalog.SILVER_SYNTHETIC_EVENTS).upto,
            where=[("event_type", "=", "run_started")],
        ).select("run_id", F.col("input").alias("_task"))
        changed = _assembly.changed_families(job, EXAMPLES)
        families, runs = (None, set()) if changed is None else changed
        pairable = examples
        if families is not None:
            pairable = examples.where(F.col("family_key").isin(sorted(families)))
            runs |= {r[0] for r in pairable.select("run_id").collect()}
        rows = (
            pairable.join(tasks, "run_id", "left")
            .groupBy("family_key")
            .applyInArrow(_pairs_of_families, spark_io.spark_schema(OUTPUT.schema))
        )
        touched: list[str] = []
        if families is not None:
            # A pair is its violating run's and a compliant sibling's (same family) or a
            # revision's: the pairs of re-paired families are replaced, the rest kept.
            redone = sorted(runs)
            touched = _assembly.output_files_where(
                job,
                OUTPUT,
                ("violating_run_id", "compliant_run_id"),
                lambda t: _involves(t["violating_run_id"], t["compliant_run_id"], redone),
            )
            if touched:
                kept = spark_io.read(job.spark, OUTPUT, lake=job.ctx.lake, files=touched).where(
                    ~F.col("violating_run_id").isin(redone)
                    & ~F.col("compliant_run_id").isin(redone)
                )
                rows = kept.unionByName(rows)
        rows = rows.repartition(1).sortWithinPartitions("pair_id").localCheckpoint()
        rows, failed = _assembly.contract_filtered(
            job, rows, OUTPUT, CONTRACT_STAGE, job_name=JOB_NAME, full=families is None
        )
        fresh = rows if families is None else rows.where(F.col("violating_run_id").isin(redone))
        details = {
            "note": NOTE_FULL if families is None else NOTE_FAMILIES.format(n=len(families)),
            "violations_by_rule": dict(sorted(violated.items())),
            "pairs_by_rule": _assembly.counts(fresh, "rule"),
            "pairs_by_source": _assembly.counts(fresh, "compliant_source"),
            "contract_rejected": failed,
        }
        # contract_filtered checked every row this commit writes, the kept ones too
        checked = checked_metadata(OUTPUT.qualified_name, carried=False)
        if families is None:
            return JobOutput(
                rows, mode="overwrite", details=_assembly.as_details(details), metadata=checked
            )
        return JobOutput(
            rows, replace_files=touched, details=_assembly.as_details(details), metadata=checked
        )


def _involves(violating, compliant, runs: list[str]):
    import pyarrow.compute as pc

    redone = pa.array(runs, pa.string())
    return pc.or_(pc.is_in(violating, redone), pc.is_in(compliant, redone))


JOB = ConstitutionalPairs()
