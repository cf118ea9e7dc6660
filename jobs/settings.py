"""The one settings tree: `tracelake.toml` in the working directory (or the file named by
`--config` / `TRACELAKE_CONFIG`), overridden by `TRACELAKE_*` environment variables (nested with
`__`, e.g. `TRACELAKE_SPARK__MASTER`, `TRACELAKE_AIRFLOW__SPARK_MODE`).

Every section rejects unknown keys, and an unknown `TRACELAKE_*` variable is an error naming it,
so a typo never silently falls back to a default. A malformed tracelake.toml is a one-line error
with its line number. `tracelake.toml.example` documents every setting (generated from this
tree: `python -m tracelake.jobs.settings > tracelake.toml.example`).

Secrets (S3 keys) come only from the environment and never appear in reprs or logs.
"""

from __future__ import annotations

import logging
import os
import sys
import tomllib
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from .errors import ConfigError
from .orchestration.config import OrchestrationSettings

CONFIG_FILE = "tracelake.toml"
ENV_PREFIX = "TRACELAKE_"
# Variables with the prefix that are not settings fields: the config file's own location.
CONFIG_ENV = "TRACELAKE_CONFIG"
EXTRA_ENV = frozenset({CONFIG_ENV})
# Settings that no longer exist, and why: a config or variable still setting one loads, with a
# warning, instead of failing (the validator of its section drops it).
RETIRED = {"curate__workers": "the exact hash now runs in a thread of the job's process"}


def config_file() -> Path:
    """The settings file: TRACELAKE_CONFIG (set by `--config`) or ./tracelake.toml."""
    return Path(os.environ.get(CONFIG_ENV) or CONFIG_FILE)


class Section(BaseModel):
    """A settings section: unknown keys are errors (a typo must not fall back to a default)."""

    model_config = ConfigDict(extra="forbid")


class S3Settings(Section):
    """Object store access. Falls back to the standard AWS variables when unset."""

    endpoint_url: str | None = Field(default=None, description="e.g. http://127.0.0.1:8333")
    region: str | None = Field(default=None, description="Default: AWS_REGION, else us-east-1.")
    access_key_id: SecretStr | None = Field(default=None, description="Default: AWS_ACCESS_KEY_ID.")
    secret_access_key: SecretStr | None = Field(
        default=None, description="Default: AWS_SECRET_ACCESS_KEY."
    )
    session_token: SecretStr | None = Field(default=None, description="Default: AWS_SESSION_TOKEN.")
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


class SparkSettings(Section):
    master: str = Field(default="local[*]", description="Spark master URL.")
    app_name: str = Field(default="tracelake", description="Spark application name.")
    conf: dict[str, str] = Field(default_factory=dict, description="Extra Spark confs.")
    log_level: str = Field(default="ERROR", description="Spark's own log level.")
    delta: Literal["auto", "native", "bridge"] = Field(
        default="auto",
        description="Delta engine for Spark jobs: native delta-spark (jars from the Ivy cache), "
        "the embedded delta-rs bridge, or auto (native when the jars are cached, else bridge).",
    )
    ivy_dir: str = Field(
        default="~/.ivy2", description="Ivy cache holding the delta-spark and hadoop-aws jars."
    )


class IngestSettings(Section):
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
    max_file_bytes: int = Field(
        default=16 * 2**30,
        ge=1,
        description="Most bytes one input file may decompress to; the rest of a larger file "
        "is quarantined as `file_too_large`. Canonical JSONL streams in chunks, so this bounds "
        "work, not memory.",
    )
    max_document_bytes: int = Field(
        default=256 * 2**20,
        ge=1,
        description="Most bytes (decompressed) of a file that its dialect parses whole (every "
        "dialect but canonical JSONL): this bounds ingest's memory per such file.",
    )
    follow_symlinks: bool = Field(
        default=False,
        description="Read symlinks inside an input directory that lead outside it (off: they "
        "are quarantined as `symlink_outside_input`, unread).",
    )
    key_index: bool = Field(
        default=True,
        description="Decide duplicates through bronze.event_keys, the persistent index of "
        "stored ids, reading only the batch's candidate part of history and the bronze rows the "
        "index does not cover yet (off: every writer reads every stored id when it starts; "
        "docs/ingest.md).",
    )
    key_index_row_group_rows: int = Field(
        default=16_384,
        ge=64,
        description="Keys per row group of an index file, each with its own Bloom filter: "
        "fewer, larger row groups keep the footer every writer reads small; an id the filter "
        "lets through costs a read of 256 rows' id hashes wherever it is, and a whole row "
        "group only for a conflict.",
    )
    key_index_append_rows: int = Field(
        default=100_000,
        ge=1,
        description="A writer appends the keys it holds to the index once it holds this many: "
        "fewer index files, and at most about this many bronze rows for the next writer to read "
        "directly.",
    )
    key_index_file_rows: int = Field(
        default=16_000_000,
        ge=1,
        description="Most keys in one index file written by a merge or rebuild (bounds their "
        "memory per file).",
    )


