"""Damage a share of the simulated lines the way real producers do, so ingest's quarantine path
is exercised at scale. Each kind maps to the quarantine reason canonical ingest must give.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import orjson

from tracelake.schemas import REQUIRED_FIELDS

# kind -> the reason_code canonical ingest records for it in bronze.quarantine
CORRUPTION_KINDS: dict[str, str] = {
    "truncated_json": "bad_json",  # writer killed mid-line, partial upload
    "invalid_utf8": "bad_utf8",  # a producer wrote Latin-1 text
    "missing_field": "schema",  # an older producer that did not send a required field
    "unknown_event_type": "unknown_event_type",  # vocabulary drift: TOOL_CALL, llm_call, ...
    "wrong_type": "schema",  # values with units or the wrong JSON type
}
_KINDS = tuple(CORRUPTION_KINDS)
_UNKNOWN_TYPES = ("TOOL_CALL", "tool_invocation", "step_completed", "agent_thought", "llm_call")
_WRONG_VALUES: tuple[tuple[str, Any], ...] = (
    ("latency_ms", "8.3s"),
    ("cost_usd", "$0.012"),
    ("tokens_in", "1.2k"),
    ("seq", "step 3"),
    ("ts", "yesterday 10:42"),
    ("attributes", {"retries": 2}),
    ("input", {"url": "https://example.org"}),  # an object where JSON text is expected
)
_LATIN1_TEXT = "résumé ".encode("latin-1")


class Corruptor:
    """Decides per line, from its own random stream, whether and how to damage it; the good
    lines are byte-identical to an uncorrupted simulation with the same seed."""

    def __init__(self, seed: int, rate: float) -> None:
        self.rate = rate
        self.rng = random.Random(f"tracelake-corrupt:{seed}")
        self.counts: Counter[str] = Counter()

    def apply(self, events: list[dict[str, Any]], lines: list[bytes]) -> None:
        rng, rate = self.rng, self.rate
        for i in range(len(lines)):
            if rng.random() < rate:
                kind = _KINDS[rng.randrange(len(_KINDS))]
                lines[i] = getattr(self, f"_{kind}")(events[i], lines[i])
                self.counts[kind] += 1

    def _truncated_json(self, event: dict[str, Any], line: bytes) -> bytes:
        cut = self.rng.randrange(len(line) // 4, len(line) - 1)
        while cut > 1 and 0x80 <= line[cut] < 0xC0:  # never split a UTF-8 character
            cut -= 1
        return line[:cut]

    def _invalid_utf8(self, event: dict[str, Any], line: bytes) -> bytes:
        marker = b'"action":"'
        at = line.find(marker)
        at = at + len(marker) if at >= 0 else line.find(b'"source":"') + len(b'"source":"')
        return line[:at] + _LATIN1_TEXT + line[at:]

    def _missing_field(self, event: dict[str, Any], line: bytes) -> bytes:
        drop = REQUIRED_FIELDS[self.rng.randrange(len(REQUIRED_FIELDS))]
        return orjson.dumps({k: v for k, v in event.items() if k != drop})

    def _unknown_event_type(self, event: dict[str, Any], line: bytes) -> bytes:
        return orjson.dumps({**event, "event_type": self.rng.choice(_UNKNOWN_TYPES)})

    def _wrong_type(self, event: dict[str, Any], line: bytes) -> bytes:
        field, value = _WRONG_VALUES[self.rng.randrange(len(_WRONG_VALUES))]
        return orjson.dumps({**event, field: value})
