"""Bronze hardening: each bad value gets a precise reason, inputs cannot exhaust memory or pull
in files they do not name, and every record read is stored, a duplicate or quarantined."""

from __future__ import annotations

import functools
import gzip
import os
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import orjson
import pytest
from eventlines import event, write_lines

from tracelake.jobs.ingest import job
from tracelake.jobs.lake import catalog
from tracelake.jobs.settings import Settings
from tracelake.schemas import MAX_EVENT_BYTES


def stored_ids(ctx) -> list[str]:
    return sorted(ctx.lake.read(catalog.BRONZE_EVENTS)["event_id"].to_pylist())


def quarantined(ctx) -> list[dict]:
    return ctx.lake.read(catalog.BRONZE_QUARANTINE).to_pylist()


def accounted(result) -> bool:
    return result.rows_in == result.rows_out + result.rows_duplicate + result.rows_quarantined


# Item 1: one bad value never blocks good data, and each gets its own reason.
BAD_VALUES = {
    "seq_over_int64": (b'"seq": 9223372036854775808', "out_of_range"),
    "tokens_over_int64": (b'"tokens_in": 18446744073709551616', "out_of_range"),
    "latency_infinity": (b'"latency_ms": Infinity', "not_finite"),
    "latency_1e400": (b'"latency_ms": 1e400', "not_finite"),
    "cost_nan": (b'"cost_usd": NaN', "not_finite"),
    "bool_as_int": (b'"tokens_out": true', "boolean_as_number"),
    "bool_as_seq": (b'"seq": false', "boolean_as_number"),
    "nanoseconds": (b'"ts": "2026-03-01T12:00:00.123456789Z"', "ts_precision"),
}


def _with(i: int, fragment: bytes) -> bytes:
    """An event line with one raw JSON member replaced (values orjson cannot write)."""
    key = fragment.split(b":", 1)[0].strip(b'"').decode()
    base = {k: v for k, v in event(i).items() if k != key}
    return orjson.dumps(base)[:-1] + b", " + fragment + b"}"


@pytest.mark.parametrize("kind", sorted(BAD_VALUES))
def test_bad_value_is_quarantined_with_its_reason_and_the_rest_stored(ctx, tmp_path, kind):
    fragment, code = BAD_VALUES[kind]
    other = write_lines(tmp_path / "other.jsonl", [event(10), event(11)])
    path = write_lines(tmp_path / "in.jsonl", [event(0), _with(1, fragment), event(2)])
    result = job.run(ctx, [str(path), str(other)])
    assert stored_ids(ctx) == ["run-1-e0", "run-1-e10", "run-1-e11", "run-1-e2"]
    (q,) = quarantined(ctx)
    assert (q["reason_code"], q["source_position"]) == (code, "line:2")
    assert accounted(result)


def test_trailing_zero_nanoseconds_are_kept(ctx, tmp_path):
    path = write_lines(tmp_path / "in.jsonl", [event(0, ts="2026-03-01T12:00:00.123456000Z")])
    assert job.run(ctx, [str(path)]).rows_out == 1


def test_fast_path_refuses_infinite_floats(ctx, tmp_path):
    """Arrow reads 1e400 as inf; a block of otherwise plain lines must not store it."""
    lines = [event(i) for i in range(200)] + [_with(500, b'"cost_usd": 1e400')]
    result = job.run(ctx, [str(write_lines(tmp_path / "in.jsonl", lines))])
    assert result.rows_out == 200
    assert [q["reason_code"] for q in quarantined(ctx)] == ["not_finite"]


def _otlp_file(path: Path, attributes: list[dict], start_ns: str = "1767225600000000000") -> Path:
    spans = [
        {
            "traceId": "0af7651916cd43dd8448eb211c80319c",
            "spanId": f"{i + 1:016x}",
            "name": "chat gpt-4",
            "startTimeUnixNano": start_ns,
            "endTimeUnixNano": start_ns,
            "attributes": [
                {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                *attrs,
            ],
        }
        for i, attrs in enumerate(attributes)
    ]
    body = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
    path.write_bytes(orjson.dumps(body))
    return path


def test_otlp_file_with_an_int64_overflow_stores_the_other_spans(ctx, tmp_path):
    huge = {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "18446744073709551615"}}
    fine = {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}}
    path = _otlp_file(tmp_path / "spans.otlp.json", [[fine], [huge], [fine]])
    other = write_lines(tmp_path / "other.jsonl", [event(0)])
    result = job.run(ctx, [str(path), str(other)])
    assert result.rows_out == 3
    assert [q["reason_code"] for q in quarantined(ctx)] == ["out_of_range"]
    assert accounted(result)


def test_otlp_span_beyond_year_2500_is_quarantined(ctx, tmp_path):
    path = _otlp_file(tmp_path / "far.otlp.json", [[]], start_ns="99999999999999999999")
    result = job.run(ctx, [str(path)])
    assert [q["reason_code"] for q in quarantined(ctx)] == ["out_of_range"]
    assert accounted(result)


