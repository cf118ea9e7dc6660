"""What dialect parsers consume and produce.

A parser reads one `SourceDoc` and yields, in source order, either events (an `AgentEvent` or a
dict of its fields) or `Rejection`s for the parts it could not read. Nothing is dropped: every
part of the input ends up as an event or a rejection.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from tracelake.schemas import AgentEvent


@dataclass(frozen=True)
class SourceDoc:
    """One input file (decompressed) handed to a parser."""

    uri: str
    data: bytes
    first_line: int = 1  # line number of data's first line (large files arrive in chunks)

    def text(self) -> str:
        """The content as text; invalid UTF-8 is replaced so parsers never crash on it."""
        return self.data.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Rejection:
    """A part of the input that cannot become an event, with a reason a person can act on."""

    reason_code: str  # bad_json, bad_utf8, schema, unknown_event_type, oversize, template, ...
    reason: str
    raw: bytes | str
    position: str | None = None  # `line:N`, `lines:A-B`, `record:N`, `span:<id>`
    size: int | None = None  # the record's full size when `raw` holds only its start


@runtime_checkable
class Dialect(Protocol):
    """A trace format: how to recognise it and how to turn it into events."""

    name: str  # e.g. "canonical", "llmunix.kernel_history"
    producer: str  # value of AgentEvent.source for its events, e.g. "llmunix"
    # Optional `releases_gil = True`: parsing is mostly GIL-free native work (Arrow), so the
    # ingest job parses it in threads rather than processes.

    def sniff(self, uri: str, head: bytes) -> float:
        """Confidence 0..1 that a file with this path and first bytes is in this dialect."""
        ...

    def parse(self, doc: SourceDoc) -> Iterator[AgentEvent | dict[str, Any] | Rejection]: ...


def stable_id(*parts: Any) -> str:
    """A deterministic id from the parts (source, run, position, content): same input, same id."""
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update(repr(part).encode("utf-8", "surrogatepass"))
        digest.update(b"\x1f")
    return digest.hexdigest()
