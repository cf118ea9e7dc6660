"""gold.dedup_index: curation of gold.examples between assembly and export: exact and
near-duplicate removal against a persistent index, and decontamination against the evaluation
tasks. See docs/curation.md.

Incremental and exactly once: a run reads only the gold.examples files added since its bookmark
(new examples, and examples re-assembled with new content), judges them against the kept examples
of the index (jobs/curate/dedup.py, no Spark) and commits their verdicts to gold.dedup_index with
the bookmark, in one Delta commit (the runner's). Export's sft dataset leaves out every example
whose latest verdict is not `kept`.

Two side tables are appended before that commit, each under its own app transaction keyed by
the same source version, so a retry after a crash between them re-computes the same verdicts
(the index does not hold them yet) and writes each side table at most once:
  - gold.dedup_clusters: per cluster the batch touched, the members it added and their rules;
  - gold.rejected: one row (stage `curate`) per dropped example, the reason code its verdict, the
    cluster id or the task ids in its reason.
A full run (`--full`) recomputes the index from all of gold.examples and replaces both.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracelake.schemas.curation import KEPT, STAGE

from ..lake import catalog, spark_io
from ..lake.store import Lake, read_data_file
from ..runner import JobInput, JobOutput
from .decontaminate import ContaminationIndex, evaluation_prompts
from .dedup import BatchResult, CurateConfig, History, Verdict, curate_batch
from .minhash import MinHashConfig
from .steps import StepConfig
from .text import HASH_VERSION, Trajectory, content_hashes, trajectories
from .verdicts import latest_verdicts

log = logging.getLogger("tracelake.curate.examples")

JOB_NAME = "curate_examples"
SOURCE = catalog.GOLD_EXAMPLES
OUTPUT = catalog.GOLD_DEDUP_INDEX
CLUSTERS = catalog.GOLD_DEDUP_CLUSTERS
REJECTED = catalog.GOLD_REJECTED
# The columns curation needs from gold.examples (never `record` or `tools`: large, not judged).
EXAMPLE_COLUMNS = (
    "example_id", "run_id", "synthetic", "outcome", "goal", "split", "messages", "steps",
    "event_ids",
)  # fmt: skip


def config_from(settings: Any) -> CurateConfig:
    c = settings.curate
    return CurateConfig(
        minhash=MinHashConfig(c.shingle_words, c.bands, c.rows_per_band, c.seed),
        near_threshold=c.near_threshold,
        max_text_chars=c.max_text_chars,
        steps=StepConfig(
            minhash=MinHashConfig(c.step_shingle_words, c.bands, c.rows_per_band, c.seed),
            near_threshold=c.step_near_threshold,
            max_compared=c.step_max_compared,
            common_examples=c.step_common_examples,
            common_share=c.step_common_share,
        ),
    )


def new_examples(lake: Lake, after: int | None, upto: int) -> list[dict[str, Any]]:
    """gold.examples rows in the files added after version `after` up to `upto` (all files of
    `upto` when `after` is None): new examples and re-assembled ones."""
    files = lake.files(SOURCE, version=upto)
    if after is not None:
        before = {f.uri for f in lake.files(SOURCE, version=after)}
        files = [f for f in files if f.uri not in before]
    parts = [read_data_file(f, SOURCE, list(EXAMPLE_COLUMNS), lake.storage_options) for f in files]
    return pa.concat_tables(parts).to_pylist() if parts else []


def history_of(latest: pa.Table, exclude: set[str], config: CurateConfig) -> History:
    """The kept examples of the index, less those being re-judged now."""
    if latest.num_rows:
        keep = pc.equal(latest["verdict"], KEPT)
        if exclude:
            keep = pc.and_(
                keep, pc.invert(pc.is_in(latest["example_id"], pa.array(sorted(exclude))))
            )
        latest = latest.filter(keep)
    n, hashes, bands = latest.num_rows, config.minhash.num_hashes, config.minhash.bands
    signatures = np.zeros((n, hashes), dtype=np.uint32)
    band_keys = np.zeros((n, bands), dtype=np.uint64)
    has = np.zeros(n, dtype=bool)
    if n:
        # Column-wise: rows whose lists have the configured lengths, flattened into matrices.
        sig_col = latest["signature"].combine_chunks()
        key_col = latest["band_keys"].combine_chunks()
        sig_len = pc.fill_null(pc.list_value_length(sig_col), 0)
        key_len = pc.fill_null(pc.list_value_length(key_col), 0)
        has = np.asarray(pc.and_(pc.equal(sig_len, hashes), pc.equal(key_len, bands)), dtype=bool)
        rows = pa.array(np.flatnonzero(has))
        flat_sigs = sig_col.take(rows).flatten().to_numpy(zero_copy_only=False)
        flat_keys = key_col.take(rows).flatten().to_numpy(zero_copy_only=False)
        signatures[has] = flat_sigs.astype(np.int64).astype(np.uint32).reshape(-1, hashes)
        band_keys[has] = flat_keys.astype(np.int64).view(np.uint64).reshape(-1, bands)
    return History(
        example_ids=latest["example_id"].to_pylist(),
        cluster_ids=[
            c or e
            for c, e in zip(
                latest["cluster_id"].to_pylist(), latest["example_id"].to_pylist(), strict=True
            )
        ],
        splits=latest["split"].to_pylist(),
        run_ids=latest["run_id"].to_pylist(),
        content_hashes=latest["content_hash"].to_pylist(),
        signatures=signatures,
        band_keys=band_keys,
        has_signature=has,
    )


def _stable_id(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def index_scheme(config: CurateConfig) -> str:
    """What an index row's content hash, signature and band keys depend on: rows made under
    another scheme cannot be compared with this run's."""
    return f"{HASH_VERSION}+{config.minhash.scheme}"


