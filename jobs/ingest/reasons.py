"""Quarantine reason codes, and how a pydantic validation error becomes one.

`REASON_CODES` is the list of codes ingest and the collector give (dialects add a few of their
own for parts of otherwise readable files); docs/ingest.md shows the same table for people.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from tracelake.schemas import REQUIRED_FIELDS

from .model import Rejection

REASON_CODES: dict[str, str] = {
    "bad_json": "the record is not JSON",
    "bad_utf8": "the bytes are not UTF-8",
    "schema": "a field is missing or mistyped (the reason names it)",
    "unknown_event_type": "an event_type outside the vocabulary and not `x-` prefixed",
    "out_of_range": "a number outside its field's range (negative, or over 2^63-1 for integers)",
    "not_finite": "NaN, Infinity or a number too large for a float (1e400)",
    "boolean_as_number": "`true`/`false` where a number is expected",
    "ts_precision": "a timestamp finer than microseconds (bronze keeps microseconds)",
    "oversize": "one event over the 1 MB limit, in any dialect",
    "id_conflict": "the event_id is stored with different content",
    "template": "an unfilled template (placeholders)",
    "empty": "the file holds no bytes (or only whitespace)",
    "unrecognised_format": "no dialect recognised the file",
    "not_a_trace": "README, licence, image and other known non-trace files",
    "unreadable": "the file cannot be read or decompressed (truncated or corrupt stream)",
    "file_too_large": "the file decompresses to more than `ingest.max_file_bytes`",
    "unparseable": "a part of a markdown/YAML file that cannot be read (the reason says why, "
    "e.g. invalid YAML or more than 32 YAML aliases)",
    "symlink_outside_input": "a symlink that points outside the input directory (not followed)",
}

# pydantic error type -> reason code, most specific first.
_ERROR_CODES = {
    "bool_not_number": "boolean_as_number",
    "finite_number": "not_finite",
    "sub_microsecond": "ts_precision",
    "less_than_equal": "out_of_range",
    "greater_than_equal": "out_of_range",
    "less_than": "out_of_range",
    "greater_than": "out_of_range",
}


def _where(err: Any) -> str:
    return ".".join(str(p) for p in err["loc"]) or "(record)"


def code_for(errors: list[Any]) -> tuple[str, str] | None:
    """(reason code, message) for the first error with a specific code, else None."""
    for err in errors:
        code = _ERROR_CODES.get(err["type"])
        if code is not None and not (code == "out_of_range" and err["loc"][:1] == ("event_id",)):
            return code, f"{_where(err)}: {err['msg']}"
    return None


def explain(exc: ValidationError, raw: bytes) -> Rejection:
    """The most specific reason we can give for a record that failed validation."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            return Rejection(
                "bad_utf8",
                f"line is not valid UTF-8 (byte {bad.start}); re-encode the file as UTF-8",
                raw,
            )
        return Rejection("bad_json", f"not valid JSON: {first['msg']}", raw)
    if first["type"] == "model_type":
        return Rejection(
            "schema", "line is JSON but not an object; expected one event per line", raw
        )
    for err in errors:
        if tuple(err["loc"]) == ("event_type",) and err["type"] == "value_error":
            message = str(err["msg"]).removeprefix("Value error, ")
            return Rejection("unknown_event_type", message, raw)
    specific = code_for(errors)
    if specific is not None:
        return Rejection(specific[0], specific[1], raw)
    missing = [str(e["loc"][0]) for e in errors if e["type"] == "missing"]
    if missing:
        return Rejection(
            "schema",
            f"missing required field(s): {', '.join(missing)} "
            f"(required: {', '.join(REQUIRED_FIELDS)})",
            raw,
        )
    parts = [f"{_where(err)}: {err['msg']}" for err in errors[:5]]
    return Rejection("schema", "invalid field(s): " + "; ".join(parts), raw)