class PrivacySettings(Section):
    """Scrubbing (silver.events) and erasure (`tracelake erase`)."""

    placeholder_secret: SecretStr | None = Field(
        default=None,
        description="Mixed into the per-run placeholder key (environment only, like S3 keys): "
        "without it, anyone who knows a run id can test a guessed value against a tag.",
    )
    operator: str | None = Field(
        default=None, description="Who erasures are recorded as; default: the OS user."
    )

    def secret(self) -> str:
        return self.placeholder_secret.get_secret_value() if self.placeholder_secret else ""


class LineageSettings(Section):
    """Component evolution verdicts (silver.component_evolution)."""

    min_calls: int = Field(
        default=30,
        ge=1,
        description="Calls each side needs before a verdict other than `no evidence`.",
    )
    confidence: float = Field(default=0.95, gt=0, lt=1, description="Interval confidence.")


class PatternSettings(Section):
    """Workflow pattern mining (silver.patterns, silver.run_patterns)."""

    min_support: float = Field(
        default=0.04, gt=0, le=1, description="Share of runs a pattern must occur in."
    )
    min_length: int = Field(default=2, ge=1, description="Shortest pattern kept.")
    max_length: int = Field(default=8, ge=1, description="Longest pattern mined.")
    roles_file: str | None = Field(
        default=None,
        description="TOML file of extra role rules, tried before the built-in vocabulary "
        "(see docs/patterns.md).",
    )
    example_runs: int = Field(default=5, ge=0, description="Example run ids per pattern.")


class ExpandSettings(Section):
    """Scenario expansion (silver.synthetic_*): how many variations, which transforms."""

    model_config = ConfigDict(extra="forbid")

    variations_per_seed: int = Field(default=10, ge=0, le=1000, description="Per seed run.")
    seed: int = Field(default=0, ge=0, description="Generator seed (same seed, same output).")
    transform_mix: dict[str, float] = Field(
        default_factory=lambda: {
            "slot_substitution": 0.3,
            "structural_variation": 0.2,
            "fault_injection": 0.15,
            "version_swap": 0.1,
            "constraint_violation": 0.1,
            "goal_paraphrase": 0.15,
        },
        description="Relative weight of each transform when a chain is drawn.",
    )
    max_transforms: int = Field(default=2, ge=1, le=6, description="Transforms per variation.")
    level_weights: dict[str, float] = Field(
        default_factory=dict,
        description="Balance over levels: variations of a level-N seed are variations_per_seed "
        'x level_weights["N"] (default 1), e.g. {"1" = 0.5, "3" = 2.0} to favour novel tasks.',
    )
    family_weights: dict[str, float] = Field(
        default_factory=dict,
        description="Balance over scenario families (the task patterns, e.g. data_analysis): "
        "a further factor per family (default 1).",
    )
    near_identical_cap: int = Field(
        default=1, ge=1, description="Variations of one seed allowed per goal+plan signature."
    )
    llm_endpoint: str | None = Field(
        default=None,
        description="OpenAI-compatible API (e.g. http://127.0.0.1:8000/v1) that paraphrases "
        "goals; unset: deterministic templates only (docs/expansion.md).",
    )
    llm_model: str = Field(default="default", description="Model name sent to the endpoint.")
    llm_api_key: SecretStr | None = Field(
        default=None,
        description="Bearer key of the endpoint; set it in the environment "
        "(TRACELAKE_EXPAND__LLM_API_KEY), never in a file. Spark executors read it from their "
        "own environment: it is never shipped with the job.",
    )
    llm_cache_dir: str = Field(
        default="~/.cache/tracelake/paraphrase",
        description="Where answers are kept, so a rebuild asks the endpoint nothing again.",
    )
    llm_timeout_s: float = Field(default=30.0, gt=0, description="Per request to the endpoint.")


