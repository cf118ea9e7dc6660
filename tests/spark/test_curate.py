"""The curate_examples job on a local lake: verdicts in gold.dedup_index, clusters, gold.rejected
rows, a second batch matched through the index, no-op and crash-retry exactly once, a full
rebuild, and the sft export leaving out what curation dropped."""

from __future__ import annotations

import copy
import random
from collections import Counter

import pytest

from tracelake.jobs import registry
from tracelake.jobs.curate import examples as curate
from tracelake.jobs.curate.verdicts import dropped_example_ids, summary
from tracelake.jobs.export.job import pin_versions, read_rows
from tracelake.jobs.gold.assemble import RunFacts, assemble
from tracelake.jobs.lake import catalog, spark_io
from tracelake.jobs.runner import run_job
from tracelake.jobs.simulate.runs import generate_runs
from tracelake.schemas.manifest import DatasetName

pytestmark = pytest.mark.usefixtures("spark")


def _examples(n: int) -> list[dict]:
    out = [assemble(run, RunFacts()).example for run in generate_runs(20260106, n)]
    return [e for e in out if e is not None]


def _copy(example: dict, tag: str) -> dict:
    out = copy.deepcopy(example)
    out["example_id"] = f"{tag}-{example['example_id']}"
    out["run_id"] = f"{tag}-{example['run_id']}"
    out["synthetic"] = True  # ordered after its origin: the origin stays the representative
    return out


def _index(ctx) -> list[dict]:
    return ctx.lake.read(catalog.GOLD_DEDUP_INDEX).to_pylist()


def test_curate_examples_is_a_registered_build_job():
    spec = registry.get("curate_examples")
    assert spec.reads == ("gold.examples",) and spec.writes == ("gold.dedup_index",)
    names = [s.name for s in registry.discover()]
    assert names.index("curate_examples") > names.index("gold_examples")


def test_curation_on_a_lake_incremental_exactly_once(ctx, spark, monkeypatch):
    base = _examples(30)
    rng = random.Random(2)
    first_copies = [_copy(e, f"a{i}") for i, e in enumerate(rng.sample(base, 4))]
    ctx.lake.append(catalog.GOLD_EXAMPLES, _table(base + first_copies))

    result = run_job(ctx, curate.JOB, spark=spark)
    assert result.status == "succeeded", result.message
    index = _index(ctx)
    assert len(index) == len(base) + len(first_copies)
    verdict = {r["example_id"]: r for r in index}
    for c in first_copies:
        assert verdict[c["example_id"]]["verdict"] == "duplicate_exact"
    by_rule = result.details["by_rule"]
    assert by_rule["duplicate_exact"] == len(first_copies)
    assert "duplicate_exact 4" in result.message
    rejected = [
        r for r in ctx.lake.read(catalog.GOLD_REJECTED).to_pylist() if r["stage"] == "curate"
    ]
    dropped = {r["example_id"] for r in index if r["verdict"] != "kept"}
    assert len(rejected) == len(dropped)
    clusters = ctx.lake.read(catalog.GOLD_DEDUP_CLUSTERS).to_pylist()
    assert sum(len(c["members"]) for c in clusters) == len(dropped)

    # nothing new: a no-op, nothing written
    assert run_job(ctx, curate.JOB, spark=spark).status == "noop"

    # batch 2: copies of batch-1 examples are found through the index, the batch-1 rows stay
    origins = rng.sample([e for e in base if verdict[e["example_id"]]["verdict"] == "kept"], 3)
    second = [_copy(e, f"b{i}") for i, e in enumerate(origins)]
    ctx.lake.append(catalog.GOLD_EXAMPLES, _table(second))

    # a crash after the side tables were written and before the index commit ...
    real_write = spark_io.write

    def crash(*args, **kwargs):
        raise RuntimeError("crash before the commit")

    monkeypatch.setattr(spark_io, "write", crash)
    with pytest.raises(RuntimeError, match="crash before the commit"):
        run_job(ctx, curate.JOB, spark=spark)
    monkeypatch.setattr(spark_io, "write", real_write)
    # ... and the retry: every side row once, every verdict once
    result = run_job(ctx, curate.JOB, spark=spark)
    assert result.status == "succeeded", result.message
    index2 = _index(ctx)
    assert len(index2) == len(index) + len(second)
    new = {r["example_id"]: r for r in index2 if r["batch_version"] != index[0]["batch_version"]}
    for c, o in zip(second, origins, strict=True):
        assert new[c["example_id"]]["verdict"] == "duplicate_exact"
        assert new[c["example_id"]]["cluster_id"] == o["example_id"]
    rejected2 = [
        r for r in ctx.lake.read(catalog.GOLD_REJECTED).to_pylist() if r["stage"] == "curate"
    ]
    assert len(rejected2) == len(rejected) + len(second)
    assert len({r["reject_id"] for r in rejected2}) == len(rejected2)
    clusters2 = ctx.lake.read(catalog.GOLD_DEDUP_CLUSTERS).to_pylist()
    assert sum(len(c["members"]) for c in clusters2) == len(dropped) + len(second)

    # export: sft leaves out every dropped example, and pins the index version it read
    versions = pin_versions(ctx.lake, DatasetName.sft)
    assert "gold.dedup_index" in versions
    exported = set(read_rows(ctx.lake, DatasetName.sft, versions)["example_id"].to_pylist())
    all_dropped = dropped_example_ids(ctx.lake)
    assert all_dropped and not (exported & all_dropped)
    assert len(exported) == len(base) + len(first_copies) + len(second) - len(all_dropped)

    # a full rebuild gives the same verdicts and replaces the side rows (none twice)
    assert run_job(ctx, curate.JOB, full=True, spark=spark).status == "succeeded"
    rebuilt = {r["example_id"]: r["verdict"] for r in _index(ctx)}
    assert {k for k, v in rebuilt.items() if v != "kept"} == all_dropped
    rejected3 = [
        r for r in ctx.lake.read(catalog.GOLD_REJECTED).to_pylist() if r["stage"] == "curate"
    ]
    assert len(rejected3) == len(all_dropped)

    # tracelake report's curation table: examples by rule
    # (a full rebuild judges in another order than the batches did, so an exact copy of an
    # example that is itself a near duplicate can become a near duplicate of what was kept)
    by_rule = {k: v for k, v in summary(ctx.lake).items() if k.startswith("rule: ")}
    assert by_rule == {f"rule: {v}": n for v, n in Counter(rebuilt.values()).items()}
    assert sum(n for k, n in by_rule.items() if k != "rule: kept") == len(all_dropped)


