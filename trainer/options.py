"""Recipe options: one dataclass per recipe, filled from a YAML file and `key=value` overrides.

The same names work in both places (`lr_full: 1e-4` in YAML, `--set hybrid.lr_full=1e-4` on the
command line); unknown keys are errors, not silently ignored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .errors import TrainerInputError

T = TypeVar("T")


def _coerce(cls: type, data: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise TrainerInputError(
            f"{where}: unknown option(s) {', '.join(unknown)} for {cls.__name__}; "
            f"known: {', '.join(sorted(names))}"
        )
    values = {}
    for key, value in data.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = _coerce(hint, value, f"{where}.{key}")
        values[key] = value
    return cls(**values)


def _set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        data = data.setdefault(part, {})
    data[last] = value


def load_options(cls: type[T], config: str | Path | None, overrides: list[str] = ()) -> T:
    """`cls` from the YAML file (if any) with `key=value` overrides applied on top."""
    data: dict[str, Any] = {}
    if config is not None:
        path = Path(config)
        if not path.is_file():
            raise TrainerInputError(f"{path}: config file not found; pass a YAML file")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise TrainerInputError(f"{path}: not valid YAML ({exc}); fix the file") from None
        if not isinstance(loaded, dict):
            raise TrainerInputError(f"{path}: the config must be a mapping of option: value")
        data = loaded
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise TrainerInputError(f"--set {item!r}: write KEY=VALUE, e.g. --set steps=40")
        _set_path(data, key.strip(), yaml.safe_load(raw))
    try:
        return _coerce(cls, data, str(config or "options"))
    except TypeError as exc:
        raise TrainerInputError(f"{config or 'options'}: {exc}") from None


def as_dict(options: Any) -> dict[str, Any]:
    return dataclasses.asdict(options)


def config_hash(options: Any) -> str:
    text = json.dumps(as_dict(options), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
