"""Fitting per-version rates from real runs: close to what produced them, synthetic ignored."""

from __future__ import annotations

from tracelake.jobs.environment.fitting import calls_from_runs, fit, fitted_specs
from tracelake.jobs.environment.specs import builtin_specs
from tracelake.jobs.simulate.runs import generate_runs


def _rows(runs):
    """silver.runs-shaped rows (source + ordered steps) from simulated event lists."""
    for events in runs:
        yield {
            "source": events[0]["source"],
            "steps": [
                {
                    "event_type": e["event_type"],
                    "component": e.get("component_name"),
                    "version": e.get("component_version"),
                    "status": e.get("status"),
                    "error_type": e.get("error_type"),
                    "latency_ms": e.get("latency_ms"),
                }
                for e in events
            ],
        }


def test_fitted_rates_follow_the_runs_and_ignore_synthetic_ones():
    rows = list(_rows(generate_runs(5, 400)))
    fits = fit(calls_from_runs(rows))
    web = fits["WebFetcherTool@1.0"]
    assert web.calls > 100
    # A first attempt fails 16%+7% of the time; retries fail more often, so the observed
    # per-call rate is at least the catalogue's and well below certainty.
    assert 0.15 < sum(web.error_rates.values()) < 0.6
    synthetic = {
        "source": "tracelake-expander",
        "steps": [
            {
                "event_type": "tool_result",
                "component": "WebFetcherTool",
                "version": "1.0",
                "status": "error",
                "error_type": "http_403",
                "latency_ms": 1.0,
            }
        ]
        * 5000,
    }
    assert fit(calls_from_runs([*rows, synthetic]))["WebFetcherTool@1.0"] == web

    specs = fitted_specs(builtin_specs(), fits)
    spec = specs["WebFetcherTool@1.0"]
    assert {m.error_type: m.rate for m in spec.error_modes} == {
        k: round(v, 6) for k, v in web.error_rates.items()
    }
    assert spec.latency_ms == round(web.latency_ms, 1)
    assert specs["SystemAgent@1.4.0"] == builtin_specs()["SystemAgent@1.4.0"]  # too few calls
