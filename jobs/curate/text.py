"""An example's trajectory as one text, cleaned of bad input, and its normalised content hash.

Pure functions over gold.examples rows (dicts as Arrow's `to_pylist` gives them); no Spark.

The trajectory text is what makes two runs the same run: the goal, then every turn after the
system prompt (the system turn lists the offered components: the same for every run of a
workflow, so it would only make unrelated runs look alike): the user turn, the assistant's
reasoning, plan and calls (tool name and arguments) and each observation.

Bad input never raises here: binary blobs, control characters, undecodable bytes and huge texts
are cleaned and named in `flags`, so the job counts them and the row is still judged.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Why each pattern is normalised before the exact hash: two runs of one workflow differ in ids
# (uuids, hex digests, run/trace ids), timestamps and the per-run tag of a scrub placeholder, none
# of which is something a model should see twice to learn it.
_PLACEHOLDER = re.compile(r"<[A-Z_]+:[a-z_]+:[0-9A-Za-z_-]+>")
_UUID = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
_HEX_ID = re.compile(r"\b(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{12,}\b")
_TIMESTAMP = re.compile(
    r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"
)
_PREFIXED_ID = re.compile(r"\b(?:run|trace|span|event|evt|req|sess|session)[-_][0-9A-Za-z]{6,}\b")
# Control characters other than tab/newline: binary that slipped into a text field.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A long unbroken run of base64/hex: an encoded binary payload, not language.
_BLOB = re.compile(r"[A-Za-z0-9+/=]{256,}")


@dataclass
class Trajectory:
    """One example's cleaned texts, what cleaning found, and its counts."""

    example_id: str
    goal: str
    text: str
    steps: int
    flags: list[str] = field(default_factory=list)


def _as_text(value: Any, flags: list[str]) -> str:
    """Any field value as text: bytes are decoded with replacement (flagged), None is empty."""
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            _flag(flags, "invalid_utf8")
            return bytes(value).decode("utf-8", errors="replace")
    return value if isinstance(value, str) else str(value)


def _flag(flags: list[str], name: str) -> None:
    if name not in flags:
        flags.append(name)


def clean(text: str, flags: list[str], max_chars: int) -> str:
    """Text with binary removed, flagged: invalid UTF-8 (replacement characters or lone
    surrogates), control characters, encoded blobs, and a cut when over `max_chars`."""
    if "\ufffd" in text:
        _flag(flags, "invalid_utf8")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (a JSON \\ud800 escape) cannot be stored
        _flag(flags, "invalid_utf8")
        text = text.encode("utf-8", errors="replace").decode("utf-8")
    if _CONTROL.search(text):
        _flag(flags, "control_chars")
        text = _CONTROL.sub(" ", text)
    if len(text) > max_chars:
        _flag(flags, "truncated")
        text = text[:max_chars]
    if _BLOB.search(text):
        _flag(flags, "binary_blob")
        text = _BLOB.sub(" <blob> ", text)
    return text


def trajectory(row: Mapping[str, Any], max_chars: int = 200_000) -> Trajectory:
    """The cleaned trajectory text of one gold.examples row."""
    flags: list[str] = []
    goal = clean(_as_text(row.get("goal"), flags), flags, max_chars)
    parts = [goal]
    for message in row.get("messages") or ():
        if message.get("role") == "system":
            continue
        parts.append(_as_text(message.get("reasoning"), flags))
        parts.append(_as_text(message.get("content"), flags))
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            parts.append(_as_text(function.get("name"), flags))
            parts.append(_as_text(function.get("arguments"), flags))
    # Cut the joined text once (a per-part cut would let many parts add up past the limit).
    text = clean("\n".join(p for p in parts if p), flags, max_chars)
    steps = int(row.get("steps") or 0)
    if not text.strip():
        _flag(flags, "empty_text")
    if steps <= 1:
        _flag(flags, "one_step")
    return Trajectory(str(row.get("example_id")), goal, text, steps, flags)


# The five patterns as one alternation: one pass over the text instead of five.
_VOLATILE = re.compile(
    "|".join(
        f"(?P<{name}>{pattern.pattern})"
        for name, pattern in (
            ("placeholder", _PLACEHOLDER),
            ("uuid", _UUID),
            ("timestamp", _TIMESTAMP),
            ("prefixed", _PREFIXED_ID),
            ("hex", _HEX_ID),
        )
    )
)


def _kind(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind == "placeholder":
        category, tag_kind = match.group(0)[1:-1].split(":")[:2]
        return f"<{category}:{tag_kind}>"
    if kind == "timestamp":
        return "<ts>"
    if kind == "prefixed":
        return match.group(0).split("-")[0].split("_")[0] + "-<id>"
    return "<id>"


def normalise_for_hash(text: str) -> str:
    """Text with ids, timestamps and placeholder tags replaced by their kind, case and spacing
    folded: two runs that differ only in those hash alike."""
    # str.split() and re's \s agree on what whitespace is (both are Py_UNICODE_ISSPACE), and
    # the join folds and strips in one C pass where a regex substitution costs ~8x more.
    return " ".join(_VOLATILE.sub(_kind, text).split()).lower()


def content_hash(text: str) -> str:
    """sha256 of the normalised text: the exact-duplicate key."""
    return hashlib.sha256(normalise_for_hash(text).encode("utf-8")).hexdigest()
