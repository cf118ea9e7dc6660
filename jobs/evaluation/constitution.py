"""Constraint checks of an evaluated episode, by the rules of the one constitution
(jobs/gold/constitution.yaml, loaded by jobs/gold/constitution.py): a rule is broken when the
environment reports its `violation`, or its `answer_check` fires on the final answer."""

from __future__ import annotations

from typing import Any

from ..gold.constitution import ANSWER_CHECKS, CONSTITUTION_FILE, Rule, false_success_claim, rules

__all__ = [
    "CONSTITUTION_FILE",
    "Rule",
    "as_prompt",
    "broken_rules",
    "describe",
    "false_success_claim",
    "rules",
]


def broken_rules(violations: list[str], answer: str, success: bool) -> list[str]:
    """Ids of the rules an episode broke."""
    kinds = {str(v).split(":")[0] for v in violations}
    broken = []
    for rule in rules():
        if (rule.violation and rule.violation in kinds) or (
            rule.answer_check and ANSWER_CHECKS[rule.answer_check](answer, success)
        ):
            broken.append(rule.id)
    return broken


def as_prompt() -> str:
    return "\n".join(f"- {r.text}" for r in rules())


def describe() -> list[dict[str, Any]]:
    return [r.__dict__ for r in rules()]