def stale_schemes(latest: pa.Table, scheme: str) -> dict[str, int]:
    """Latest index rows per scheme other than `scheme` (null: rows from before schemes)."""
    if latest.num_rows == 0:
        return {}
    counts = pc.value_counts(latest["scheme"]).to_pylist()
    return {
        str(c["values"]) if c["values"] is not None else "(none recorded)": c["counts"]
        for c in counts
        if c["values"] != scheme
    }


def index_rows(verdicts: list[Verdict], batch_version: int, scheme: str) -> pa.Table:
    rows = [
        {
            "example_id": v.example_id,
            "run_id": v.run_id,
            "split": v.split,
            "verdict": v.verdict,
            "cluster_id": v.cluster_id,
            "content_hash": v.content_hash,
            "signature": None if v.signature is None else v.signature.astype(np.int64).tolist(),
            "band_keys": None if v.band_keys is None else v.band_keys.view(np.int64).tolist(),
            "detail": v.detail,
            "flags": v.flags,
            "batch_version": batch_version,
            "scheme": scheme,
        }
        for v in verdicts
    ]
    return pa.Table.from_pylist(rows, OUTPUT.schema)


def cluster_rows(verdicts: list[Verdict], history: History, batch_version: int) -> pa.Table:
    """One row per cluster this batch added members to."""
    reps: dict[str, tuple[str, str]] = {}  # example_id -> (run_id, split) of representatives
    for eid, rid, split in zip(history.example_ids, history.run_ids, history.splits, strict=True):
        reps[eid] = (rid, split)
    for v in verdicts:
        if v.verdict == KEPT:
            reps[v.example_id] = (v.run_id, v.split)
    members: dict[str, list[Verdict]] = {}
    for v in verdicts:
        if v.representative is not None and v.cluster_id is not None:
            members.setdefault(v.cluster_id, []).append(v)
    rows = []
    for cluster, added in sorted(members.items()):
        rep = added[0].representative or cluster
        run_id, split = reps.get(rep, ("", ""))
        rows.append(
            {
                "cluster_row_id": _stable_id(cluster, str(batch_version)),
                "cluster_id": cluster,
                "representative": rep,
                "representative_run_id": run_id,
                "split": split,
                "members": [v.example_id for v in added],
                "rules": [v.verdict for v in added],
                "batch_version": batch_version,
            }
        )
    return pa.Table.from_pylist(rows, CLUSTERS.schema)


def rejected_rows(verdicts: list[Verdict], source_versions: str, skip_runs: set[str]) -> pa.Table:
    """gold.rejected rows (stage `curate`) of the dropped examples; a run that already has one
    (an example re-judged after a late event) keeps its first."""
    rows = [
        {
            "reject_id": _stable_id(STAGE, v.run_id),
            "stage": STAGE,
            "run_id": v.run_id,
            "synthetic": v.synthetic,
            "reason_code": v.verdict,
            "reason": v.detail or v.verdict,
            "event_ids": v.event_ids,
            "source_versions": source_versions,
        }
        for v in verdicts
        if v.verdict != KEPT and v.run_id not in skip_runs
    ]
    return pa.Table.from_pylist(rows, REJECTED.schema)


def _replace_rows(
    lake: Lake, spec: catalog.TableSpec, predicate: str | None, data: pa.Table
) -> None:
    """A full run's side write: delete this job's rows, then append the new ones. Delete then
    append is idempotent as a pair, so a retry after a crash between them ends the same."""
    table = lake.ensure(spec)
    if predicate is None:
        table.delete()
    else:
        table.delete(predicate)
    if data.num_rows:
        lake.append(spec, data, metadata={"job": JOB_NAME, "mode": "full"})


