"""Registry of trace dialects and per-file format detection (content first, path as a hint)."""

from __future__ import annotations

import importlib
import pkgutil

from ...errors import UnknownFormatError
from ..model import Dialect

# Every module in this package defines DIALECTS, a list of Dialect instances; adding a format
# means adding a module. Sniffing ties go to the module found first (alphabetical order).

_REGISTRY: dict[str, Dialect] | None = None


def registry() -> dict[str, Dialect]:
    global _REGISTRY
    if _REGISTRY is None:
        found: dict[str, Dialect] = {}
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
            module = importlib.import_module(f"{__name__}.{info.name}")
            for dialect in getattr(module, "DIALECTS", ()):
                found[dialect.name] = dialect
        _REGISTRY = found
    return _REGISTRY


def get(name: str) -> Dialect:
    dialects = registry()
    if name not in dialects:
        raise UnknownFormatError(
            f"unknown format {name!r}; known formats: {', '.join(sorted(dialects))}"
        )
    return dialects[name]


def detect(uri: str, head: bytes, min_confidence: float = 0.3) -> Dialect | None:
    """The dialect most confident about this file, or None when none recognises it."""
    best, best_score = None, min_confidence
    for dialect in registry().values():
        score = dialect.sniff(uri, head)
        if score > best_score:
            best, best_score = dialect, score
    return best
