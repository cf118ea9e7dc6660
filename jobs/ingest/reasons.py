"""Explain a pydantic validation error as a Rejection a person can act on."""

from __future__ import annotations

from pydantic import ValidationError

from tracelake.schemas import REQUIRED_FIELDS

from .model import Rejection


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
    missing = [str(e["loc"][0]) for e in errors if e["type"] == "missing"]
    if missing:
        return Rejection(
            "schema",
            f"missing required field(s): {', '.join(missing)} "
            f"(required: {', '.join(REQUIRED_FIELDS)})",
            raw,
        )
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "(record)"
        parts.append(f"{where}: {err['msg']}")
    return Rejection("schema", "invalid field(s): " + "; ".join(parts), raw)
