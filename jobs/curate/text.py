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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

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


def _parts(row: Mapping[str, Any], goal: str, flags: list[str]) -> list[str]:
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
    return parts


def _finished(row: Mapping[str, Any], goal: str, text: str, flags: list[str]) -> Trajectory:
    steps = int(row.get("steps") or 0)
    if not text.strip():
        _flag(flags, "empty_text")
    if steps <= 1:
        _flag(flags, "one_step")
    return Trajectory(str(row.get("example_id")), goal, text, steps, flags)


def trajectory(row: Mapping[str, Any], max_chars: int = 200_000) -> Trajectory:
    """The cleaned trajectory text of one gold.examples row."""
    flags: list[str] = []
    goal = clean(_as_text(row.get("goal"), flags), flags, max_chars)
    parts = _parts(row, goal, flags)
    # Cut the joined text once (a per-part cut would let many parts add up past the limit).
    text = clean("\n".join(p for p in parts if p), flags, max_chars)
    return _finished(row, goal, text, flags)


# What `clean` changes, as one RE2 pattern: a text without a match (and not too long) is clean.
_NEEDS_CLEANING = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]|[A-Za-z0-9+/=]{256,}"


def trajectories(
    rows: Sequence[Mapping[str, Any]], max_chars: int = 200_000
) -> list[Trajectory | Exception]:
    """`trajectory` of each row, or the exception it raised. One Arrow pass over the batch finds
    the texts that need cleaning at all (few do); only those go through `clean` in Python."""
    raw: list[tuple[str, str, list[str]] | Exception] = []
    for row in rows:
        try:
            flags: list[str] = []
            goal = _as_text(row.get("goal"), flags)
            raw.append((goal, "\n".join(p for p in _parts(row, goal, flags) if p), flags))
        except Exception as exc:  # one bad row must not fail the batch
            raw.append(exc)
    texts = [r[1] if isinstance(r, tuple) else "" for r in raw]
    try:
        arr = pa.array(texts, pa.large_string())
        dirty = pc.or_(
            pc.match_substring_regex(arr, _NEEDS_CLEANING),
            pc.greater(pc.utf8_length(arr), max_chars),
        ).to_numpy(zero_copy_only=False)
    except (UnicodeEncodeError, pa.ArrowException):  # lone surrogates: clean every text
        dirty = [True] * len(texts)
    out: list[Trajectory | Exception] = []
    for row, r, needs_cleaning in zip(rows, raw, dirty, strict=True):
        if isinstance(r, Exception):
            out.append(r)
        elif needs_cleaning or r[2]:
            try:
                out.append(trajectory(row, max_chars))
            except Exception as exc:
                out.append(exc)
        else:
            out.append(_finished(row, r[0], r[1], r[2]))
    return out


# Why each pattern is normalised before the exact hash: two runs of one workflow differ in ids
# (uuids, hex digests, run/trace ids), timestamps and the per-run tag of a scrub placeholder, none
# of which is something a model should see twice to learn it. Each pattern with what it becomes,
# applied in this order over a whole batch by Arrow's RE2 kernels (a placeholder first: its tag
# may look like an id). RE2 has no lookahead, so a hex id is any 12+ hex digits standing alone
# (all-digit runs that long are epoch timestamps and the like: volatile too).
_VOLATILE = (
    (r"<([A-Z_]+):([a-z_]+):[0-9A-Za-z_-]+>", r"<\1:\2>"),
    (r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", "<id>"),
    (
        r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b",
        "<ts>",
    ),
    (r"\b(run|trace|span|event|evt|req|sess|session)[-_][0-9A-Za-z]{6,}\b", r"\1-<id>"),
    (r"\b[0-9a-fA-F]{12,}\b", "<id>"),
)
# Part of the dedup index's scheme: bump it when the exact hash of a text changes.
HASH_VERSION = "norm2"
_SPACE = pa.scalar(" ", pa.large_string())
_HASH_CHUNK = 8_192  # texts per batch of regex passes


def _as_arrow(texts: Sequence[str]) -> pa.Array:
    try:
        return pa.array(texts, pa.large_string())
    except (UnicodeEncodeError, pa.ArrowException):  # lone surrogates cannot be UTF-8
        return pa.array(
            [t.encode("utf-8", errors="replace").decode("utf-8") for t in texts], pa.large_string()
        )


def normalised_for_hash(texts: Sequence[str]) -> pa.Array:
    """Texts with ids, timestamps and placeholder tags replaced by their kind, whitespace runs
    folded to one space, lower case: two runs that differ only in those hash alike."""
    out = _as_arrow(texts)
    for pattern, replacement in _VOLATILE:
        out = pc.replace_substring_regex(out, pattern, replacement)
    words = pc.utf8_split_whitespace(pc.utf8_trim_whitespace(out))
    return pc.utf8_lower(pc.binary_join(words, _SPACE))


def content_hashes(texts: Sequence[str]) -> list[str]:
    """sha256 of each normalised text: the exact-duplicate key (a batch at once: the regex
    passes run in Arrow, ~5x faster than Python's re over the same texts)."""
    out: list[str] = []
    for lo in range(0, len(texts), _HASH_CHUNK):  # each pass copies the texts: bound them
        normalised = normalised_for_hash(texts[lo : lo + _HASH_CHUNK]).cast(pa.large_binary())
        out += [hashlib.sha256(b).hexdigest() for b in normalised.to_pylist()]
    return out


def normalise_for_hash(text: str) -> str:
    return str(normalised_for_hash([text])[0].as_py())


def content_hash(text: str) -> str:
    return content_hashes([text])[0]
