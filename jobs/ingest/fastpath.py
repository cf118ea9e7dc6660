"""Vectorised validation of canonical event JSONL with Arrow: the fast path of canonical ingest.

A block of lines is parsed by Arrow's JSON reader and checked column-wise against constraints
derived from the AgentEvent model (enums, bounds, lengths, required fields), so pydantic stays
the one source of truth. Only plain rows are accepted here; anything unusual (a parse error, an
unexpected key, a null where the model has a default, a timestamp in another notation) is
handed back to the per-line pydantic path, which decides and explains. A test checks that both
paths store identical rows.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from enum import Enum
from typing import Any

import annotated_types
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from tracelake.schemas import MAX_EVENT_BYTES, AgentEvent
from tracelake.schemas.agent_event import _CUSTOM_EVENT_RE, EventType
from tracelake.schemas.arrow import EVENT_SCHEMA

from . import native
from .sources import newline_offsets

# The C scanner, built by `pip install`; without a compiler Arrow's reader does its work.
_scan: Any = native.load("_scan")

# ISO-8601 with an explicit zone and at most microseconds: what Arrow's cast parses exactly as
# pydantic does. Other notations go to the per-line path.
_TS_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$"
_EVENT_TYPES = pa.array([e.value for e in EventType])
_READ_SCHEMA = pa.schema(
    [
        pa.field(f.name, pa.string() if f.name == "ts" else f.type)
        for f in EVENT_SCHEMA
        if f.name != "attributes"  # a map: read as an inferred struct, converted below
    ]
)
_KNOWN = frozenset(EVENT_SCHEMA.names)
_SCAN_NAMES = (*_READ_SCHEMA.names, "attributes")
_SCAN_KINDS = bytes(
    "".join({"string": "s", "int64": "i", "double": "d"}[str(f.type)] for f in _READ_SCHEMA) + "m",
    "ascii",
)
_ATTRIBUTES_TYPE = EVENT_SCHEMA.field("attributes").type
# Which reader turns a block's lines into columns: "native" (the C scanner, when built) or
# "arrow" (pyarrow's JSON reader). Both feed the same checks below; tests run both.
SCANNER = "native" if _scan is not None else "arrow"
# The JSON reader's unit of work: ~1 MiB keeps its buffers in cache (measured 15% faster than
# one block per call). A line must fit in one, so it is at least the largest valid event.
_READ_BLOCK_BYTES = max(1 << 20, MAX_EVENT_BYTES + 2)


@dataclass(frozen=True)
class _Rule:
    name: str
    required: bool  # must be present and non-null
    has_default: bool  # absent means default: a null must go to pydantic to tell the two apart
    enum_values: pa.Array | None
    ge: float | None
    min_len: int | None
    max_len: int | None


def _rules() -> list[_Rule]:
    rules = []
    for name, info in AgentEvent.model_fields.items():
        annotation = info.annotation
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        enum_values = None
        if isinstance(annotation, type) and issubclass(annotation, Enum):
            enum_values = pa.array([m.value for m in annotation])
        ge = min_len = max_len = None
        for meta in info.metadata:
            if isinstance(meta, annotated_types.Ge):
                ge = meta.ge
            elif isinstance(meta, annotated_types.MinLen):
                min_len = meta.min_length
            elif isinstance(meta, annotated_types.MaxLen):
                max_len = meta.max_length
        nullable_default = not info.is_required() and info.default is None
        rules.append(
            _Rule(
                name,
                info.is_required(),
                not info.is_required() and not nullable_default,
                enum_values,
                ge,
                min_len,
                max_len,
            )
        )
    return rules


_RULES = _rules()
_DEFAULTS = {
    name: info.get_default(call_default_factory=True)
    for name, info in AgentEvent.model_fields.items()
    if not info.is_required()
}


@dataclass
class FastResult:
    events: pa.Table  # EVENT_SCHEMA columns, rows that passed
    accepted_rows: np.ndarray  # row numbers (0-based within the block) of those rows
    rejected_rows: np.ndarray  # row numbers the per-line path must decide


def _and(mask: pa.Array, other: pa.Array) -> pa.Array:
    return pc.and_kleene(mask, pc.fill_null(other, False))


def _struct_to_map(column: pa.Array, n: int) -> pa.Array | None:
    """An inferred struct of string fields -> map<string, string>; None if not all strings."""
    if pa.types.is_null(column.type):
        return pa.array([[] for _ in range(n)], pa.map_(pa.string(), pa.string()))
    if not pa.types.is_struct(column.type):
        return None
    rows, key_codes, values = [], [], []
    for i in range(column.type.num_fields):
        child = column.field(i)
        if not pa.types.is_string(child.type) and not pa.types.is_null(child.type):
            return None
        present = pc.indices_nonzero(child.is_valid())
        rows.append(present.to_numpy())
        key_codes.append(np.full(len(present), i, dtype=np.int32))
        values.append(child.take(present).cast(pa.string()))
    offsets = np.zeros(n + 1, dtype=np.int32)
    if rows:
        row_ids = np.concatenate(rows)
        order = np.argsort(row_ids, kind="stable")
        np.add.at(offsets, row_ids + 1, 1)
        names = pa.array([f.name for f in column.type], pa.string())
        key_array = names.take(pa.array(np.concatenate(key_codes)[order]))
        value_array = pa.concat_arrays(values).take(pa.array(order))
    else:
        key_array = pa.array([], pa.string())
        value_array = pa.array([], pa.string())
    offsets = np.cumsum(offsets, dtype=np.int32)
    return pa.MapArray.from_arrays(pa.array(offsets), key_array, value_array)


_WHITESPACE = np.frombuffer(b" \t\r\x0b\x0c", np.uint8)


@dataclass(frozen=True)
class LineBlock:
    """Non-blank lines lying in one span of a document, held without copying them.

    `text` is the span (blank lines between the lines may be in it: the JSON reader skips
    them); `starts`/`ends` give each line's bytes in `text`, its newline excluded.
    """

    text: pa.Buffer
    starts: np.ndarray
    ends: np.ndarray

    @classmethod
    def of_document(cls, data: bytes | pa.Buffer) -> tuple[LineBlock, np.ndarray]:
        """Every non-blank line of `data` (bytes or any buffer), and each one's 0-based line
        index."""
        raw = np.frombuffer(data, np.uint8)
        if not len(raw):
            none = np.empty(0, np.int64)
            return cls(pa.py_buffer(b""), none, none), none
        newlines = newline_offsets(raw)
        starts = np.concatenate(([0], newlines + 1))
        ends = np.concatenate((newlines, [len(data)]))
        keep = ends > starts
        # A line that starts with whitespace may be all whitespace (rare): ask bytes.strip.
        maybe_blank = np.flatnonzero(
            keep & np.isin(raw[np.minimum(starts, len(raw) - 1)], _WHITESPACE)
        )
        for i in maybe_blank:
            keep[i] = bool(bytes(memoryview(data)[starts[i] : ends[i]]).strip())
        index = np.flatnonzero(keep)
        text = data if isinstance(data, pa.Buffer) else pa.py_buffer(data)
        return cls(text, starts[index], ends[index]), index

    @classmethod
    def of_lines(cls, lines: list[bytes]) -> LineBlock:
        sizes = np.fromiter((len(line) for line in lines), np.int64, count=len(lines))
        starts = np.concatenate(([0], np.cumsum(sizes + 1)[:-1])).astype(np.int64)
        return cls(pa.py_buffer(b"\n".join(lines)), starts, starts + sizes)

    def __len__(self) -> int:
        return len(self.starts)

    def line(self, i: int) -> bytes:
        return self.text[int(self.starts[i]) : int(self.ends[i])].to_pybytes()

    def rows(self, lo: int, hi: int) -> LineBlock:
        """Lines lo..hi-1 as a block of their own (no copy)."""
        base = int(self.starts[lo])
        return LineBlock(
            self.text.slice(base, int(self.ends[hi - 1]) - base),
            self.starts[lo:hi] - base,
            self.ends[lo:hi] - base,
        )

    def span(self) -> pa.Buffer:
        return self.text.slice(int(self.starts[0]), int(self.ends[-1] - self.starts[0]))

    def texts(self) -> pa.Array:
        """The lines as a binary array (each may carry the blank bytes that follow it)."""
        offsets = np.append(self.starts, self.ends[-1]).astype(np.int64)
        return pa.Array.from_buffers(
            pa.large_binary(), len(self), [None, pa.py_buffer(offsets), self.text]
        )


def _one_object_per_line(block: LineBlock) -> bool:
    """Whether every line is `{...}` (whitespace aside). Only then do Arrow's rows line up
    with the lines: an object split over two lines next to two objects on one line would give
    the right row count with the wrong rows. It also keeps lines like `null` away from the
    JSON reader, which crashes (pyarrow 26) when a block starts with one."""
    raw = np.frombuffer(block.text, np.uint8)
    first = raw[block.starts]
    last = raw[block.ends - 1]
    # CRLF files end every line with \r: look one byte further in, without Python per line.
    last = np.where(last == 13, raw[np.maximum(block.ends - 2, block.starts)], last)
    for i in np.flatnonzero((first != ord("{")) | (last != ord("}"))):
        line = block.line(int(i)).strip()
        if not (line.startswith(b"{") and line.endswith(b"}")):
            return False
    return True


def _is_utf8(text: pa.Buffer) -> bool:
    """Arrow's JSON reader does not validate UTF-8 inside strings: pydantic must explain bad
    bytes, so a block that holds any goes to the per-line path."""
    whole = pa.Array.from_buffers(
        pa.large_string(), 1, [None, pa.py_buffer(np.array([0, text.size], np.int64)), text]
    )
    try:
        whole.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _read_block(span: pa.Buffer) -> pa.Table | None:
    """The block by pyarrow's JSON reader; None when it cannot read it whole."""
    try:
        table = pajson.read_json(
            pa.BufferReader(span),
            read_options=pajson.ReadOptions(use_threads=False, block_size=_READ_BLOCK_BYTES),
            parse_options=pajson.ParseOptions(
                explicit_schema=_READ_SCHEMA, unexpected_field_behavior="infer"
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    return table.combine_chunks()


def _scan_block(block: LineBlock) -> tuple[pa.Table, pa.Array]:
    """The block by the C scanner: every column, and which lines it took (the others are null
    rows here and go to the per-line path)."""
    mine, scanned = _scan.scan(
        block.text,
        np.ascontiguousarray(block.starts, np.int64),
        np.ascontiguousarray(block.ends, np.int64),
        _SCAN_NAMES,
        _SCAN_KINDS,
    )
    n = len(block)
    columns = []
    for field, parts in zip(_READ_SCHEMA, scanned, strict=False):
        buffers = [pa.py_buffer(b) for b in parts[:-1]]
        columns.append(pa.Array.from_buffers(field.type, n, buffers, null_count=parts[-1]))
    offsets, key_offsets, keys, value_offsets, values = (pa.py_buffer(b) for b in scanned[-1])
    entries = key_offsets.size // 4 - 1
    columns.append(
        pa.MapArray.from_arrays(
            pa.Array.from_buffers(pa.int32(), n + 1, [None, offsets]),
            pa.Array.from_buffers(pa.string(), entries, [None, key_offsets, keys]),
            pa.Array.from_buffers(pa.string(), entries, [None, value_offsets, values]),
            type=_ATTRIBUTES_TYPE,
        )
    )
    names = [*_READ_SCHEMA.names, "attributes"]
    return pa.Table.from_arrays(columns, names=names), pa.array(np.frombuffer(mine, np.bool_))


def parse_block(block: LineBlock) -> FastResult | None:
    """Parse and validate a block of non-blank lines. None (every line then goes to the
    per-line path) when the block is not UTF-8, or, on the pyarrow path, when Arrow cannot read
    it whole; the C scanner instead leaves the lines it does not take null."""
    n = len(block)
    if n == 0:
        return FastResult(
            EVENT_SCHEMA.empty_table(), np.array([], np.int64), np.array([], np.int64)
        )
    span = block.span()
    if not _is_utf8(span):
        return None
    if SCANNER == "native":
        table, ok = _scan_block(block)
    else:
        if not _one_object_per_line(block):
            return None
        table = _read_block(span)
        if table is None or table.num_rows != n:
            return None
        ok = pa.array(np.ones(n, dtype=bool))

    line_texts: list[pa.Array] = []

    def texts() -> pa.Array:
        if not line_texts:
            line_texts.append(block.texts())
        return line_texts[0]

    sizes = pa.array(block.ends - block.starts)
    ok = _and(ok, pc.less_equal(sizes, MAX_EVENT_BYTES))
    for extra in set(table.column_names) - _KNOWN:  # unknown keys: pydantic explains
        ok = _and(ok, pc.is_null(table[extra].chunk(0)))
    for rule in _RULES:
        if rule.name == "attributes" or rule.name not in table.column_names:
            continue
        col = table[rule.name].chunk(0)
        if rule.required:
            ok = _and(ok, pc.is_valid(col))
        elif rule.has_default and col.null_count:
            # Absent takes the default; an explicit null is an error pydantic must explain.
            # A null whose key appears in the line is explicit (or the key is inside a string:
            # then pydantic decides, which is only slower).
            explicit_null = pc.match_substring(texts(), f'"{rule.name}"')
            ok = _and(ok, pc.invert(pc.and_(pc.is_null(col), explicit_null)))
            table = table.set_column(
                table.schema.get_field_index(rule.name),
                rule.name,
                pc.fill_null(col, pa.scalar(_DEFAULTS[rule.name], type=col.type)),
            )
        if rule.enum_values is not None:
            ok = _and(ok, pc.or_kleene(pc.is_null(col), pc.is_in(col, value_set=rule.enum_values)))
        if rule.ge is not None:
            ok = _and(ok, pc.or_kleene(pc.is_null(col), pc.greater_equal(col, rule.ge)))
        if pa.types.is_floating(col.type):  # 1e400 reads as inf: pydantic names the reason
            ok = _and(ok, pc.or_kleene(pc.is_null(col), pc.is_finite(col)))
        if rule.min_len is not None:
            ok = _and(ok, pc.greater_equal(pc.utf8_length(col), rule.min_len))
        if rule.max_len is not None:
            ok = _and(ok, pc.less_equal(pc.utf8_length(col), rule.max_len))
    for name in ("event_id", "run_id", "seq", "ts", "source", "event_type"):
        if name not in table.column_names:
            return FastResult(EVENT_SCHEMA.empty_table(), np.array([], np.int64), np.arange(n))
    # Provenance a producer wrote itself goes to the per-line path, which moves it to
    # attributes (tracelake sets these fields).
    for name in ("source_uri", "source_position"):
        if name in table.column_names:
            ok = _and(ok, pc.is_null(table[name].chunk(0)))
    if "dialect" in table.column_names:
        ok = _and(ok, pc.equal(table["dialect"].chunk(0), "canonical"))
    event_type = table["event_type"].chunk(0)
    known_type = pc.is_in(event_type, value_set=_EVENT_TYPES)
    if not pc.all(known_type).as_py():  # custom `x-` types: only then is the regex needed
        known_type = pc.or_kleene(
            known_type, pc.match_substring_regex(event_type, _CUSTOM_EVENT_RE.pattern)
        )
    ok = _and(ok, known_type)
    ts_text = table["ts"].chunk(0)
    ok = _and(ok, pc.match_substring_regex(ts_text, _TS_PATTERN))

    attributes = None
    if "attributes" in table.column_names:
        raw_attrs = table["attributes"].chunk(0)
        if pa.types.is_map(raw_attrs.type):  # the scanner's: absent is empty, null not its
            attributes = raw_attrs
        else:
            attributes = _struct_to_map(raw_attrs, n)
            if attributes is None:
                return FastResult(EVENT_SCHEMA.empty_table(), np.array([], np.int64), np.arange(n))
            if raw_attrs.null_count:
                explicit_null = pc.match_substring(texts(), '"attributes"')
                ok = _and(ok, pc.invert(pc.and_(pc.is_null(raw_attrs), explicit_null)))
            # The inferred struct reads an absent key and a null value alike; a null value is
            # an error pydantic must explain. A `: null` anywhere after the map's start sends
            # the line there (a false alarm only costs speed).
            if raw_attrs.type.num_fields:
                null_value = pc.match_substring_regex(texts(), r'"attributes"\s*:\s*\{.*:\s*null')
                ok = _and(ok, pc.invert(null_value))
    else:
        attributes = pa.array([[] for _ in range(n)], _ATTRIBUTES_TYPE)

    accepted = pc.indices_nonzero(ok).to_numpy()
    rejected = pc.indices_nonzero(pc.invert(ok)).to_numpy()
    taken = pa.array(accepted)

    def kept(column: pa.Array) -> pa.Array:
        return column if len(accepted) == n else column.take(taken)  # usually all are kept

    columns = []
    for field in EVENT_SCHEMA:
        if field.name == "attributes":
            columns.append(kept(attributes))
        elif field.name == "ts":
            columns.append(pc.cast(kept(ts_text), field.type))
        elif field.name in table.column_names:
            columns.append(kept(table[field.name].chunk(0)).cast(field.type))
        else:
            default = _DEFAULTS.get(field.name)
            columns.append(pa.array([default] * len(accepted), field.type))
    return FastResult(pa.Table.from_arrays(columns, schema=EVENT_SCHEMA), accepted, rejected)
