"""Identity functions used as join keys: defined once, here, so that every producer of a key
(the simulator, the importers, later jobs) computes the same value for the same input."""

from __future__ import annotations

import hashlib
import re

_NOT_WORD = re.compile(r"[^\w\s]|_")
_SPACES = re.compile(r"\s+")


def normalise_goal(goal: str) -> str:
    """A goal as compared for identity: lower case, punctuation and `_` to spaces, runs of
    whitespace to one space, trimmed. Letters of every script are kept."""
    return _SPACES.sub(" ", _NOT_WORD.sub(" ", goal.lower())).strip()


def goal_signature(goal: str) -> str:
    """The goal's key (the first 16 hex digits of the sha256 of `normalise_goal(goal)`): the id
    the LLM-OS kernel gives a goal's execution trace, and the key its memory is looked up by."""
    return hashlib.sha256(normalise_goal(goal).encode("utf-8")).hexdigest()[:16]
