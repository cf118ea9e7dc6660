"""Expanding one seed run: draw transform chains, re-execute each candidate, verify it, and
return accepted runs (events + lineage row) and rejected candidates (check + reason).

`expand_run` is a pure function of (seed events, settings): the Spark job maps it over seed
runs, the CLI preview and the benchmark call it directly.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from ..environment.fitting import EnvironmentFit
from ..environment.taskgen import FAMILIES
from ..settings import ExpandSettings
from .episode import EXPANDER_VERSION, PRODUCER, execute, synthetic_run_id
from .lift import LiftError, lift
from .paraphrase import LlmParaphraser, ParaphraseEndpointError
from .transforms import TRANSFORMS, Candidate
from .verify import verify

LLM_API_KEY_VARIABLE = "TRACELAKE_EXPAND__LLM_API_KEY"


class ExpandConfigError(ValueError):
    """Settings that make expansion impossible; raised before any work starts."""


def check_settings(settings: ExpandSettings) -> None:
    unknown = sorted(set(settings.transform_mix) - set(TRANSFORMS))
    if unknown:
        raise ExpandConfigError(
            f"expand.transform_mix names unknown transforms {unknown}; known: {sorted(TRANSFORMS)}"
        )
    if not any(w > 0 for w in settings.transform_mix.values()):
        raise ExpandConfigError("expand.transform_mix gives no transform a positive weight")
    for name, weights in (
        ("level_weights", settings.level_weights),
        ("family_weights", settings.family_weights),
    ):
        bad = {k: w for k, w in weights.items() if w < 0}
        if bad:
            raise ExpandConfigError(f"expand.{name} must not be negative: {bad}")
    unknown_levels = sorted(set(settings.level_weights) - {str(n) for n in FAMILIES})
    if unknown_levels:
        raise ExpandConfigError(
            f"expand.level_weights names unknown levels {unknown_levels}; levels: 1, 2, 3"
        )
    known = {f for families in FAMILIES.values() for f in families}
    unknown_families = sorted(set(settings.family_weights) - known)
    if unknown_families:
        raise ExpandConfigError(
            f"expand.family_weights names unknown families {unknown_families}; "
            f"known: {sorted(known)}"
        )
    paraphraser(settings, check=True)


def variations_for(level: int, family: str, settings: ExpandSettings) -> int:
    """Variations of one seed: the per-seed count balanced by its level and family."""
    weight = settings.level_weights.get(str(level), 1.0) * settings.family_weights.get(family, 1.0)
    return round(settings.variations_per_seed * weight)


def paraphraser(settings: ExpandSettings, check: bool = False) -> LlmParaphraser | None:
    """The LLM paraphrase of `expand.llm_endpoint` (None: templates only). check: ask the
    endpoint once, so a misconfigured one fails before any work starts."""
    if not settings.llm_endpoint:
        return None
    try:
        llm = LlmParaphraser(
            settings.llm_endpoint,
            settings.llm_model,
            Path(settings.llm_cache_dir).expanduser(),
            api_key=(
                settings.llm_api_key.get_secret_value()
                if settings.llm_api_key
                else os.environ.get(LLM_API_KEY_VARIABLE)
            ),
            timeout_s=settings.llm_timeout_s,
        )
        if check:
            llm.check()
    except ParaphraseEndpointError as exc:
        raise ExpandConfigError(
            f"expand.llm_endpoint: {exc}; fix the URL (and TRACELAKE_EXPAND__LLM_API_KEY) or "
            "unset it to use the deterministic templates"
        ) from None
    return llm


@dataclass
class Expansion:
    seed_run_id: str
    accepted: list[tuple[list[dict[str, Any]], dict[str, Any]]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)


def _draw_chain(rng: random.Random, settings: ExpandSettings) -> list[str]:
    names = [n for n, w in settings.transform_mix.items() if w > 0]
    weights = [settings.transform_mix[n] for n in names]
    k = 1 + rng.randrange(settings.max_transforms)
    return rng.choices(names, weights, k=k)


def _rejected(
    seed_run_id: str,
    candidate_id: str,
    chain: Any,
    check: str,
    reason: str,
    settings: ExpandSettings,
    fit_fingerprint: str,
) -> dict[str, Any]:
    return {
        "candidate_id": candidate_id,
        "seed_run_id": seed_run_id,
        "transforms": json.dumps(chain, sort_keys=True, default=str),
        "check": check,
        "reason": reason[:1000],
        "generator": PRODUCER,
        "generator_version": EXPANDER_VERSION,
        "gen_seed": settings.seed,
        "fit_fingerprint": fit_fingerprint,
    }


def _start(seed_ts: str | None) -> datetime | None:
    if not seed_ts:
        return None
    try:
        return datetime.fromisoformat(seed_ts.replace("Z", "+00:00"))
    except ValueError:
        return None


def _llm_rewrite(llm: LlmParaphraser, answers: list[bool], goal: str) -> str | None:
    answer = llm.paraphrase(goal)
    answers.append(answer is not None)
    return answer


def expand_run(
    events: list[dict[str, Any]], settings: ExpandSettings, fit: EnvironmentFit | None = None
) -> Expansion:
    """fit: component figures fitted from real runs (None: the catalogue's)."""
    run_id = str(events[0].get("run_id")) if events else "?"
    out = Expansion(run_id)
    fit = fit or EnvironmentFit()
    fp = fit.fingerprint

    def reject(candidate_id: str, chain: Any, check: str, reason: str) -> dict[str, Any]:
        return _rejected(run_id, candidate_id, chain, check, reason, settings, fp)

    try:
        seed = lift(events)
    except LiftError as exc:
        out.rejected.append(reject(f"seed:{run_id}", [], "seed", str(exc)))
        return out
    base = Candidate(seed.run_id, seed.family, seed.level, seed.fixed, seed.variant)
    llm = paraphraser(settings)
    rng = random.Random(f"{settings.seed}|{seed.run_id}")
    signatures: dict[str, int] = {}
    start = _start(seed.start_ts)
    for index in range(variations_for(seed.level, seed.family, settings)):
        cand: Candidate | None = base
        for name in _draw_chain(rng, settings):
            nxt = TRANSFORMS[name](cand, rng)
            cand = nxt or cand
        assert cand is not None
        syn_id = synthetic_run_id(cand, settings.seed, index)
        chain = list(cand.chain)
        if not chain:
            out.rejected.append(
                reject(syn_id, chain, "transform", "no transform applied to this seed")
            )
            continue
        env_seed = int.from_bytes(hashlib.sha256(syn_id.encode()).digest()[:4], "big")
        answers: list[bool] = []  # whether the LLM's answer was used (the episode's goal)
        rewrite = partial(_llm_rewrite, llm, answers) if llm else None
        try:
            episode = execute(cand, syn_id, env_seed, start, rewrite, fit)
        except (ValueError, KeyError, StopIteration, IndexError, ParaphraseEndpointError) as exc:
            out.rejected.append(reject(syn_id, chain, "build", f"{type(exc).__name__}: {exc}"))
            continue
        if answers and answers[-1]:  # the goal is the LLM's, not the drawn template's
            chain = [
                {**step, "template": None, "llm": True}
                if step.get("transform") == "goal_paraphrase"
                else step
                for step in chain
            ]
        signature = hashlib.sha256(
            json.dumps(
                [
                    episode.task.goal,
                    episode.plan,
                    episode.task.components,
                    episode.inject,
                    episode.task.budget_usd,
                ],
                sort_keys=True,
            ).encode()
        ).hexdigest()
        signatures[signature] = signatures.get(signature, 0) + 1
        if signatures[signature] > settings.near_identical_cap:
            out.rejected.append(
                reject(
                    syn_id,
                    chain,
                    "near_identical",
                    "same goal, plan, components and faults as an earlier variation",
                )
            )
            continue
        failed = verify(episode.events)
        if failed:
            out.rejected.append(reject(syn_id, chain, *failed))
            continue
        o = episode.outcome
        out.accepted.append(
            (
                episode.events,
                {
                    "synthetic_run_id": syn_id,
                    "seed_run_id": run_id,
                    "seed_outcome": seed.outcome,
                    "transforms": json.dumps(chain, sort_keys=True, default=str),
                    "transform_names": [s["transform"] for s in chain],
                    "generator": PRODUCER,
                    "generator_version": EXPANDER_VERSION,
                    "gen_seed": settings.seed,
                    "fit_fingerprint": fp,
                    "env_seed": env_seed,
                    "family": episode.task.family,
                    "level": episode.task.level,
                    "goal": episode.task.goal,
                    "outcome": "success" if o.success else "failure",
                    "violations": list(o.violations),
                    "faults_injected": o.faults_injected,
                    "faults_recovered": o.faults_recovered,
                    "n_events": len(episode.events),
                    "verification": json.dumps(
                        {"format": "pass", "execution": "pass", "semantic": "pass"}, sort_keys=True
                    ),
                },
            )
        )
    return out
