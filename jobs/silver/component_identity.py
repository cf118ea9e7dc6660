"""One identity per component: canonical name, kind and normalised version for a name as a
trace wrote it.

Resolution, in order:
  1. the ingest resolver (registry ids `tool_web_fetcher_v1`, version suffixes `_v2`, file
     names, framework-tool aliases, camel-casing of `web_fetch`);
  2. the alias table (component_aliases.py), matched on a folded key: lower case, separators
     dropped, and once more without a `Tool`/`Agent` suffix.
A name that neither step knows keeps its ingest-resolved form and is marked unresolved; it is
never dropped and never guessed into another component.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..errors import ConfigError
from ..ingest.component_names import ALIASES as INGEST_ALIASES
from ..ingest.component_names import NATIVE_TOOLS, normalise_version, resolve
from .component_aliases import COMPONENTS

UNVERSIONED = "unversioned"
_SEPARATORS = re.compile(r"[^0-9a-z]+")
_SUFFIX = re.compile(r"(tool|agent)$")


def fold(name: str) -> str:
    """The matching key of a name: lower case, letters and digits only."""
    return _SEPARATORS.sub("", name.casefold())


def _keys(name: str) -> set[str]:
    key = fold(name)
    bare = _SUFFIX.sub("", key)
    return {key, bare} if bare else {key}


@dataclass(frozen=True)
class AliasIndex:
    by_key: dict[str, str]  # folded key -> canonical name
    kinds: dict[str, str]  # canonical name -> kind


def build_index(components: dict[str, tuple[str, tuple[str, ...]]]) -> AliasIndex:
    """The folded-key index of an alias table; a key that would name two components is an
    error (that merge would join two different definitions)."""
    by_key: dict[str, str] = {}
    kinds: dict[str, str] = {}
    entries: list[tuple[str, str]] = []
    for canonical, (kind, aliases) in components.items():
        kinds[canonical] = kind
        entries += [(canonical, canonical)] + [(a, canonical) for a in aliases]
    for alias, canonical in INGEST_ALIASES.items():
        entries.append((alias, canonical))
    for native in NATIVE_TOOLS:
        kinds.setdefault(native, "tool")
        entries.append((native, native))
    for alias, canonical in entries:
        key = fold(alias)
        other = by_key.setdefault(key, canonical)
        if other != canonical:
            raise ConfigError(
                f"component alias table: {alias!r} would mean both {other!r} and "
                f"{canonical!r}; give one of them a distinct alias in "
                "jobs/silver/component_aliases.py"
            )
    # Suffix-free keys (`webfetcher` for `WebFetcherTool`) match automatically unless two
    # components share one (`SystemAgent`, `SystemTool`): such a key matches nothing.
    bare: dict[str, set[str]] = {}
    for alias, canonical in entries:
        for key in _keys(alias) - {fold(alias)}:
            bare.setdefault(key, set()).add(canonical)
    for key, names in bare.items():
        if len(names) == 1 and key not in by_key:
            by_key[key] = next(iter(names))
    return AliasIndex(by_key, kinds)


@lru_cache(maxsize=1)
def default_index() -> AliasIndex:
    return build_index(COMPONENTS)


@dataclass(frozen=True)
class Identity:
    component: str
    kind: str | None
    version: str
    resolved: bool


def identify(
    raw: str | None,
    kind: str | None = None,
    version: str | None = None,
    index: AliasIndex | None = None,
) -> Identity | None:
    """The identity of a component name as written (None for no name)."""
    index = index or default_index()
    ref = resolve(raw, kind=kind, version=version)
    if ref is None:
        return None
    canonical = None
    for candidate in (ref.name, str(raw)):
        for key in sorted(_keys(candidate), key=len, reverse=True):
            canonical = index.by_key.get(key)
            if canonical:
                break
        if canonical:
            break
    name = canonical or ref.name
    return Identity(
        component=name,
        kind=ref.kind or index.kinds.get(name) or kind,
        version=ref.version or normalise_version(version) or UNVERSIONED,
        resolved=canonical is not None,
    )
