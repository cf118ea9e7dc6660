"""Values with units as LLM-written trace files spell them: costs, durations, percentages,
timestamps and emoji statuses, parsed into numbers and enums.

Every parser returns None for text it cannot read, so callers can keep the raw text instead of
guessing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_NUMBER = r"[-+]?\d+(?:[.,]\d+)?"

_COST_RE = re.compile(
    rf"^\s*(?:~|≈|approx\.?\s*)?(?:US)?\$?\s*({_NUMBER})\s*(?:USD|usd|dollars?)?\s*$"
)


def _float(text: str) -> float:
    return float(text.replace(",", "."))


def parse_cost(value: object) -> float | None:
    """ "$0.012", "0.012 USD", "~$1.50", 0.5 -> dollars as float."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if value >= 0 else None
    match = _COST_RE.match(str(value).replace(" ", " "))
    if not match:
        return None
    amount = _float(match.group(1))
    return amount if amount >= 0 else None


_DURATION_UNITS = {
    "ms": 0.001,
    "msec": 0.001,
    "millisecond": 0.001,
    "milliseconds": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hrs": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
}
_DURATION_PART_RE = re.compile(rf"({_NUMBER})\s*([a-zA-Z]+)")
_CLOCK_RE = re.compile(r"^\s*(?:(\d+):)?(\d{1,2}):(\d{2}(?:\.\d+)?)\s*$")


def parse_duration(value: object) -> float | None:
    """ "8.3s", "3m 42s", "1h 5m", "250ms", "2.5 minutes", "00:03:42", 12 -> seconds."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if value >= 0 else None
    text = str(value).strip().lower().lstrip("~≈").strip()
    if not text:
        return None
    try:
        number = _float(text)
        return number if number >= 0 else None
    except ValueError:
        pass
    clock = _CLOCK_RE.match(text)
    if clock:
        hours = int(clock.group(1) or 0)
        return hours * 3600 + int(clock.group(2)) * 60 + float(clock.group(3))
    total, consumed = 0.0, 0
    for part in _DURATION_PART_RE.finditer(text):
        unit = _DURATION_UNITS.get(part.group(2))
        if unit is None:
            return None
        total += _float(part.group(1)) * unit
        consumed += len(part.group(0))
    leftover = re.sub(r"(?:\s|,|\band\b)+", "", _DURATION_PART_RE.sub("", text))
    if consumed == 0 or leftover:
        return None
    return total


_PERCENT_RE = re.compile(rf"^\s*({_NUMBER})\s*%\s*$")


def parse_fraction(value: object) -> float | None:
    """ "50%" -> 0.5, "0.85" -> 0.85, 85 -> 0.85 (numbers over 1 are read as percentages)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = str(value).strip()
        match = _PERCENT_RE.match(text)
        if match:
            return _float(match.group(1)) / 100
        try:
            number = _float(text)
        except ValueError:
            return None
    if number < 0:
        return None
    return number / 100 if number > 1 else number


def parse_int(value: object) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    match = re.match(r"^\s*(\d+)", str(value))
    return int(match.group(1)) if match else None


_TS_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d_%H-%M-%S",
    "%Y%m%d_%H%M%S",
    "%Y-%m-%d",
)


def parse_timestamp(value: object) -> datetime | None:
    """ISO 8601 and the usual variants; naive times are taken as UTC (the frameworks write UTC)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        text = str(value).strip().strip("`*\"'")
        if not text:
            return None
        text = re.sub(r"\s*\(.*\)\s*$", "", text)  # "2024-01-01T10:00:00Z (approx)"
        iso = text.replace("Z", "+00:00").replace(" UTC", "+00:00")
        try:
            parsed = datetime.fromisoformat(iso)
        except ValueError:
            parsed = None
            for fmt in _TS_FORMATS:
                try:
                    parsed = datetime.strptime(text, fmt)
                    break
                except ValueError:
                    continue
            if parsed is None:
                return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# Emoji and words that mean the same outcome. Values are StepStatus members.
_STATUS_WORDS = {
    "ok": {
        "✅",
        "✔",
        "✔️",
        "☑️",
        "🟢",
        "🎉",
        "ok",
        "success",
        "successful",
        "succeeded",
        "done",
        "complete",
        "completed",
        "completed_success",
        "pass",
        "passed",
        "success_with_recovery",
        "recovered",
        "true",
    },
    "error": {
        "❌",
        "✗",
        "✘",
        "🔴",
        "🚫",
        "💥",
        "error",
        "failed",
        "failure",
        "fail",
        "completed_failure",
        "timeout",
        "timed_out",
        "false",
    },
    "pending": {
        "⏳",
        "🔄",
        "🟡",
        "⌛",
        "pending",
        "planned",
        "planning",
        "in_progress",
        "running",
        "paused",
        "waiting",
        "todo",
        "not_started",
    },
    "skipped": {"⏭️", "⏭", "\u2796", "skipped", "skip", "n/a"},
    "cancelled": {"🛑", "cancelled", "canceled", "aborted"},
}
_WARNING_MARKS = ("⚠️", "⚠", "🟠")


def _status_tokens(value: str) -> list[str]:
    text = value.strip()
    tokens = [text.lower()]
    tokens += [t for t in re.split(r"[\s,;:()\[\]]+", text) if t]
    return [t.lower().strip(".!*`") for t in tokens]


def parse_status(value: object) -> str | None:
    """ "✅ Completed", "COMPLETED_SUCCESS", "failed ❌", "⚠️ partial" -> a StepStatus value.

    A warning mark alone means the step finished with problems: `ok` (the problem is recorded
    separately as an error text by the caller)."""
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    if not text:
        return None
    for token in _status_tokens(text):
        token = token.replace("-", "_").replace(" ", "_")
        for status, words in _STATUS_WORDS.items():
            if token in words:
                return status
    for status, words in _STATUS_WORDS.items():
        if any(mark in text for mark in words if not mark.isascii()):
            return status
    if any(mark in text for mark in _WARNING_MARKS):
        return "ok"
    return None


def parse_outcome(value: object) -> str | None:
    """A run outcome: success | success_with_recovery | partial | failure (None if unknown)."""
    if value is None:
        return None
    text = str(value).strip().lower().replace("-", "_").replace(" ", "_")
    if not text:
        return None
    if "recover" in text:
        return "success_with_recovery"
    if any(mark in str(value) for mark in _WARNING_MARKS) or "partial" in text:
        return "partial"
    status = parse_status(value)
    if status == "ok":
        return "success"
    if status in ("error", "cancelled"):
        return "failure"
    return None


def parse_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ("true", "yes", "y", "1", "✅"):
        return True
    if text in ("false", "no", "n", "0", "❌"):
        return False
    return None
