"""The one settings tree: sections, unknown keys and variables, malformed files, the example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, run_cli

from tracelake.jobs import settings as settings_module
from tracelake.jobs.errors import ConfigError
from tracelake.jobs.orchestration.config import SparkMode, load_orchestration
from tracelake.jobs.settings import Settings, load_settings, unknown_env_variables

PROJECT = Path(__file__).resolve().parents[2]
EXAMPLE = PROJECT / "tracelake.toml.example"


@pytest.fixture
def in_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _leaves() -> list[str]:
    paths = settings_module._field_paths(Settings)
    prefixes = {p.rsplit("__", 1)[0] for p in paths if "__" in p}
    return [p for p in paths if p not in prefixes]


def test_the_airflow_settings_are_a_section_of_the_tree(in_dir, monkeypatch):
    (in_dir / "tracelake.toml").write_text('[airflow]\nspark_mode = "cluster"\nretries = 5\n')
    monkeypatch.setenv("TRACELAKE_AIRFLOW__RETRIES", "7")
    loaded = load_settings()
    assert loaded.airflow.spark_mode is SparkMode.cluster
    assert loaded.airflow.retries == 7  # the environment ranks above the file
    # The Airflow Variable still ranks above both.
    assert load_orchestration({"retries": 9}).retries == 9
    assert load_orchestration().spark_mode is SparkMode.cluster


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[spark]\nmastr = 'local[2]'\n", "spark.mastr"),
        ("[airflow.cluster]\nconnid = 'x'\n", "airflow.cluster.connid"),
        ("lake_rot = 'x'\n", "lake_rot"),
    ],
)
def test_an_unknown_key_in_any_section_is_an_error_naming_it(in_dir, toml, key):
    (in_dir / "tracelake.toml").write_text(toml)
    with pytest.raises(ConfigError, match=re.escape(key)):
        load_settings()


def test_a_retired_setting_loads_with_a_warning_from_the_file_and_the_environment(
    in_dir, monkeypatch, caplog
):
    (in_dir / "tracelake.toml").write_text("[curate]\nworkers = 2\nseed = 3\n")
    with caplog.at_level("WARNING", logger="tracelake.settings"):
        assert load_settings().curate.seed == 3
    assert "[curate] workers is no longer used" in caplog.text
    (in_dir / "tracelake.toml").unlink()
    monkeypatch.setenv("TRACELAKE_CURATE__WORKERS", "2")
    caplog.clear()
    with caplog.at_level("WARNING", logger="tracelake.settings"):
        assert load_settings().curate.seed == 1
    assert "[curate] workers is no longer used" in caplog.text


def test_an_unknown_tracelake_variable_is_an_error_naming_it(in_dir, monkeypatch):
    monkeypatch.setenv("TRACELAKE_SPARK__MASTR", "local[2]")
    monkeypatch.setenv("TRACELAKE_LAKEROOT", "x")
    with pytest.raises(ConfigError, match="TRACELAKE_LAKEROOT, TRACELAKE_SPARK__MASTR"):
        load_settings()
    # Free-form maps take any sub-key; the config file's own variable is allowed.
    assert (
        unknown_env_variables(
            {"TRACELAKE_SPARK__CONF__spark.sql.shuffle.partitions": "4", "TRACELAKE_CONFIG": "x"}
        )
        == []
    )


def test_a_malformed_file_is_one_line_with_its_line_number(in_dir):
    (in_dir / "tracelake.toml").write_text('lake_root = "./lake"\n[spark\nmaster = 1\n')
    with pytest.raises(ConfigError, match=r"tracelake.toml is not valid TOML: .*line 2"):
        load_settings()
    proc = run_cli("status", cwd=in_dir)
    assert_one_line_error(proc, "not valid TOML", "line 2")


def test_global_lake_config_and_version_options(tmp_path):
    other = tmp_path / "conf" / "other.toml"
    other.parent.mkdir()
    other.write_text(f'lake_root = "{tmp_path / "from-config"}"\n')
    proc = run_cli("--config", str(other), "status", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert '"lake_root": "' + str(tmp_path / "from-config") in proc.stdout
    lake = tmp_path / "from-flag"
    proc = run_cli("--config", str(other), "--lake", str(lake), "status", "--json", cwd=tmp_path)
    assert '"lake_root": "' + str(lake) in proc.stdout, proc.stderr
    missing = run_cli("--config", str(tmp_path / "nope.toml"), "status", cwd=tmp_path)
    assert_one_line_error(missing, "nope.toml", "does not exist")
    version = run_cli("--version", cwd=tmp_path)
    assert version.returncode == 0 and re.match(r"tracelake \d+\.\d+", version.stdout)


def test_every_setting_is_documented_in_the_example_file():
    leaves = _leaves()
    fields = settings_module._field_paths(Settings)
    assert len(leaves) >= 30 and fields
    text = EXAMPLE.read_text()
    assert text == settings_module.example_toml(), (
        "tracelake.toml.example is stale: python -m tracelake.jobs.settings > "
        "tracelake.toml.example"
    )
    for leaf in leaves:
        assert f"(env TRACELAKE_{leaf.upper()})" in text, leaf
    undocumented = [
        leaf for leaf in leaves if f"# {leaf.rsplit('__', 1)[-1].replace('_', ' ')} (env" in text
    ]
    assert undocumented == [], "settings without a description"


def test_the_example_file_uncommented_is_valid_settings(in_dir):
    lines = []
    for line in EXAMPLE.read_text().splitlines():
        match = re.match(r"^# (\w+ = .*)$", line)
        if match and "# unset" not in line and "secret:" not in line:
            lines.append(match.group(1))
        elif line.startswith("[") or not line.startswith("# "):
            lines.append(line)
    (in_dir / "tracelake.toml").write_text("\n".join(lines) + "\n")
    assert load_settings() == Settings(_env_file=None)
