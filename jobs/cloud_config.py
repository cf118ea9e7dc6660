"""`terraform output -json` -> `tracelake.toml` (and the Airflow workers' environment).

The Terraform stack (terraform/modules/stack) outputs `tracelake_settings`, an object whose keys
are Settings fields (lake_root, export_root, landing, s3.*, spark.*), and `airflow_environment`,
the same settings as TRACELAKE_* variables plus cluster mode. This module checks both against the
settings models and writes them out, so a deployment's settings are never typed by hand.
No secrets pass through: every component gets credentials from its IAM role.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import ConfigError
from .settings import Settings

SETTINGS_OUTPUT = "tracelake_settings"
AIRFLOW_ENV_OUTPUT = "airflow_environment"
_ENV_NAME = re.compile(r"^TRACELAKE_[A-Z0-9_]+$")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_HOW = "run `terraform output -json > outputs.json` in terraform/environments/<env>"


@dataclass(frozen=True)
class CloudConfig:
    settings: dict[str, Any]
    airflow_environment: dict[str, str]


def load_outputs(path: Path) -> CloudConfig:
    """Read a `terraform output -json` file and check what it holds."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such file; {_HOW}")
    try:
        outputs = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not JSON ({exc}); {_HOW}") from None
    if not isinstance(outputs, dict):
        raise ConfigError(f"{path}: expected a JSON object of outputs; {_HOW}")
    settings = _output_value(outputs, SETTINGS_OUTPUT, path)
    environment = _output_value(outputs, AIRFLOW_ENV_OUTPUT, path)
    return CloudConfig(
        settings=check_settings(settings, where=f"{path}: output {SETTINGS_OUTPUT}"),
        airflow_environment=check_environment(
            environment, where=f"{path}: output {AIRFLOW_ENV_OUTPUT}"
        ),
    )


def _output_value(outputs: Mapping[str, Any], name: str, path: Path) -> Any:
    entry = outputs.get(name)
    if not isinstance(entry, dict) or "value" not in entry:
        raise ConfigError(
            f"{path}: no output {name!r} (found: {', '.join(sorted(outputs)) or 'none'}); "
            f"apply terraform/environments/<env> first, then {_HOW}"
        )
    return entry["value"]


def check_settings(value: Any, where: str) -> dict[str, Any]:
    """The settings object must validate as Settings: no unknown keys, right types."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected an object of tracelake settings")
    try:
        # model_validate does not read the environment or tracelake.toml: only `value` counts.
        Settings.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(
            f"{where}: not valid tracelake settings ({problems}); terraform and "
            f"jobs/settings.py disagree"
        ) from None
    return value


def check_environment(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigError(f"{where}: expected an object of string environment variables")
    bad = sorted(key for key in value if not _ENV_NAME.match(key))
    if bad:
        raise ConfigError(f"{where}: not TRACELAKE_* variable names: {', '.join(bad)}")
    # pydantic-settings ignores variables that name no field; here that would be a silent typo.
    unknown = sorted(key for key in value if not _names_a_setting(key))
    if unknown:
        raise ConfigError(
            f"{where}: no tracelake setting is called {', '.join(unknown)}; terraform and "
            f"jobs/settings.py (or jobs/orchestration/config.py) disagree"
        )
    return dict(value)


def _names_a_setting(env_name: str) -> bool:
    from .orchestration.config import OrchestrationSettings

    parts = env_name.removeprefix("TRACELAKE_").lower().split("__")
    model: type[BaseModel] = Settings
    if parts[0] == "airflow":
        model, parts = OrchestrationSettings, parts[1:]
    for depth, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        if depth == len(parts) - 1:
            return True
        nested = field.annotation
        if not (isinstance(nested, type) and issubclass(nested, BaseModel)):
            return False
        model = nested
    return False


def render_toml(settings: Mapping[str, Any]) -> str:
    """TOML for the settings shape: scalars at the top, then one table per nested object."""
    lines = ["# Written by `tracelake cloud-config` from `terraform output -json`."]
    lines += _toml_table(settings, prefix=())
    return "\n".join(lines) + "\n"


def _toml_table(table: Mapping[str, Any], prefix: tuple[str, ...]) -> list[str]:
    scalars = {k: v for k, v in table.items() if not isinstance(v, Mapping)}
    tables = {k: v for k, v in table.items() if isinstance(v, Mapping)}
    lines: list[str] = []
    if prefix and (scalars or not tables):
        lines += ["", f"[{'.'.join(_toml_key(part) for part in prefix)}]"]
    lines += [f"{_toml_key(key)} = {_toml_value(value)}" for key, value in scalars.items()]
    for key, sub in tables.items():
        lines += _toml_table(sub, (*prefix, key))
    return lines


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise ConfigError(f"cannot write {type(value).__name__} value {value!r} to TOML")


def render_env(environment: Mapping[str, str]) -> str:
    """`export KEY='value'` lines, as the MWAA startup script has them."""
    lines = ["# Written by `tracelake cloud-config` from `terraform output -json`."]
    lines += [f"export {key}={shlex.quote(environment[key])}" for key in sorted(environment)]
    return "\n".join(lines) + "\n"


def write_cloud_config(
    outputs_path: Path, toml_path: Path, env_path: Path | None = None, force: bool = False
) -> list[Path]:
    """Write tracelake.toml (and optionally the Airflow environment file); return the paths."""
    config = load_outputs(outputs_path)
    targets = [(toml_path, render_toml(config.settings))]
    if env_path is not None:
        targets.append((env_path, render_env(config.airflow_environment)))
    for path, _ in targets:
        if path.exists() and not force:
            raise ConfigError(f"{path} exists; pass --force to replace it")
    for path, text in targets:
        path.write_text(text, encoding="utf-8")
    return [path for path, _ in targets]