def _details(result: BatchResult, skipped_unchanged: int, stale: dict[str, int]) -> dict[str, Any]:
    counts = result.counts
    details = {
        "examples_judged": counts["examples"],
        "by_rule": counts["by_verdict"],
        "contaminated_by_task": counts["contaminated_by_task"],
        "bad_input": counts["bad_input"],
        "near_check_skipped": counts["near_check_skipped"],
        "steps": counts["steps"],
        "unchanged_skipped": skipped_unchanged,
    }
    if stale:
        details["recurated_for_scheme"] = stale
    by_rule = counts["by_verdict"]
    dropped = sum(n for k, n in by_rule.items() if k != KEPT)
    details["note"] = (
        f"curated {counts['examples']}: kept {by_rule.get(KEPT, 0)}, dropped {dropped} ("
        + ", ".join(f"{k} {n}" for k, n in sorted(by_rule.items()) if k != KEPT)
        + ")"
    )
    # The runner keeps details as JSON in ops.job_runs.
    return json.loads(json.dumps(details))


@dataclass(frozen=True)
class CurateExamples:
    name: str = JOB_NAME
    sources: tuple = (SOURCE,)
    output: catalog.TableSpec = OUTPUT
    description: str = "Exact/near-duplicate removal and decontamination of gold.examples."

    def compute(self, job: JobInput) -> JobOutput:
        lake, settings = job.ctx.lake, job.ctx.settings
        config = config_from(settings)
        scheme = index_scheme(config)
        source = job.range(SOURCE)
        full = job.full or source.is_full
        # An index made before this column existed gets it (null in its rows) on both engines.
        lake.add_missing_columns(OUTPUT)
        latest = latest_verdicts(lake) if not full else pa.table({})
        stale = stale_schemes(latest, scheme)
        if stale:
            # Hashes and signatures of another scheme cannot be compared with this run's:
            # every example is judged again, as `--full` would.
            log.warning(
                "gold.dedup_index holds rows of another scheme (%s); this build uses %s: "
                "re-curating every example",
                ", ".join(f"{k}: {n}" for k, n in stale.items()),
                scheme,
            )
            full, latest = True, pa.table({})
        rows = new_examples(lake, None if full else source.after, source.upto)

        # A row whose example already has a verdict for the same content is unchanged (its file
        # was rewritten around another example): it is not judged again.
        known: dict[str, str] = {}
        if latest.num_rows:
            known = dict(
                zip(
                    latest["example_id"].to_pylist(),
                    latest["content_hash"].to_pylist(),
                    strict=True,
                )
            )
        seen = [row for row in rows if str(row["example_id"]) in known]
        # A row whose trajectory cannot be read is judged (and counted) as curation_error.
        readable = [
            (str(row["example_id"]), t.text)
            for row, t in zip(seen, trajectories(seen, config.max_text_chars), strict=True)
            if isinstance(t, Trajectory)
        ]
        digests = content_hashes([text for _, text in readable])
        same_content = {
            eid for (eid, _), digest in zip(readable, digests, strict=True) if digest == known[eid]
        }
        fresh = [row for row in rows if str(row["example_id"]) not in same_content]
        unchanged = len(rows) - len(fresh)
        rejudged = {str(r["example_id"]) for r in fresh} & set(known)
        history = (
            history_of(latest, rejudged, config)
            if latest.num_rows
            else History(
                signatures=np.zeros((0, config.minhash.num_hashes), dtype=np.uint32),
                band_keys=np.zeros((0, config.minhash.bands), dtype=np.uint64),
            )
        )
        contamination = ContaminationIndex.build(
            evaluation_prompts(settings.curate.benchmark_files),
            settings.curate.decontamination_ngram,
        )
        result = curate_batch(fresh, history, config, contamination)

        versions = json.dumps({SOURCE.qualified_name: source.upto}, sort_keys=True)
        clusters = cluster_rows(result.verdicts, history, source.upto)
        if job.full or stale:  # a rebuild: this job's side rows are replaced (a first run appends)
            _replace_rows(lake, CLUSTERS, None, clusters)
            _replace_rows(
                lake,
                REJECTED,
                f"stage = '{STAGE}'",
                rejected_rows(result.verdicts, versions, set()),
            )
        else:
            txn = (JOB_NAME, source.upto)
            if clusters.num_rows:
                lake.append(CLUSTERS, clusters, app_txn=txn, metadata={"job": JOB_NAME})
            already = set()
            if rejudged:
                held = lake.read(REJECTED, columns=["stage", "run_id"])
                already = {r["run_id"] for r in held.to_pylist() if r["stage"] == STAGE}
            rejected = rejected_rows(result.verdicts, versions, already)
            if rejected.num_rows:
                lake.append(REJECTED, rejected, app_txn=txn, metadata={"job": JOB_NAME})

        data = spark_io.from_arrow(job.spark, index_rows(result.verdicts, source.upto, scheme))
        return JobOutput(
            data, mode="overwrite" if full else "append", details=_details(result, unchanged, stale)
        )


JOB = CurateExamples()
