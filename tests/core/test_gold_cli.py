"""`tracelake feedback` and `tracelake show example` on a local lake (no Spark involved)."""

from __future__ import annotations

import pyarrow as pa
import pytest
from gold_runs import bad_runs, recovery_run

from tracelake.jobs.errors import ConfigError
from tracelake.jobs.gold.assemble import assemble
from tracelake.jobs.gold.show import record_feedback, show_example
from tracelake.jobs.lake import catalog


def test_feedback_is_validated_and_appended_with_who_and_when(ctx):
    with pytest.raises(ConfigError, match="exactly one of"):
        record_feedback(ctx, run_id="a", annotator="ana")
    with pytest.raises(ConfigError, match="between 0 and 1"):
        record_feedback(ctx, run_id="a", annotator="ana", rating=2.0)
    with pytest.raises(ConfigError, match="over itself"):
        record_feedback(ctx, run_id="a", annotator="ana", over="a")
    record_feedback(ctx, run_id="a", annotator="ana", over="b", note="clearer")
    record_feedback(ctx, run_id="c", annotator="bo", rating=0.8)
    rows = ctx.lake.read(catalog.OPS_FEEDBACK).to_pylist()
    assert sorted((r["kind"], r["run_id"], r["other_run_id"], r["annotator"]) for r in rows) == [
        ("preference", "a", "b", "ana"),
        ("rating", "c", None, "bo"),
    ]  # one file per append; read order is not append order
    assert all(r["recorded_at"] and r["feedback_id"] for r in rows)


def test_show_example_prints_both_shapes_or_the_reason(ctx):
    example = assemble(recovery_run()).example
    ctx.lake.append(
        catalog.GOLD_EXAMPLES, pa.Table.from_pylist([example], catalog.GOLD_EXAMPLES.schema)
    )
    rejected = assemble(bad_runs()["unknown_tool"]).rejected
    ctx.lake.append(
        catalog.GOLD_REJECTED, pa.Table.from_pylist([rejected], catalog.GOLD_REJECTED.schema)
    )
    lines: list[str] = []
    show_example(ctx, "gold-recovery", lines.append)
    text = "\n".join(lines)
    assert "-- record --" in text and '"adaptation_logic"' in text
    assert "-- messages --" in text and "-> ArchiveFetcherTool(" in text
    lines.clear()
    show_example(ctx, "gold-bad-unknown", lines.append)
    assert lines == [
        "run gold-bad-unknown was rejected at assemble: unknown_tool "
        "(no component spec for TeleportTool@1.0)"
    ]
    with pytest.raises(ConfigError, match=r"neither in gold\.examples nor in gold\.rejected"):
        show_example(ctx, "nope", lines.append)
