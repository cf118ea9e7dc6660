"""The fast path of canonical ingest (with either scanner: the C one and pyarrow's JSON reader)
must store exactly what the pydantic path stores."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracelake.jobs.ingest import fastpath
from tracelake.jobs.ingest.dialects.canonical import CanonicalJsonl
from tracelake.jobs.ingest.model import Rejection, SourceDoc
from tracelake.jobs.ingest.normalize import collect_items, content_hashes
from tracelake.schemas import EventType

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
maybe = lambda s: st.none() | s  # noqa: E731
VALID_TS = [
    "2026-03-01T12:00:00Z",
    "2026-03-01T12:00:00.5Z",
    "2026-03-01T12:00:00.123456Z",
    "2026-03-01T14:00:00+02:00",
    "2026-03-01T09:30:00-02:30",
]
ODD_TS = ["2026-03-01T12:00:00", "2026-03-01 12:00:00Z", "not a time"]  # rejected or deferred


def mostly(valid: list, odd: list) -> st.SearchStrategy:
    """Valid values most of the time, so both paths are exercised on every example."""
    return st.sampled_from(valid * 6 + odd)


events = st.fixed_dictionaries(
    {
        "event_id": st.text(min_size=1, max_size=5) | st.just(""),
        "run_id": mostly(["r1", "r2"], [""]),
        "seq": mostly([0, 1, 2, 3], [-1]),
        "ts": mostly(VALID_TS, ODD_TS),
        "source": mostly(["sim"], [""]),
        "event_type": mostly([e.value for e in EventType] + ["x-mine"], ["bogus"]),
    },
    optional={
        "parent_event_id": maybe(text),
        "dialect": mostly(["canonical", "x"], [None]),
        "component_name": maybe(text),
        "component_kind": maybe(mostly(["agent", "tool"], ["robot"])),
        "status": maybe(mostly(["ok", "error"], ["weird"])),
        "tokens_in": maybe(st.integers(-1, 10**6)),
        "latency_ms": maybe(st.floats(-1, 1e6, allow_nan=False) | st.integers(0, 10)),
        "cost_usd": maybe(st.floats(0, 1, allow_nan=False)),
        "mode": maybe(mostly(["EXECUTION", "SIMULATION"], ["sim"])),
        "input": maybe(text),
        "schema_version": mostly([1, 2], [0, None]),
        "attributes": st.dictionaries(st.sampled_from(["a", "b", "c"]), text, max_size=3)
        | st.none(),
    },
)
odd_records = st.sampled_from(
    [
        {
            "event_id": "o1",
            "run_id": "r",
            "seq": 0,
            "ts": VALID_TS[0],
            "source": "s",
            "event_type": "error",
            "extra_key": 1,
        },
        {
            "event_id": "o2",
            "run_id": "r",
            "seq": 0,
            "ts": VALID_TS[0],
            "source": "s",
            "event_type": "error",
            "input": {"not": "text"},
        },
        {
            "event_id": "o3",
            "run_id": "r",
            "seq": 0,
            "ts": VALID_TS[0],
            "source": "s",
            "event_type": "error",
            "attributes": {"n": 1},
        },
        {
            "event_id": "o4",
            "run_id": "r",
            "seq": "1",
            "ts": VALID_TS[0],
            "source": "s",
            "event_type": "error",
        },
    ]
)
records_strategy = st.lists(events, min_size=1, max_size=40) | st.lists(
    events | odd_records, min_size=1, max_size=40
)


def normalised(table):
    rows = table.to_pylist()
    for row in rows:
        row["attributes"] = sorted(row["attributes"])
    return sorted(rows, key=lambda r: r["source_position"])


accepted_fast: dict[str, int] = {}


def rows_accepted_by_fast_path(doc) -> int:
    lines = [line for line in doc.data.split(b"\n") if line.strip()]
    result = fastpath.parse_block(fastpath.LineBlock.of_lines(lines))
    return 0 if result is None else len(result.accepted_rows)


# Line ends and blank lines the line splitter must handle like bytes.split + strip.
separators = st.sampled_from([b"\n"] * 8 + [b"\r\n", b"\n\n", b"\n  \n", b"\n\t\r\n", b"\n \x0b\n"])
extra_lines = st.sampled_from(
    [b""] * 4
    + [
        b'{"event_id": "bad\xff"}',
        b"   ",
        b"{broken",
        b"null",
        b"[1]",
        # One object split over two lines next to two objects on one line: as many rows as
        # lines, but not the same rows.
        b'{"event_id": "s1",\n"run_id": "r"}\n{"a": 1}{"b": 2}',
    ]
    + [
        # Values only the per-line path may decide (reasons of their own, or pydantic's rule
        # for a repeated key).
        b'{"event_id":"n%d","run_id":"r","seq":%s,"ts":"2026-03-01T12:00:00Z","source":"s",'
        b'"event_type":"error"%s}' % (i, seq, rest)
        for i, (seq, rest) in enumerate(
            [
                (b"9223372036854775808", b""),
                (b"true", b""),
                (b"1.0", b""),
                (b"1", b',"latency_ms":1e400'),
                (b"1", b',"attributes":{"a":null}'),
                (b"1", b',"attributes":{"a":"1","a":"2"}'),
                (b"1", b',"seq":2'),
                (b"1", b',"input":"\\ud800"'),
                (b"1", b',"input":"caf\\u00e9 \\ud83d\\ude00"'),
            ]
        )
    ]
)
SCANNERS = ["native", "arrow"] if fastpath._scan is not None else ["arrow"]


@pytest.fixture(params=SCANNERS)
def scanner(request):
    saved = fastpath.SCANNER
    fastpath.SCANNER = request.param
    yield request.param
    fastpath.SCANNER = saved


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(records_strategy, st.data())
def test_fast_and_reference_paths_agree(scanner, records, draw):
    lines = [orjson.dumps(r) for r in records]
    extra = draw.draw(extra_lines)
    if extra:
        lines.insert(draw.draw(st.integers(0, len(lines))), extra)
    seps = draw.draw(st.lists(separators, min_size=len(lines), max_size=len(lines)))
    data = b"".join(line + sep for line, sep in zip(lines, seps, strict=True))
    if draw.draw(st.booleans()):
        data = data.rstrip(b"\n")  # no newline at the end of the file
    doc = SourceDoc("mem://test.jsonl", data)
    dialect = CanonicalJsonl()

    fast = dialect.parse_table(doc)
    accepted_fast[scanner] = accepted_fast.get(scanner, 0) + rows_accepted_by_fast_path(doc)
    reference = collect_items(dialect.parse(doc), dialect, doc)

    assert normalised(fast.events) == normalised(reference.events)
    assert sorted((r.position, r.reason_code) for r in fast.rejections) == sorted(
        (r.position, r.reason_code) for r in reference.rejections
    )
    assert fast.records_read == reference.records_read >= len(records)

    def by_pos(t):
        return dict(
            zip(
                t["source_position"].to_pylist(),
                content_hashes(t).to_pylist(),
                strict=True,
            )
        )

    assert by_pos(fast.events) == by_pos(reference.events)


def test_an_empty_document_is_no_records():
    parsed = CanonicalJsonl().parse_table(SourceDoc("mem://empty.jsonl", b""))
    assert (parsed.events.num_rows, parsed.rejections, parsed.records_read) == (0, [], 0)


def test_the_fast_path_was_exercised(scanner):
    # Runs after the property test (file order): most valid rows went the fast way.
    assert accepted_fast.get(scanner, 0) > 0


def test_content_hash_ignores_attribute_order_and_provenance(scanner):
    a = orjson.dumps(
        {
            "event_id": "e",
            "run_id": "r",
            "seq": 0,
            "ts": "2026-01-01T00:00:00Z",
            "source": "s",
            "event_type": "error",
            "attributes": {"x": "1", "y": "2"},
        }
    )
    b = orjson.dumps(
        {
            "attributes": {"y": "2", "x": "1"},
            "event_id": "e",
            "run_id": "r",
            "seq": 0,
            "ts": "2026-01-01T01:00:00+01:00",
            "source": "s",
            "event_type": "error",
            "source_uri": "elsewhere",
        }
    )
    c = orjson.dumps(
        {
            "event_id": "e",
            "run_id": "r",
            "seq": 0,
            "ts": "2026-01-01T00:00:00Z",
            "source": "s",
            "event_type": "error",
            "attributes": {"x": "1", "y": "3"},
        }
    )
    dialect = CanonicalJsonl()
    hashes = [
        content_hashes(dialect.parse_table(SourceDoc("u", line)).events)[0].as_py()
        for line in (a, b, c)
    ]
    assert hashes[0] == hashes[1] != hashes[2]


def test_a_bad_line_inside_a_large_block_is_isolated(scanner):
    good = [
        orjson.dumps(
            {
                "event_id": f"e{i}",
                "run_id": "r",
                "seq": i,
                "source": "s",
                "ts": "2026-01-01T00:00:00Z",
                "event_type": "tool_call",
            }
        )
        for i in range(1000)
    ]
    lines = [*good[:500], b'{"event_id": "broken", ', *good[500:]]
    parsed = CanonicalJsonl().parse_table(SourceDoc("u", b"\n".join(lines)))
    assert parsed.events.num_rows == 1000
    (rejection,) = parsed.rejections
    assert isinstance(rejection, Rejection)
    assert (rejection.position, rejection.reason_code) == ("line:501", "bad_json")
