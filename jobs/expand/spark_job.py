"""The expansion as Spark jobs: `mapInArrow` over seed runs (rows of silver.runs), one output
table per job (events, lineage rows, rejected candidates). The three jobs run the same pure,
deterministic `expand_run` per seed, so each table is complete on its own and they agree.

The environment runs with the component figures fitted from real runs
(`fit_source`: silver.component_usage, real runs only), and every row records the fingerprint
of that fit (synthetic_runs and synthetic_rejected in `fit_fingerprint`, events in the
run_started event's attributes).

Full run: every finished, non-synthetic run of silver.runs at the source version; overwrite.
Incremental run: the silver.runs rows written since the bookmark, minus seeds this job's table
already holds (a seed is expanded once; a late event that rewrites its row does not expand it
again), appended. When the fit's fingerprint differs from the one(s) the table's rows record
(or the table records none), the run re-expands in full instead and says so: rows made with
other figures would otherwise stay, and incremental would no longer equal full.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ..environment.fitting import EnvironmentFit
from ..lake import catalog, spark_io
from ..runner import JobInput, JobOutput
from ..settings import ExpandSettings
from . import fit_source
from .episode import EXPANDER
from .expander import Expansion, check_settings, expand_run

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

SEED_COLUMNS = ("run_id", "goal", "scenario", "scenario_level", "source", "outcome", "steps")
KINDS = ("events", "runs", "rejected")
REEXPANDED = "re-expanded in full (the fitted component figures changed: {was} -> {now})"


def seed_events(row: dict[str, Any]) -> list[dict[str, Any]]:
    """A silver.runs row back to the event dicts lifting needs."""
    events = []
    for step in row.get("steps") or []:
        e = {
            "run_id": row["run_id"],
            "seq": step["seq"],
            "ts": step["ts"].isoformat() if isinstance(step["ts"], datetime) else step["ts"],
            "event_type": step["event_type"],
            "component_name": step.get("component"),
            "component_version": step.get("version"),
        }
        events.append(e)
    if events and row.get("goal"):
        events[0]["goal"] = row["goal"]
    return events


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def event_rows(expansion: Expansion, gen_seed: int) -> list[dict[str, Any]]:
    rows = []
    for events, _ in expansion.accepted:
        ingested = _ts(events[0]["ts"])
        for e in events:
            ts = _ts(e["ts"])
            body = json.dumps(e, sort_keys=True, ensure_ascii=False)
            rows.append(
                {
                    **{
                        k: e.get(k)
                        for k in catalog.BRONZE_EVENTS.schema.names
                        if k
                        not in (
                            "ts",
                            "content_hash",
                            "batch_id",
                            "ingested_at",
                            "event_date",
                            "attributes",
                            "schema_version",
                        )
                    },
                    "ts": ts,
                    "attributes": list(e.get("attributes", {}).items()),
                    "schema_version": 1,
                    "content_hash": hashlib.sha256(body.encode()).hexdigest(),
                    "batch_id": f"expand-{gen_seed}",
                    "ingested_at": ingested,
                    "event_date": ts.date(),
                }
            )
    return rows


def rows_for(kind: str, expansion: Expansion, gen_seed: int) -> list[dict[str, Any]]:
    """This job's rows of one seed's expansion."""
    if kind == "events":
        return event_rows(expansion, gen_seed)
    if kind == "runs":
        return [row for _, row in expansion.accepted]
    return list(expansion.rejected)


def schema_for(kind: str) -> pa.Schema:
    return {
        "events": catalog.SILVER_SYNTHETIC_EVENTS,
        "runs": catalog.SILVER_SYNTHETIC_RUNS,
        "rejected": catalog.SILVER_SYNTHETIC_REJECTED,
    }[kind].schema


def expand_batches(
    kind: str, settings_json: str, fit_json: str = "{}"
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The mapInArrow function: seed rows in, this job's rows out (fit_json: the fitted
    figures, `EnvironmentFit.to_json`)."""

    def expand(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        settings = ExpandSettings.model_validate_json(settings_json)
        fit = EnvironmentFit.from_json(fit_json)
        schema = schema_for(kind)
        for batch in batches:
            rows: list[dict[str, Any]] = []
            for seed in batch.to_pylist():
                expansion = expand_run(seed_events(seed), settings, fit)
                rows.extend(rows_for(kind, expansion, settings.seed))
            if rows:
                yield pa.RecordBatch.from_pylist(rows, schema=schema)

    return expand


def _done_seeds(job: JobInput, kind: str) -> DataFrame | None:
    """Seed ids already in this job's output table (None when it has none)."""
    from pyspark.sql import functions as F

    spec = {
        "events": catalog.SILVER_SYNTHETIC_EVENTS,
        "runs": catalog.SILVER_SYNTHETIC_RUNS,
        "rejected": catalog.SILVER_SYNTHETIC_REJECTED,
    }[kind]
    if job.ctx.lake.version(spec) is None:
        return None
    if kind == "events":
        df = spark_io.read(job.spark, spec, lake=job.ctx.lake, columns=["event_type", "attributes"])
        return (
            df.where(F.col("event_type") == "run_started")
            .select(F.col("attributes")["seed_run_id"].alias("run_id"))
            .distinct()
        )
    df = spark_io.read(job.spark, spec, lake=job.ctx.lake, columns=["seed_run_id"])
    return df.select(F.col("seed_run_id").alias("run_id")).distinct()


def _recorded_fingerprints(job: JobInput, kind: str) -> set[str | None]:
    """The fit fingerprints this job's table records (None: rows from before fitting)."""
    from pyspark.sql import functions as F

    spec = {
        "events": catalog.SILVER_SYNTHETIC_EVENTS,
        "runs": catalog.SILVER_SYNTHETIC_RUNS,
        "rejected": catalog.SILVER_SYNTHETIC_REJECTED,
    }[kind]
    if kind == "events":
        df = spark_io.read(job.spark, spec, lake=job.ctx.lake, columns=["event_type", "attributes"])
        df = df.where(F.col("event_type") == "run_started").select(
            F.col("attributes")["fit_fingerprint"].alias("fp")
        )
    else:
        df = spark_io.read(job.spark, spec, lake=job.ctx.lake, columns=["fit_fingerprint"])
        df = df.select(F.col("fit_fingerprint").alias("fp"))
    return {r["fp"] for r in df.distinct().collect()}


@dataclass(frozen=True)
class ExpandJob:
    """One of the three expansion jobs (see the module docstring)."""

    name: str
    output: catalog.TableSpec
    kind: str
    # component_usage: the fitted figures come from it (so it is built first)
    sources: tuple = (catalog.SILVER_RUNS, fit_source.SOURCE)

    def compute(self, job: JobInput) -> JobOutput:
        from pyspark.sql import functions as F

        settings = job.ctx.settings.expand
        check_settings(settings)
        runs = job.range(catalog.SILVER_RUNS)
        fit = fit_source.current_fit(job.spark, job.ctx.lake, job.range(fit_source.SOURCE).upto)
        full = job.full or runs.is_full
        details: dict[str, Any] = {
            "kind": self.kind,
            "gen_seed": settings.seed,
            "fit_fingerprint": fit.fingerprint,
            "fitted_versions": sorted(fit.overrides),
        }
        # A table written before fitting gains the column (its rows read as null).
        job.ctx.lake.add_missing_columns(self.output)
        if not full:
            recorded = _recorded_fingerprints(job, self.kind)
            if recorded != {fit.fingerprint}:
                full = True
                was = ", ".join(sorted(str(f or "none") for f in recorded)) or "none recorded"
                details["note"] = REEXPANDED.format(was=was, now=fit.fingerprint)
        seeds = spark_io.read(
            job.spark,
            catalog.SILVER_RUNS,
            lake=job.ctx.lake,
            columns=SEED_COLUMNS,
            version=runs.upto,
            after_version=None if full else runs.after,
        )
        seeds = seeds.where((F.col("outcome") != "incomplete") & (F.col("source") != EXPANDER))
        seeds = seeds.dropDuplicates(["run_id"])
        if not full:
            done = _done_seeds(job, self.kind)
            if done is not None:
                seeds = seeds.join(done, "run_id", "left_anti")
        out = seeds.mapInArrow(
            # The endpoint key stays out of the closure: executors read their environment.
            expand_batches(
                self.kind, settings.model_dump_json(exclude={"llm_api_key"}), fit.to_json()
            ),
            spark_io.spark_schema(schema_for(self.kind)),
        )
        return JobOutput(out, mode="overwrite" if full else "append", details=details)