def _table(rows: list[dict]):
    import pyarrow as pa

    return pa.Table.from_pylist(rows, catalog.GOLD_EXAMPLES.schema)


def test_an_index_of_another_scheme_is_recurated_in_full(ctx, spark, monkeypatch):
    base = _examples(12)
    copies = [_copy(e, f"c{i}") for i, e in enumerate(base[:3])]
    ctx.lake.append(catalog.GOLD_EXAMPLES, _table(base + copies))
    old = "norm1+kperm1/5-word/14x8/seed-1"
    monkeypatch.setattr(curate, "index_scheme", lambda config: old)
    assert run_job(ctx, curate.JOB, spark=spark).status == "succeeded"
    assert {r["scheme"] for r in _index(ctx)} == {old}
    monkeypatch.undo()

    # A build after an upgrade, with one new example: the old rows cannot be compared with new
    # ones, so every example is judged again and the side rows are replaced, none twice.
    later = [_copy(base[3], "late")]
    ctx.lake.append(catalog.GOLD_EXAMPLES, _table(later))
    result = run_job(ctx, curate.JOB, spark=spark)
    assert result.status == "succeeded", result.message
    assert result.details["recurated_for_scheme"] == {old: len(base) + len(copies)}
    index = _index(ctx)
    assert {r["scheme"] for r in index} == {curate.index_scheme(curate.config_from(ctx.settings))}
    assert len(index) == len(base) + len(copies) + len(later)
    dropped = {r["example_id"]: r["run_id"] for r in index if r["verdict"] != "kept"}
    assert {c["example_id"] for c in copies + later} <= set(dropped)
    rejected = [
        r for r in ctx.lake.read(catalog.GOLD_REJECTED).to_pylist() if r["stage"] == "curate"
    ]
    assert sorted(r["run_id"] for r in rejected) == sorted(dropped.values())


def test_an_index_written_before_schemes_gains_the_column_and_is_recurated(ctx, spark):
    import pyarrow as pa
    from deltalake import write_deltalake

    base = _examples(6)
    ctx.lake.append(catalog.GOLD_EXAMPLES, _table(base))
    assert run_job(ctx, curate.JOB, spark=spark).status == "succeeded"
    # The same index as a build before this column existed left it.
    rows = pa.Table.from_pylist(_index(ctx)).drop_columns(["scheme"])
    old_schema = pa.schema([f for f in catalog.GOLD_DEDUP_INDEX.schema if f.name != "scheme"])
    write_deltalake(
        ctx.lake.uri(catalog.GOLD_DEDUP_INDEX),
        rows.cast(old_schema),
        mode="overwrite",
        schema_mode="overwrite",
        storage_options=ctx.lake.storage_options,
    )
    assert "scheme" not in ctx.lake.read(catalog.GOLD_DEDUP_INDEX).column_names or all(
        v is None for v in ctx.lake.read(catalog.GOLD_DEDUP_INDEX)["scheme"].to_pylist()
    )
    ctx.lake.append(catalog.GOLD_EXAMPLES, _table([_copy(base[0], "again")]))
    result = run_job(ctx, curate.JOB, spark=spark)
    assert result.status == "succeeded", result.message
    assert result.details["recurated_for_scheme"] == {"(none recorded)": len(base)}
    index = _index(ctx)
    assert len(index) == len(base) + 1
    assert {r["scheme"] for r in index} == {curate.index_scheme(curate.config_from(ctx.settings))}


def test_an_example_rewritten_with_the_same_content_is_not_judged_again(ctx, spark):
    base = _examples(6)
    ctx.lake.append(catalog.GOLD_EXAMPLES, _table(base))
    assert run_job(ctx, curate.JOB, spark=spark).status == "succeeded"
    before = len(_index(ctx))
    # The same examples in a new file (assembly rewrote the file around a late event), one of
    # them with new content.
    changed = copy.deepcopy(base[0])
    changed["goal"] = changed["goal"] + " and compare it with last year's"
    ctx.lake.append(catalog.GOLD_EXAMPLES, _table([changed, *base[1:]]))
    result = run_job(ctx, curate.JOB, spark=spark)
    assert result.status == "succeeded", result.message
    assert result.details["unchanged_skipped"] == len(base) - 1
    assert result.details["examples_judged"] == 1
    assert len(_index(ctx)) == before + 1
