"""Which commits vouch for a table version's row-level rules (jobs/quality/commit_checks.py), on
real Delta tables written by the lake: a gate may skip running those rules only when every row
of the version was written by a commit that ran the row filter under today's rules."""

from __future__ import annotations

import os

import pyarrow as pa
from deltalake import CommitProperties

from tracelake.jobs.lake import catalog
from tracelake.jobs.quality.commit_checks import checked_by_commits
from tracelake.jobs.quality.rows import checked_metadata, rules_id

from .conftest import example_rows

SPEC = catalog.GOLD_EXAMPLES
TABLE = SPEC.qualified_name


def _rows(n: int, seed: int) -> pa.Table:
    return pa.Table.from_pylist(example_rows(n, seed), SPEC.schema)


def _checked(ctx, n: int = 4, seed: int = 1) -> int:
    version = ctx.lake.append(SPEC, _rows(n, seed), metadata=checked_metadata(TABLE, carried=False))
    assert version is not None
    return version


def _covering(ctx):
    return checked_by_commits(ctx.lake, SPEC, ctx.lake.version(SPEC), rules_id(TABLE))


def test_checked_appends_vouch_for_the_version_and_an_unchecked_one_does_not(ctx):
    first, second = _checked(ctx, seed=1), _checked(ctx, seed=2)
    assert _covering(ctx) == [second, first]
    # an older version is judged by its own files
    assert checked_by_commits(ctx.lake, SPEC, first, rules_id(TABLE)) == [first]
    ctx.lake.append(SPEC, _rows(2, 3))  # a plain write: nobody ran the row filter
    assert _covering(ctx) is None


def test_other_rules_do_not_vouch(ctx):
    ctx.lake.append(
        SPEC,
        _rows(3, 1),
        metadata={"row_rules_checked": f"{TABLE}@000000000000", "row_rules_carried": "0"},
    )
    assert _covering(ctx) is None
    # the id depends on the contract: another table's rules are other rules
    assert rules_id(TABLE) != rules_id("gold.preferences")


def test_a_compaction_passes_the_question_on_to_the_files_it_replaced(ctx):
    first, second = _checked(ctx, seed=1), _checked(ctx, seed=2)
    table = ctx.lake.table(SPEC)
    table.optimize.compact()
    compacted = ctx.lake.version(SPEC)
    assert compacted == second + 1
    assert _covering(ctx) == [compacted, second, first]

    ctx.lake.append(SPEC, _rows(2, 3))  # unchecked rows, then compacted with the checked ones
    ctx.lake.table(SPEC).optimize.compact()
    assert _covering(ctx) is None


def test_a_rewrite_carrying_rows_needs_their_own_commits_checked(ctx):
    _checked(ctx, seed=1)
    carried = CommitProperties(custom_metadata=checked_metadata(TABLE, carried=True))
    ctx.lake.table(SPEC).delete("example_id = 'ex-0001'", commit_properties=carried)
    assert _covering(ctx) is not None and len(_covering(ctx)) == 2

    # the same rewrite over unchecked rows: the kept rows were never checked
    ctx.lake.append(SPEC, _rows(3, 5))
    ctx.lake.table(SPEC).delete("example_id = 'ex-0002'", commit_properties=carried)
    assert _covering(ctx) is None


def test_a_rewrite_without_metadata_is_unchecked_and_a_checked_overwrite_is_not(ctx):
    _checked(ctx, seed=1)
    ctx.lake.table(SPEC).delete("example_id = 'ex-0001'")  # e.g. an erasure's rewrite
    assert _covering(ctx) is None
    # an overwrite whose commit checked all it writes vouches alone
    from deltalake import write_deltalake

    write_deltalake(
        ctx.lake.table(SPEC),
        _rows(3, 9),
        mode="overwrite",
        commit_properties=CommitProperties(custom_metadata=checked_metadata(TABLE, carried=False)),
    )
    assert _covering(ctx) == [ctx.lake.version(SPEC)]


def test_a_commit_file_gone_from_the_log_means_unknown(ctx):
    first = _checked(ctx, seed=1)
    last = _checked(ctx, seed=2)
    # log cleanup: a checkpoint, then the commit files before it go
    ctx.lake.table(SPEC).create_checkpoint()
    for version in range(last):
        os.remove(f"{ctx.lake.uri(SPEC)}/_delta_log/{version:020d}.json")
    assert ctx.lake.count(SPEC) == 8  # the table still reads
    assert first < last and _covering(ctx) is None


def test_an_empty_version_needs_no_commit(ctx):
    ctx.lake.ensure(SPEC)
    assert _covering(ctx) == []


def test_a_file_re_added_without_a_remove_is_still_asked_about(ctx):
    """Delta lets a commit re-add a live file (`dataChange: false`, no remove) to update its
    statistics; that commit vouches for nothing, and the file's own commit still answers."""
    import json

    ctx.lake.append(SPEC, _rows(2, 3))  # unchecked rows
    _checked(ctx, seed=1)
    version = ctx.lake.version(SPEC)
    add = next(a["add"] for a in ctx.lake.commit_actions(SPEC, version - 1) if "add" in a)
    readd = {**add, "dataChange": False}
    log = f"{ctx.lake.uri(SPEC)}/_delta_log/{version + 1:020d}.json"
    with open(log, "w") as out:
        out.write(json.dumps({"commitInfo": {"operation": "COMPUTE STATS"}}) + "\n")
        out.write(json.dumps({"add": readd}) + "\n")
    assert ctx.lake.version(SPEC) == version + 1
    assert _covering(ctx) is None


def test_a_table_that_cannot_be_opened_is_unknown(ctx):
    assert checked_by_commits(ctx.lake, SPEC, 0, rules_id(TABLE)) is None
