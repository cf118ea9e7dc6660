"""Per-version error rates and latencies fitted from real runs.

The environment's specs start from the catalogue's figures; `fitted_specs` replaces a
version's error rates and typical latency with what real runs of that version showed, once
there are enough calls. Synthetic runs never count (they were produced by the environment, so
feeding them back would only confirm its own assumptions).

`calls_from_runs` is the one place that knows where calls come from: today the steps of
`silver.runs` rows; repoint it to `silver.component_usage` when that table exists.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ...schemas.component_spec import ComponentSpec, ErrorMode
from .specs import TRANSIENT_ERRORS

# Events that report the result of one call to a component (tools answer with tool_result,
# agents with agent_message).
CALL_EVENTS = frozenset({"tool_result", "agent_message"})
SYNTHETIC_SOURCES = frozenset({"tracelake-expander"})
MIN_CALLS = 30  # fewer calls than this keep the catalogue's figures


@dataclass(frozen=True)
class Call:
    component: str
    version: str
    status: str | None
    error_type: str | None
    latency_ms: float | None


@dataclass(frozen=True)
class Fit:
    key: str
    calls: int
    error_rates: dict[str, float]
    latency_ms: float | None  # median of successful calls


def calls_from_runs(runs: Iterable[Mapping[str, Any]]) -> Iterable[Call]:
    """Calls of real runs, from silver.runs rows (run-level `source`, ordered `steps`)."""
    for run in runs:
        if run.get("source") in SYNTHETIC_SOURCES:
            continue
        for step in run.get("steps") or ():
            if step.get("event_type") not in CALL_EVENTS:
                continue
            if not step.get("component") or not step.get("version"):
                continue
            yield Call(
                step["component"],
                step["version"],
                step.get("status"),
                step.get("error_type"),
                step.get("latency_ms"),
            )


def fit(calls: Iterable[Call]) -> dict[str, Fit]:
    counts: dict[str, int] = {}
    errors: dict[str, dict[str, int]] = {}
    latencies: dict[str, list[float]] = {}
    for c in calls:
        key = f"{c.component}@{c.version}"
        counts[key] = counts.get(key, 0) + 1
        if c.status == "error":
            kinds = errors.setdefault(key, {})
            kind = c.error_type or "error"
            kinds[kind] = kinds.get(kind, 0) + 1
        elif c.latency_ms is not None:
            latencies.setdefault(key, []).append(float(c.latency_ms))
    return {
        key: Fit(
            key,
            n,
            {k: v / n for k, v in sorted(errors.get(key, {}).items())},
            statistics.median(latencies[key]) if latencies.get(key) else None,
        )
        for key, n in counts.items()
    }


def fitted_specs(
    specs: Mapping[str, ComponentSpec], fits: Mapping[str, Fit], min_calls: int = MIN_CALLS
) -> dict[str, ComponentSpec]:
    """`specs` with the error rates and latency of every well-observed version replaced."""
    out = dict(specs)
    for key, spec in specs.items():
        f = fits.get(key)
        if f is None or f.calls < min_calls:
            continue
        modes = tuple(
            ErrorMode(error_type=k, rate=round(r, 6), transient=k in TRANSIENT_ERRORS)
            for k, r in f.error_rates.items()
        )
        update: dict[str, Any] = {"error_modes": modes}
        if f.latency_ms is not None:
            update["latency_ms"] = round(f.latency_ms, 1)
        out[key] = ComponentSpec.model_validate({**spec.model_dump(), **update})
    return out