class TrainSettings(Section):
    """How the train DAG and `tracelake train` start the trainer (see docs/training.md)."""

    recipe: str = Field(default="sft", description="Recipe the train DAG runs on a new export.")
    config: str | None = Field(default=None, description="YAML options file of the recipe.")
    mode: str = Field(default="local", description="local: a subprocess; cluster: GPU operator.")
    nproc: int = Field(default=1, ge=1, description="Processes per node (torchrun).")
    python: str = Field(default="python", description="Interpreter in the cluster image.")


class CurateSettings(Section):
    """Curation between gold assembly and export: dedup and decontamination (docs/curation.md)."""

    @model_validator(mode="before")
    @classmethod
    def _retired_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and "workers" in data:
            data = {k: v for k, v in data.items() if k != "workers"}
            logging.getLogger("tracelake.settings").warning(
                "[curate] workers is no longer used (%s): remove it", RETIRED["curate__workers"]
            )
        return data

    shingle_words: int = Field(default=5, ge=1, description="Words per MinHash shingle.")
    bands: int = Field(default=14, ge=1, description="LSH bands.")
    rows_per_band: int = Field(default=8, ge=1, description="MinHash values per band.")
    seed: int = Field(
        default=1,
        description="Seed of the MinHash permutations (fixed: the "
        "index holds signatures made with it; changing it needs a --full run).",
    )
    near_threshold: float = Field(
        default=0.6,
        gt=0.0,
        le=1.0,
        description="Jaccard an LSH candidate needs to count as a near duplicate: exact within a "
        "batch, estimated from signatures against the index (the foot of the 14 x 8 curve; "
        "docs/curation.md).",
    )
    step_shingle_words: int = Field(
        default=3,
        ge=1,
        description="Words per shingle at the step level (steps are short: a 5-word shingle "
        "loses 5 of ~20 shingles per changed word).",
    )
    step_near_threshold: float = Field(
        default=0.6,
        gt=0.0,
        le=1.0,
        description="Exact shingle Jaccard at which a step repeats an earlier step of its run "
        "(one changed word of a 15-word step leaves ~0.6).",
    )
    step_max_compared: int = Field(
        default=64, ge=1, description="Earlier steps of its run each step is compared with."
    )
    step_common_examples: int = Field(
        default=20,
        ge=1,
        description="Other examples of the batch sharing an LSH bucket with a step that make it "
        "a common step.",
    )
    step_common_share: float = Field(
        default=0.8,
        gt=0.0,
        le=1.0,
        description="Share of common steps at which an example is flagged mostly_common_steps.",
    )
    max_text_chars: int = Field(
        default=200_000, ge=1000, description="Longer trajectory texts are cut (and counted)."
    )
    decontamination_ngram: int = Field(
        default=8,
        ge=3,
        description="Words per n-gram matched against the evaluation tasks' goals.",
    )
    benchmark_files: list[str] = Field(
        default_factory=list,
        description="Extra JSONL files of evaluation prompts to decontaminate against "
        "(each line: {task_id, goal} or {id, prompt}).",
    )


class ExportSettings(Section):
    """`tracelake export`: shard and row-group sizes of the exported datasets (docs/export.md)."""

    shard_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1024,
        description="Target size of one shard file; every shard but a split's last is within "
        "+-10% of it.",
    )
    row_groups_per_shard: int = Field(
        default=16,
        ge=8,
        description="Parquet row groups per shard (a streaming reader's unit; 16 keeps each "
        "row group near 1/16 of a shard, 16 MiB at the default shard size).",
    )
    zstd_level: int = Field(default=3, ge=1, le=19, description="JSONL.zst compression level.")


class MaintenanceSettings(Section):
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


