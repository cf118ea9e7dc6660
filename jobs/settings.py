"""The one settings object: `tracelake.toml` in the working directory, overridden by
`TRACELAKE_*` environment variables (nested with `__`, e.g. `TRACELAKE_SPARK__MASTER`).

Secrets (S3 keys) come only from the environment and never appear in reprs or logs.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from .errors import ConfigError

CONFIG_FILE = "tracelake.toml"


class S3Settings(BaseModel):
    """Object store access. Falls back to the standard AWS variables when unset."""

    endpoint_url: str | None = Field(default=None, description="e.g. http://127.0.0.1:8333")
    region: str | None = None
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    allow_http: bool | None = Field(default=None, description="Default: true for http:// endpoints")

    def resolved(self) -> dict[str, str]:
        """delta-rs / object_store storage options, with AWS_* fallbacks applied."""

        def secret(value: SecretStr | None, env: str) -> str | None:
            return value.get_secret_value() if value else os.environ.get(env)

        endpoint = self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
        options = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": self.region
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1",
            "AWS_ACCESS_KEY_ID": secret(self.access_key_id, "AWS_ACCESS_KEY_ID"),
            "AWS_SECRET_ACCESS_KEY": secret(self.secret_access_key, "AWS_SECRET_ACCESS_KEY"),
            "AWS_SESSION_TOKEN": secret(self.session_token, "AWS_SESSION_TOKEN"),
        }
        allow_http = self.allow_http
        if allow_http is None:
            allow_http = bool(endpoint and endpoint.startswith("http://"))
        if allow_http:
            options["AWS_ALLOW_HTTP"] = "true"
        if endpoint:
            # Custom endpoints (SeaweedFS, MinIO) are addressed by path, not virtual host.
            options["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = "false"
        return {k: v for k, v in options.items() if v}


class SparkSettings(BaseModel):
    master: str = "local[*]"
    app_name: str = "tracelake"
    conf: dict[str, str] = Field(default_factory=dict, description="Extra Spark confs.")
    log_level: str = "ERROR"
    delta: Literal["auto", "native", "bridge"] = Field(
        default="auto",
        description="Delta engine for Spark jobs: native delta-spark (jars from the Ivy cache), "
        "the embedded delta-rs bridge, or auto (native when the jars are cached, else bridge).",
    )
    ivy_dir: str = Field(
        default="~/.ivy2", description="Ivy cache holding the delta-spark and hadoop-aws jars."
    )


class IngestSettings(BaseModel):
    batch_rows: int = Field(default=500_000, ge=1, description="Rows per Delta commit.")
    workers: int = Field(
        default=0,
        ge=0,
        description="Parallel parsers (threads for canonical JSONL, processes for the other "
        "dialects); 0 = one per core.",
    )
    huge_pages: bool = Field(
        default=False,
        description="Let ingest use transparent huge pages (off: the process opts out while "
        "ingesting, which saves system time; see docs/ingest.md).",
    )


class MaintenanceSettings(BaseModel):
    """`tracelake maintain`: compaction, VACUUM, checkpoints and log cleanup."""

    retention_hours: int = Field(
        default=168,
        ge=0,
        description="VACUUM keeps files removed less than this long ago (readers may still "
        "use them); also the age after which unreferenced staged files are deleted.",
    )
    small_file_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1, description="Files below this size count as small."
    )
    target_file_bytes: int = Field(
        default=128 * 1024 * 1024, ge=1, description="Size compaction aims for."
    )
    min_small_files: int = Field(
        default=4, ge=2, description="Compact a table only when it has at least this many."
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TRACELAKE_",
        env_nested_delimiter="__",
        toml_file=CONFIG_FILE,
        extra="forbid",
    )

    lake_root: str = Field(default="./lake", description="Local path or s3://bucket/prefix.")
    export_root: str = Field(default="./exports", description="Where datasets are exported.")
    landing: str = Field(default="./landing", description="Where new trace files arrive.")
    s3: S3Settings = Field(default_factory=S3Settings)
    spark: SparkSettings = Field(default_factory=SparkSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    maintenance: MaintenanceSettings = Field(default_factory=MaintenanceSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence: explicit arguments > environment > tracelake.toml > defaults.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    def storage_options_for(self, uri: str) -> dict[str, str]:
        return self.s3.resolved() if uri.startswith("s3://") else {}

    @property
    def lake_storage_options(self) -> dict[str, str]:
        return self.storage_options_for(self.lake_root)


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation errors into one readable ConfigError."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        where = Path(CONFIG_FILE).resolve() if Path(CONFIG_FILE).exists() else "environment"
        raise ConfigError(f"invalid settings ({where}): {problems}") from None


@lru_cache(maxsize=1)
def default_settings() -> Settings:
    return load_settings()
