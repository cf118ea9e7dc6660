"""Canonical events: tracelake's own JSONL, one AgentEvent per line (docs/trace-formats.md A).

Lines are found with numpy and handed to the Arrow fast path (`fastpath.parse_block`) in
blocks, without copying; a block Arrow cannot read is split in halves until the bad lines are
isolated, and every line the fast path does not
accept is decided by pydantic, line by line, with a specific reason when it is rejected.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import ValidationError

from tracelake.schemas import MAX_EVENT_BYTES, AgentEvent

from ..fastpath import LineBlock, parse_block
from ..model import Rejection, SourceDoc
from ..normalize import PRODUCER_PROVENANCE_PREFIX, EventColumns, TableParse
from ..reasons import explain

_validate_json = AgentEvent.__pydantic_validator__.validate_json
# Lines per Arrow block, and the size below which a failing block is decided line by line.
BLOCK_LINES = 32768
MIN_SPLIT_LINES = 64


def parse_line(line: bytes, position: str) -> AgentEvent | Rejection:
    """Validate one line with pydantic: the reference semantics of the canonical format."""
    if len(line) > MAX_EVENT_BYTES:
        return Rejection(
            "oversize",
            f"record is {len(line)} bytes, over the {MAX_EVENT_BYTES}-byte limit; "
            "store large payloads elsewhere and reference them",
            line,
            position,
        )
    try:
        return _validate_json(line)
    except ValidationError as exc:
        why = explain(exc, line)
        return Rejection(why.reason_code, why.reason, why.raw, position)


def with_own_provenance(event: AgentEvent, position: str) -> dict:
    """The event's fields with tracelake's provenance: the line it came from, the canonical
    dialect; values the producer put in those fields are kept in attributes (`producer.*`)."""
    values = dict(event.__dict__)
    moved = {
        f"{PRODUCER_PROVENANCE_PREFIX}{name}": str(values[name])
        for name in ("source_uri", "source_position", "dialect")
        if values[name] is not None and not (name == "dialect" and values[name] == "canonical")
    }
    if moved:
        values["attributes"] = {**moved, **values["attributes"]}
    values.update(source_uri=None, source_position=position, dialect="canonical")
    return values


class CanonicalJsonl:
    name = "canonical"
    producer = "tracelake"
    releases_gil = True  # parse_table's work is Arrow and numpy: parse it in threads

    def sniff(self, uri: str, head: bytes) -> float:
        first = head.lstrip()[:1]
        if first != b"{":
            return 0.0
        line = head.lstrip().split(b"\n", 1)[0]
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            return 0.4 if b'"event_type"' in line and b'"run_id"' in line else 0.0
        if isinstance(obj, dict) and {"event_id", "run_id", "event_type"} <= obj.keys():
            return 0.95
        return 0.0

    def _lines(self, doc: SourceDoc) -> list[tuple[int, bytes]]:
        return [
            (number, line)
            for number, line in enumerate(doc.data.split(b"\n"), start=doc.first_line)
            if line.strip()
        ]

    def parse(self, doc: SourceDoc) -> Iterator[AgentEvent | Rejection]:
        """Line by line (reference path; `parse_table` is the fast equivalent)."""
        for number, line in self._lines(doc):
            item = parse_line(line, f"line:{number}")
            if isinstance(item, AgentEvent):
                item = AgentEvent.model_construct(**with_own_provenance(item, f"line:{number}"))
            yield item

    def parse_table(self, doc: SourceDoc) -> TableParse:
        lines, index = LineBlock.of_document(doc.data)
        numbers = index + doc.first_line
        tables: list[pa.Table] = []
        slow = EventColumns()
        rejections: list[Rejection] = []

        def decide_slowly(i: int) -> None:
            number = int(numbers[i])
            item = parse_line(lines.line(i), f"line:{number}")
            if isinstance(item, Rejection):
                rejections.append(item)
                return
            slow.add(with_own_provenance(item, f"line:{number}"))

        def run_block(lo: int, hi: int) -> None:
            result = parse_block(lines.rows(lo, hi))
            if result is None:
                if hi - lo <= MIN_SPLIT_LINES:
                    for i in range(lo, hi):
                        decide_slowly(i)
                    return
                middle = (lo + hi) // 2
                run_block(lo, middle)
                run_block(middle, hi)
                return
            if len(result.accepted_rows):
                positions = pc.binary_join_element_wise(
                    "line:", pa.array(numbers[lo + result.accepted_rows]).cast(pa.string()), ""
                )
                events = result.events
                index = events.schema.get_field_index("source_position")
                events = events.set_column(index, "source_position", positions)
                tables.append(events)
            for i in result.rejected_rows:
                decide_slowly(lo + int(i))

        for lo in range(0, len(lines), BLOCK_LINES):
            run_block(lo, min(lo + BLOCK_LINES, len(lines)))
        tables.append(slow.table())
        return TableParse(pa.concat_tables(tables), rejections, len(lines))


DIALECTS = [CanonicalJsonl()]
