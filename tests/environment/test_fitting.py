"""Fitting per-version figures from real usage: quantised, fingerprinted, only for well-observed
versions; the expansion runs with them and the replayer uses what each run recorded."""

from __future__ import annotations

import json

from tracelake.jobs.environment.fitting import (
    GENERIC_ERROR,
    MIN_CALLS,
    EnvironmentFit,
    VersionUsage,
    environment_fit,
    fit,
    fitted_specs,
)
from tracelake.jobs.environment.specs import builtin_specs
from tracelake.jobs.expand.expander import expand_run
from tracelake.jobs.expand.verify import verify
from tracelake.jobs.settings import ExpandSettings

from .test_expand import WEB_GOAL, seed_run

# Variations that only change the goal: every run calls SearchTool once, first, unforced.
GOAL_ONLY = ExpandSettings(
    variations_per_seed=200,
    seed=3,
    transform_mix={"goal_paraphrase": 1.0, "slot_substitution": 1.0},
)


def test_fit_is_quantised_and_spread_over_the_catalogue_error_modes():
    fits = fit(
        [
            VersionUsage("WebFetcherTool", "1.0", 400, 203, 913.0),
            VersionUsage("SystemAgent", "1.4.0", 50, 5, 2204.0),
            VersionUsage("SearchTool", "1.0", MIN_CALLS - 1, 20, 600.0),
        ]
    )
    web = fits["WebFetch@1.0.0"]  # usage keys: canonical names, normalised versions
    assert (web.calls, web.error_rate, web.latency_ms) == (400, 0.51, 910.0)
    specs = fitted_specs(builtin_specs(), fits)
    modes = {m.error_type: m.rate for m in specs["WebFetcherTool@1.0"].error_modes}
    # the catalogue's 16% http_403 and 7% timeout, scaled to 51% in all
    assert modes == {"http_403": round(0.51 * 16 / 23, 6), "timeout": round(0.51 * 7 / 23, 6)}
    assert specs["WebFetcherTool@1.0"].latency_ms == 910.0
    # a version the catalogue gives no error mode gets the generic, non-transient one
    (mode,) = specs["SystemAgent@1.4.0"].error_modes
    assert (mode.error_type, mode.rate, mode.transient) == (GENERIC_ERROR, 0.1, False)
    # too few calls: the catalogue's figures
    assert specs["SearchTool@1.0"] == builtin_specs()["SearchTool@1.0"]


def test_fingerprint_follows_the_quantised_figures_only():
    a = environment_fit([VersionUsage("SearchTool", "1.0", 400, 160, 600.0)])
    same = environment_fit([VersionUsage("SearchTool", "1.0", 401, 161, 603.0)])  # rounds alike
    moved = environment_fit([VersionUsage("SearchTool", "1.0", 400, 180, 600.0)])
    few = environment_fit([VersionUsage("SearchTool", "1.0", MIN_CALLS - 1, 20, 600.0)])
    assert a.fingerprint == same.fingerprint != moved.fingerprint
    assert few.fingerprint == EnvironmentFit().fingerprint and not few.overrides
    assert EnvironmentFit.from_json(a.to_json()) == a


def _first_search_error_rate(fitted: EnvironmentFit) -> tuple[float, int]:
    out = expand_run(seed_run(WEB_GOAL), GOAL_ONLY, fitted)
    first = [
        next(e for e in events if e["event_type"] == "tool_result") for events, _ in out.accepted
    ]
    assert {e["component_name"] for e in first} == {"SearchTool"}
    return sum(e["status"] == "error" for e in first) / len(first), len(first)


def test_variations_fail_at_the_fitted_rate_and_replay_with_the_recorded_figures():
    high = environment_fit([VersionUsage("SearchTool", "1.0", 400, 160, 600.0)])
    rate, n = _first_search_error_rate(high)
    assert n >= 60 and abs(rate - 0.40) < 0.12  # the catalogue says 2%
    too_few = environment_fit([VersionUsage("SearchTool", "1.0", MIN_CALLS - 1, 12, 600.0)])
    rate, _ = _first_search_error_rate(too_few)
    assert rate < 0.08

    out = expand_run(seed_run(WEB_GOAL), ExpandSettings(variations_per_seed=6, seed=1), high)
    assert out.accepted
    for events, row in out.accepted:
        assert row["fit_fingerprint"] == high.fingerprint
        head = json.loads(events[0]["input"])
        assert head["fit"]["figures"]["SearchTool@1.0"]["error_modes"][0]["rate"] == 0.4
        assert events[0]["attributes"]["fit_fingerprint"] == high.fingerprint
        assert verify(events) is None  # the replayer uses the run's figures, not the catalogue
    assert all(r["fit_fingerprint"] == high.fingerprint for r in out.rejected)
    # the same run replayed with the catalogue figures would not re-derive: the figures count
    events = next(
        ev
        for ev, _ in out.accepted
        if any(e["event_type"] == "tool_result" and e["status"] == "error" for e in ev)
    )
    head = json.loads(events[0]["input"])
    head["fit"]["figures"] = {}
    tampered = [{**events[0], "input": json.dumps(head)}, *events[1:]]
    assert verify(tampered) is not None