# Item 11: empty files.
def test_empty_files_have_their_own_reason(ctx, tmp_path):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    (tmp_path / "blank.md").write_bytes(b"\n  \n")
    (tmp_path / "empty.jsonl.gz").write_bytes(gzip.compress(b""))
    result = job.run(ctx, [str(tmp_path)])
    assert sorted(q["reason_code"] for q in quarantined(ctx)) == ["empty"] * 3
    assert accounted(result)


# Item 3: the per-event limit in every dialect.
def test_event_limit_applies_to_markdown_and_chat(ctx, tmp_path):
    chat = tmp_path / "chat.jsonl"
    big = "y" * (MAX_EVENT_BYTES + 100)
    chat.write_bytes(
        orjson.dumps(
            {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": big}]}
        )
        + b"\n"
    )
    job.run(ctx, [str(chat)], format="chat.jsonl")
    stored = ctx.lake.read(catalog.BRONZE_EVENTS)
    sizes = [len(o or "") for o in stored["output"].to_pylist() + stored["input"].to_pylist()]
    assert max(sizes, default=0) <= MAX_EVENT_BYTES
    assert "oversize" in {q["reason_code"] for q in quarantined(ctx)}


# Items 2 and 4: streaming decompression, caps, truncated streams.
@pytest.mark.parametrize("codec", ["gz", "zst"])
def test_truncated_stream_is_never_silent(ctx, tmp_path, codec):
    lines = [event(i, output="z" * 2000) for i in range(3000)]
    path = write_lines(tmp_path / f"in.jsonl.{codec}", lines, compress=codec)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    result = job.run(ctx, [str(path)])
    codes = [q["reason_code"] for q in quarantined(ctx)]
    assert codes == ["unreadable"]
    assert "lost" in quarantined(ctx)[0]["reason"]
    assert 0 < result.rows_out < 3000 and accounted(result)


def test_concatenated_gzip_members_are_read_whole(ctx, tmp_path):
    a = gzip.compress(b"\n".join(orjson.dumps(event(i)) for i in range(5)) + b"\n")
    b = gzip.compress(b"\n".join(orjson.dumps(event(i)) for i in range(5, 9)) + b"\n")
    (tmp_path / "two.jsonl.gz").write_bytes(a + b)
    assert job.run(ctx, [str(tmp_path / "two.jsonl.gz")]).rows_out == 9


def test_file_cap_quarantines_the_rest_of_a_stream(tmp_path):
    from tracelake.jobs.context import JobContext

    settings = Settings(lake_root=str(tmp_path / "lake"), ingest={"max_file_bytes": 200_000})
    ctx = JobContext.create(settings)
    lines = [event(i, output="z" * 500) for i in range(2000)]
    path = write_lines(tmp_path / "in.jsonl.zst", lines, compress="zst")
    result = job.run(ctx, [str(path)])
    assert [q["reason_code"] for q in quarantined(ctx)] == ["file_too_large"]
    assert accounted(result)


def test_oversize_line_in_a_stream_is_skipped_not_buffered(ctx, tmp_path):
    giant = b'{"event_id": "' + b"a" * (3 * MAX_EVENT_BYTES) + b'"}'
    lines = [event(0), giant, event(2)]
    path = write_lines(tmp_path / "in.jsonl.gz", lines, compress="gz")
    result = job.run(ctx, [str(path)])
    assert stored_ids(ctx) == ["run-1-e0", "run-1-e2"]
    (q,) = quarantined(ctx)
    assert q["reason_code"] == "oversize" and q["raw_bytes"] >= 3 * MAX_EVENT_BYTES
    assert accounted(result)


# The child's own peak memory. Not ru_maxrss: Linux carries the parent's peak across fork and
# exec into it, so under a big pytest process (1.3 GB late in the suite) every child "used" that.
PRINT_PEAK_RSS = (
    "print(next(int(l.split()[1]) * 1024 for l in open('/proc/self/status') "
    "if l.startswith('VmHWM:')))"
)


def test_yaml_alias_bomb_is_refused(ctx, tmp_path):
    rows = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        rows.append(f"{chr(97 + i)}: &{chr(97 + i)} [" + ",".join([f"*{chr(96 + i)}"] * 9) + "]")
    bomb = "---\n" + "\n".join(rows) + "\ngoal: boom\n---\n\n# Execution trace\n\n## Step 1\n"
    path = tmp_path / "execution_trace_bomb.md"
    path.write_text(bomb)
    code = textwrap.dedent(
        f"""
        import sys
        from tracelake.jobs.context import JobContext
        from tracelake.jobs.ingest import job
        from tracelake.jobs.settings import Settings
        ctx = JobContext.create(Settings(lake_root={str(tmp_path / "lake")!r}))
        job.run(ctx, [{str(path)!r}], format="llmunix.execution_trace")
        {PRINT_PEAK_RSS}
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) < 1 * 2**30
    from tracelake.jobs.context import JobContext

    rows_q = quarantined(JobContext.create(Settings(lake_root=str(tmp_path / "lake"))))
    assert any("alias" in q["reason"] for q in rows_q)


@functools.cache
def _spaces_member() -> bytes:
    """One gzip member of 256 MiB of spaces (about 256 KB), built once per test session."""
    block = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return block.compress(b" " * (1 << 28)) + block.flush()


def _gzip_bomb(path: Path, head: bytes, gigabytes: int) -> Path:
    """A gzip file of `head` then `gigabytes` GB of spaces, as concatenated members: a few MB
    on disk."""
    with open(path, "wb") as f:
        f.write(gzip.compress(head))
        for _ in range(gigabytes * 4):
            f.write(_spaces_member())
    return path


@pytest.mark.parametrize(
    ("name", "head"),
    [
        ("bomb.jsonl.gz", orjson.dumps(event(0)) + b"\n" + b'{"event_id": "x", "pad": "'),
        ("execution_trace_bomb.md.gz", b"---\ngoal: boom\n---\n\n# Execution trace\n\n"),
        ("bomb.bin.gz", b"\0" * 100),
    ],
)
def test_ten_gigabyte_gzip_bomb_keeps_memory_bounded(tmp_path, name, head):
    bomb = _gzip_bomb(tmp_path / name, head, 10)
    assert bomb.stat().st_size < 20 * 2**20
    code = textwrap.dedent(
        f"""
        from tracelake.jobs.context import JobContext
        from tracelake.jobs.ingest import job
        from tracelake.jobs.settings import Settings
        settings = Settings(
            lake_root={str(tmp_path / "lake")!r}, ingest={{"max_file_bytes": 2 * 2**30}}
        )
        result = job.run(JobContext.create(settings), [{str(bomb)!r}])
        assert result.rows_in == result.rows_out + result.rows_quarantined, result
        {PRINT_PEAK_RSS}
        """
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) < 2 * 2**30


# Item 6: symlinks and provenance.
def test_symlink_out_of_the_input_directory_is_not_followed(ctx, tmp_path):
    secret = tmp_path / "outside" / "credentials"
    secret.parent.mkdir()
    secret.write_text("aws_secret_access_key = hunter2\n")
    inputs = tmp_path / "in"
    write_lines(inputs / "a.jsonl", [event(0)])
    (inputs / "creds.jsonl").symlink_to(secret)
    result = job.run(ctx, [str(inputs)])
    (q,) = quarantined(ctx)
    assert q["reason_code"] == "symlink_outside_input" and "hunter2" not in q["raw"]
    assert result.rows_out == 1


def test_symlinks_are_followed_when_allowed(tmp_path):
    from tracelake.jobs.context import JobContext

    target = write_lines(tmp_path / "outside" / "t.jsonl", [event(5)])
    inputs = tmp_path / "in"
    write_lines(inputs / "a.jsonl", [event(0)])
    (inputs / "b.jsonl").symlink_to(target)
    settings = Settings(lake_root=str(tmp_path / "lake"), ingest={"follow_symlinks": True})
    assert job.run(JobContext.create(settings), [str(inputs)]).rows_out == 2


def test_provenance_is_set_by_tracelake_and_the_producers_values_kept(ctx, tmp_path):
    forged = event(100, source_uri="/etc/passwd", source_position="line:999", dialect="otel")
    lines = [event(i) for i in range(100)] + [forged]
    path = write_lines(tmp_path / "in.jsonl", lines)
    job.run(ctx, [str(path)])
    rows = {r["event_id"]: r for r in ctx.lake.read(catalog.BRONZE_EVENTS).to_pylist()}
    assert {r["source_uri"] for r in rows.values()} == {str(path)}
    assert {r["dialect"] for r in rows.values()} == {"canonical"}
    assert rows["run-1-e5"]["source_position"] == "line:6"
    forged_row = [
        r
        for r in ctx.lake.read(catalog.BRONZE_EVENTS).to_pylist()
        if dict(r["attributes"]).get("producer.source_uri")
    ]
    assert len(forged_row) == 1
    attrs = dict(forged_row[0]["attributes"])
    assert attrs["producer.source_position"] == "line:999"
    assert attrs["producer.dialect"] == "otel"
    assert forged_row[0]["source_position"] == "line:101"


def test_yaml_value_python_cannot_build_is_bad_yaml_not_a_crash(ctx, tmp_path):
    """Found by `make fuzz`: PyYAML raised ValueError for an impossible timestamp, which
    escaped the parser and failed the whole run."""
    import yaml

    from tracelake.jobs.ingest import markdown as md

    with pytest.raises(yaml.YAMLError):
        md.safe_load("timestamp: 2024-03-10T99:00:00Z\n")
    note = tmp_path / "memory_log.md"
    note.write_text("---\nexperience_id: e1\ntimestamp: 2024-03-10T99:00:00Z\ngoal: g\n---\n")
    result = job.run(ctx, [str(note)], format="llmunix.memory_log")
    assert accounted(result)
