"""Step roles: what a step does in a workflow, from a documented, configurable vocabulary.

A step is a top-level invocation of a run: a `tool_call` or a `delegation` event that is not
nested inside a delegation (the agent's own tool calls belong to the agent's step). Its role
comes from the first rule matching its action, else the first rule matching its component name
(see docs/patterns.md); a step no rule matches has the role `unknown`, which is counted and
never mined. Steps that overlap in time (a step starting before the previous ones ended: the
calls of a fan-out) form one Parallel block, written `Parallel(Fetch)`. Consecutive steps
with the same role collapse into one (a retry or a fallback repeats a role; it adds none).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError

UNKNOWN = "unknown"
PARALLEL = "Parallel"

# (role, action pattern, component-name pattern): tried in order, actions first.
DEFAULT_RULES: tuple[tuple[str, str | None, str | None], ...] = (
    ("Plan", r"\bplan", None),
    ("Search", r"search|query|lookup|\bfind", r"search|grep|glob"),
    ("Fetch", r"fetch|download|crawl|scrape|\bread|\bload|retriev", r"fetch|read|retriev|imagery"),
    ("Translate", r"translat", r"translat"),
    ("Summarize", r"summar|condens|digest", r"summar"),
    ("Merge", r"merge|combin|aggregat|consolidat", r"merge"),
    ("Check", r"review|check|validat|verif|\btest|\bqa\b", r"review|check|validat"),
    ("Refine", r"revis|refin|draft|\bedit|improv|rewrit", r"refin|edit"),
    (
        "Process",
        r"analy|process|extract|transform|comput|classif|\bdiff|sentiment|pars",
        r"analy|process|extract|sentiment|diff|complexity|pars",
    ),
    ("Output", r"write|save|publish|output|deliver|export|report", r"write"),
    ("Delegate", r"delegat|subtask", r"^task$|subtask"),
    ("Execute", r"bash|shell|exec|command", r"bash|shell"),
)
ROLE_VOCABULARY = (*dict.fromkeys(r[0] for r in DEFAULT_RULES), UNKNOWN)
_DELEGATE_PREFIX = re.compile(r"^delegate:\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Rule:
    role: str
    action: re.Pattern[str] | None
    name: re.Pattern[str] | None
    kind: str | None = None


def _compile(role: str, action: str | None, name: str | None, kind: str | None, where: str):
    try:
        return Rule(
            role,
            re.compile(action, re.IGNORECASE) if action else None,
            re.compile(name, re.IGNORECASE) if name else None,
            kind,
        )
    except re.error as exc:
        raise ConfigError(f"{where}: role rule {role!r} has a bad pattern ({exc})") from None


def load_rules(roles_file: str | None = None) -> list[Rule]:
    """The vocabulary: rules of `roles_file` (TOML `[[rule]]` tables with `role` and `action`
    and/or `name`, optionally `kind`) first, then the built-in ones."""
    rules: list[Rule] = []
    if roles_file:
        path = Path(roles_file)
        try:
            doc = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(
                f"patterns.roles_file {roles_file}: cannot read it ({exc}); fix the file or "
                "unset the setting"
            ) from None
        for i, item in enumerate(doc.get("rule", [])):
            where = f"{roles_file} rule {i + 1}"
            if not isinstance(item, dict) or not item.get("role"):
                raise ConfigError(f"{where}: every [[rule]] needs a `role`")
            if not item.get("action") and not item.get("name"):
                raise ConfigError(f"{where}: give `action` and/or `name` (regular expressions)")
            unknown = set(item) - {"role", "action", "name", "kind"}
            if unknown:
                raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
            rules.append(
                _compile(
                    item["role"], item.get("action"), item.get("name"), item.get("kind"), where
                )
            )
    for role, action, name in DEFAULT_RULES:
        rules.append(_compile(role, action, name, None, "built-in vocabulary"))
    return rules


def role_of(rules: Sequence[Rule], kind: str | None, name: str | None, action: str | None) -> str:
    act = _DELEGATE_PREFIX.sub("", action or "")
    for field in ("action", "name"):
        text = act if field == "action" else (name or "")
        if not text:
            continue
        for rule in rules:
            pattern = rule.action if field == "action" else rule.name
            if pattern is None or (rule.kind and rule.kind != kind):
                continue
            if pattern.search(text):
                return rule.role
    return UNKNOWN


@dataclass(frozen=True)
class RoleSequence:
    roles: list[str]
    n_steps: int
    unknown_steps: int
    parallel_blocks: int


def role_sequence(rules: Sequence[Rule], steps: Sequence[Any]) -> RoleSequence:
    """steps: (start, end, kind, name, action), ordered by start. Unknown steps are counted and
    left out of the sequence."""
    blocks: list[list[str]] = []
    block_end = None
    unknown = parallel = 0
    for start, end, kind, name, action in steps:
        role = role_of(rules, kind, name, action)
        if role == UNKNOWN:
            unknown += 1
        finish = end if end is not None else start
        if blocks and block_end is not None and start < block_end:
            blocks[-1].append(role)
            block_end = max(block_end, finish)
        else:
            blocks.append([role])
            block_end = finish
    roles: list[str] = []
    for block in blocks:
        known = [r for r in block if r != UNKNOWN]
        if not known:
            continue
        if len(block) > 1:
            parallel += 1
            role = f"{PARALLEL}({'+'.join(sorted(set(known)))})"
        else:
            role = known[0]
        if not roles or roles[-1] != role:
            roles.append(role)
    return RoleSequence(roles, len(steps), unknown, parallel)


def pattern_name(roles: Sequence[str]) -> str:
    return " -> ".join(roles)


def contains(sequence: Sequence[str], pattern: Sequence[str]) -> bool:
    """pattern is a subsequence of sequence (order kept, gaps allowed)."""
    it = iter(sequence)
    return all(any(r == p for r in it) for p in pattern)
