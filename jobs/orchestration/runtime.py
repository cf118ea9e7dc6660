"""The settings a task runs with: the CLI's Settings object, fed by Airflow as well.

Precedence, highest first:
  1. Airflow Connection `tracelake_s3` (optional; type aws): login / password = access key id /
     secret, extra `endpoint_url`, `region_name`. Secrets then live in Airflow's connection store
     or secrets backend instead of the worker's environment.
  2. Airflow Variable `tracelake_settings` (optional): a JSON object of Settings fields, e.g.
     {"lake_root": "s3://bucket/lake", "landing": "s3://bucket/landing"}.
  3. The worker's environment (`TRACELAKE_*`) and `tracelake.toml` in its working directory,
     exactly as for the CLI.
Orchestration knobs come from `TRACELAKE_AIRFLOW__*` and the Variable `tracelake_airflow`.
Everything here is called inside tasks, never while a DAG file is parsed.
"""

from __future__ import annotations

from typing import Any

from ..settings import Settings, load_settings
from .config import OrchestrationSettings, _deep_merge, load_orchestration

SETTINGS_VARIABLE = "tracelake_settings"
ORCHESTRATION_VARIABLE = "tracelake_airflow"
S3_CONNECTION = "tracelake_s3"


def _variable(key: str) -> dict[str, Any] | None:
    from airflow.sdk import Variable

    value = Variable.get(key, default=None, deserialize_json=True)
    if value is not None and not isinstance(value, dict):
        from ..errors import ConfigError

        raise ConfigError(
            f"Airflow Variable {key!r} must be a JSON object, got {type(value).__name__}"
        )
    return value


def _s3_connection() -> dict[str, Any]:
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = Connection.get(S3_CONNECTION)
    except AirflowNotFoundException:
        return {}
    extra = conn.extra_dejson
    s3: dict[str, Any] = {}
    if conn.login:
        s3["access_key_id"] = conn.login
    if conn.password:
        s3["secret_access_key"] = conn.password
    if extra.get("aws_session_token"):
        s3["session_token"] = extra["aws_session_token"]
    endpoint = extra.get("endpoint_url") or (extra.get("service_config", {}).get("s3") or {}).get(
        "endpoint_url"
    )
    if endpoint:
        s3["endpoint_url"] = endpoint
    if extra.get("region_name"):
        s3["region"] = extra["region_name"]
    return {"s3": s3} if s3 else {}


def settings_overrides() -> dict[str, Any]:
    """Settings fields set through Airflow (Variable, then Connection on top)."""
    overrides = _variable(SETTINGS_VARIABLE) or {}
    return _deep_merge(overrides, _s3_connection())


def task_settings() -> Settings:
    """The tracelake Settings for this task: environment + toml + Airflow overrides."""
    overrides = settings_overrides()
    if not overrides:
        return load_settings()
    base = load_settings()
    merged = _deep_merge(_plain(base), overrides)
    return load_settings(**merged)


def task_orchestration() -> OrchestrationSettings:
    return load_orchestration(_variable(ORCHESTRATION_VARIABLE))


def _plain(settings: Settings) -> dict[str, Any]:
    """Settings as plain values, secrets included (they are fed straight back into Settings)."""
    data = settings.model_dump()
    for key, value in list(data["s3"].items()):
        if hasattr(value, "get_secret_value"):
            data["s3"][key] = value.get_secret_value()
    return data
