"""Per-version error rates and latencies fitted from real runs.

The environment's specs start from the catalogue's figures; a version with at least MIN_CALLS
real calls gets the error rate and typical latency real runs of it showed instead. Synthetic
runs never count (they were produced by the environment, so feeding them back would only
confirm its own assumptions).

Input: `VersionUsage`, one per component version, summed over the real runs of
`silver.component_usage` (the Spark side is `jobs/expand/fit_source.py`, the one place that
knows where calls come from). Usage counts calls and errors but not error types, so the fit
is the TOTAL error rate, spread over the catalogue's error modes in the catalogue's
proportions (a version the catalogue gives no error mode gets one, `error`, not transient:
nothing says a retry clears it). The rate is per call as usage counts them (retries included).

Fits are quantised (rates to 0.01, latencies to 10 ms) and fingerprinted: the expansion
records the fingerprint with every synthetic run and re-expands in full when it changes, so a
small drift in the real runs does not make every build a full one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...schemas.component_spec import ComponentSpec, ErrorMode
from ..ingest.component_names import canonical_name, normalise_version
from .specs import builtin_specs

MIN_CALLS = 30  # fewer real calls than this keep the catalogue's figures
RATE_STEP = 0.01
LATENCY_STEP_MS = 10.0
GENERIC_ERROR = "error"  # the error mode of a failing version the catalogue names none for


@dataclass(frozen=True)
class VersionUsage:
    """Real calls of one component version: counts summed over runs, a typical latency."""

    component: str
    version: str
    calls: int
    errors: int
    latency_ms: float | None  # call-weighted median of the runs' median latencies


@dataclass(frozen=True)
class Fit:
    key: str
    calls: int
    error_rate: float  # quantised to RATE_STEP
    latency_ms: float | None  # quantised to LATENCY_STEP_MS


def usage_key(component: str, version: str) -> str:
    """`name@version` as usage writes it: canonical names (`SearchTool` -> `Grep`, as ingest
    resolves them) and normalised versions (`1.0` -> `1.0.0`)."""
    return f"{canonical_name(component) or component}@{normalise_version(version) or version}"


def _quantise(value: float, step: float) -> float:
    return round(round(value / step) * step, 6)


def fit(usage: Iterable[VersionUsage]) -> dict[str, Fit]:
    """Quantised per-version figures, keyed by `usage_key`; rows of one version add up."""
    calls: dict[str, int] = {}
    errors: dict[str, int] = {}
    latency: dict[str, tuple[float, int]] = {}  # latency of the best-observed row
    for u in usage:
        key = usage_key(u.component, u.version)
        calls[key] = calls.get(key, 0) + u.calls
        errors[key] = errors.get(key, 0) + u.errors
        if u.latency_ms is not None and u.calls > latency.get(key, (0.0, -1))[1]:
            latency[key] = (u.latency_ms, u.calls)
    return {
        key: Fit(
            key,
            n,
            _quantise(min(1.0, errors[key] / n), RATE_STEP),
            _quantise(latency[key][0], LATENCY_STEP_MS) if key in latency else None,
        )
        for key, n in calls.items()
        if n > 0
    }


def _modes(spec: ComponentSpec, rate: float) -> tuple[ErrorMode, ...]:
    total = sum(m.rate for m in spec.error_modes)
    if total <= 0:
        return (ErrorMode(error_type=GENERIC_ERROR, rate=rate, transient=False),) if rate else ()
    return tuple(
        m.model_copy(update={"rate": round(rate * m.rate / total, 6)}) for m in spec.error_modes
    )


def fitted_specs(
    specs: Mapping[str, ComponentSpec], fits: Mapping[str, Fit], min_calls: int = MIN_CALLS
) -> dict[str, ComponentSpec]:
    """`specs` with the error rates and latency of every well-observed version replaced."""
    out = dict(specs)
    for key, spec in specs.items():
        f = fits.get(usage_key(spec.name, spec.version))
        if f is None or f.calls < min_calls:
            continue
        update: dict[str, Any] = {"error_modes": _modes(spec, f.error_rate)}
        if f.latency_ms is not None and f.latency_ms > 0:
            update["latency_ms"] = f.latency_ms
        out[key] = ComponentSpec.model_validate({**spec.model_dump(), **update})
    return out


def figures(spec: ComponentSpec) -> dict[str, Any]:
    """The fitted part of a spec, JSON-ready: what a synthetic run records and replays with."""
    return {
        "error_modes": [m.model_dump(mode="json") for m in spec.error_modes],
        "latency_ms": spec.latency_ms,
    }


def apply_figures(found: Mapping[str, Mapping[str, Any]]) -> dict[str, ComponentSpec]:
    """Catalogue specs with recorded figures put back (KeyError: a version nobody knows)."""
    known = builtin_specs()
    return {
        key: ComponentSpec.model_validate({**known[key].model_dump(), **dict(value)})
        for key, value in found.items()
    }


@dataclass(frozen=True)
class EnvironmentFit:
    """The versions whose figures real runs replaced, and the fingerprint of that choice."""

    overrides: Mapping[str, ComponentSpec] = field(default_factory=dict)

    @property
    def figures(self) -> dict[str, dict[str, Any]]:
        return {key: figures(spec) for key, spec in sorted(self.overrides.items())}

    @property
    def fingerprint(self) -> str:
        text = json.dumps(self.figures, sort_keys=True, separators=(",", ":"))
        return "fit1-" + hashlib.sha256(text.encode()).hexdigest()[:16]

    def for_components(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The figures of those versions that were fitted (what one run records)."""
        every = self.figures
        return {k: every[k] for k in sorted(set(keys)) if k in every}

    def to_json(self) -> str:
        return json.dumps(self.figures, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> EnvironmentFit:
        return cls(apply_figures(json.loads(text)))


def environment_fit(usage: Iterable[VersionUsage], min_calls: int = MIN_CALLS) -> EnvironmentFit:
    """The fit of the catalogue versions real runs used at least `min_calls` times."""
    catalogue = builtin_specs()
    fitted = fitted_specs(catalogue, fit(usage), min_calls)
    return EnvironmentFit({k: s for k, s in fitted.items() if s != catalogue[k]})