class EvaluationSettings(Section):
    """`tracelake eval` against an OpenAI-compatible endpoint (docs/evaluation.md)."""

    api_key: SecretStr | None = Field(
        default=None,
        description="Bearer key of the endpoint; set it in the environment "
        "(TRACELAKE_EVALUATION__API_KEY), never in a file. Never logged or stored.",
    )
    timeout_s: float = Field(default=60.0, gt=0, description="Per request to the endpoint.")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
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
    airflow: OrchestrationSettings = Field(
        default_factory=OrchestrationSettings,
        description="How the Airflow DAGs are scheduled and run their Spark tasks.",
    )
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    lineage: LineageSettings = Field(default_factory=LineageSettings)
    patterns: PatternSettings = Field(default_factory=PatternSettings)
    expand: ExpandSettings = Field(default_factory=ExpandSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    curate: CurateSettings = Field(default_factory=CurateSettings)
    export: ExportSettings = Field(default_factory=ExportSettings)
    maintenance: MaintenanceSettings = Field(default_factory=MaintenanceSettings)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)

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
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, config_file()))

    def storage_options_for(self, uri: str) -> dict[str, str]:
        return self.s3.resolved() if uri.startswith("s3://") else {}

    def storage_options_for_all(self, uris: Iterable[str]) -> dict[str, str]:
        """Options that reach every one of `uris` (local paths need none; s3:// URIs the S3
        settings), so that a mixed list is read with what each input needs."""
        options: dict[str, str] = {}
        for uri in uris:
            options.update(self.storage_options_for(uri))
        return options

    @property
    def lake_storage_options(self) -> dict[str, str]:
        return self.storage_options_for(self.lake_root)


def _field_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> dict[str, bool]:
    """Every settings path `a__b` -> whether it takes free-form sub-keys (a dict field)."""
    out: dict[str, bool] = {}
    for name, info in model.model_fields.items():
        path = (*prefix, name)
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out["__".join(path)] = False
            out.update(_field_paths(annotation, path))
        else:
            out["__".join(path)] = "dict" in str(annotation)
    return out


def unknown_env_variables(environ: dict[str, str] | None = None) -> list[str]:
    """TRACELAKE_* variables that name no setting (pydantic would silently ignore them)."""
    paths = _field_paths(Settings)
    unknown = []
    for name in sorted(environ if environ is not None else os.environ):
        if not name.upper().startswith(ENV_PREFIX) or name.upper() in EXTRA_ENV:
            continue
        path = name[len(ENV_PREFIX) :].lower()
        if path in RETIRED:
            continue
        parts = path.split("__")
        known = path in paths or any(paths.get("__".join(parts[:i])) for i in range(1, len(parts)))
        if not known:
            unknown.append(name)
    return unknown


def _check_config_file() -> None:
    path = config_file()
    if not path.exists():
        if os.environ.get(CONFIG_ENV):
            raise ConfigError(f"settings file {path} (--config / {CONFIG_ENV}) does not exist")
        return
    try:
        tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.resolve()} is not valid TOML: {exc}; fix that line") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc}") from None


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning every problem into one readable ConfigError."""
    _check_config_file()
    unknown = unknown_env_variables()
    if unknown:
        raise ConfigError(
            f"unknown setting in the environment: {', '.join(unknown)}; see "
            "tracelake.toml.example for every setting (TRACELAKE_<SECTION>__<KEY>)"
        )
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        path = config_file()
        where = f"{path.resolve()} or environment" if path.exists() else "environment"
        raise ConfigError(f"invalid settings ({where}): {problems}") from None


@lru_cache(maxsize=1)
def default_settings() -> Settings:
    return load_settings()


# -- the documented example file ------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return _toml_value(str(value))


def _section_lines(model: type[BaseModel], path: tuple[str, ...]) -> list[str]:
    lines: list[str] = []
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            nested.append((name, annotation))
            continue
        env = ENV_PREFIX + "__".join((*path, name)).upper()
        doc = info.description or name.replace("_", " ")
        lines.append(f"# {doc} (env {env})")
        default = info.get_default(call_default_factory=True)
        if "SecretStr" in str(annotation):
            lines.append(f"# {name} = ...   # secret: set it in the environment only")
        elif default is None:
            lines.append(f"# {name} =   # unset by default")
        else:
            lines.append(f"# {name} = {_toml_value(getattr(default, 'value', default))}")
    for name, sub in nested:
        header = ".".join((*path, name))
        doc = (sub.__doc__ or "").strip().split("\n", 1)[0]
        lines += ["", f"# {doc}" if doc else "", f"[{header}]"]
        lines += _section_lines(sub, (*path, name))
    return lines


def example_toml() -> str:
    """tracelake.toml.example: every setting, its meaning, default and environment variable."""
    head = [
        "# tracelake.toml: every setting, commented out at its default. Copy the file to",
        "# tracelake.toml and uncomment what you change. Environment variables override the",
        "# file; unknown keys and unknown TRACELAKE_* variables are errors.",
        "# Generated from the settings model: python -m tracelake.jobs.settings",
        "",
    ]
    return "\n".join(head + _section_lines(Settings, ())) + "\n"


if __name__ == "__main__":
    sys.stdout.write(example_toml())
