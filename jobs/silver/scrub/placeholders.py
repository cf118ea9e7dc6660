"""Typed, stable placeholders: `<SECRET:aws_access_key:3f2a>`, `<PII:email:91c0>`.

The tag is a keyed BLAKE2b hash of the value. The key is the run id (plus an optional operator
secret from settings): the same value gets the same placeholder everywhere in one run, so a
conversation that repeats an address stays coherent, while the same value in two runs gets two
unrelated tags, so placeholders cannot be joined across runs to follow a person or a key. The
tag is 16 bits: enough to tell the few values of one run apart, too short to confirm a guess.
"""

from __future__ import annotations

import hashlib
import re

TAG_HEX = 4
# Matches any placeholder this module makes; detectors skip text inside one.
PLACEHOLDER_RE = re.compile(r"<(?:SECRET|PII|ERASED):[a-z0-9_]+:[0-9a-f]{4,16}>")


def run_key(run_id: str, secret: str = "") -> bytes:
    """The hashing key of one run (BLAKE2b keys are at most 64 bytes)."""
    return hashlib.blake2b(f"{secret}\x00{run_id}".encode(), digest_size=32).digest()


def tag(value: str, key: bytes) -> str:
    return hashlib.blake2b(value.encode(), key=key, digest_size=TAG_HEX // 2).hexdigest()


def placeholder(category: str, kind: str, value: str, key: bytes) -> str:
    """`<CATEGORY:kind:tag>` for `value` under the run's key."""
    return f"<{category}:{kind}:{tag(value, key)}>"
