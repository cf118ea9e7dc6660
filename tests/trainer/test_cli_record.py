"""`tracelake train` end to end, the ops.train_runs record, and the trainer's isolation."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from tracelake.jobs.cli import app
from tracelake.jobs.context import JobContext
from tracelake.jobs.lake import catalog
from tracelake.jobs.settings import Settings
from tracelake.jobs.train_runs import record_train_run

TRAINER = Path(__file__).resolve().parents[2] / "trainer"


def test_train_cli_writes_checkpoint_and_records_the_run(exports, tmp_path: Path) -> None:
    config = tmp_path / "sft.yaml"
    config.write_text(
        f"output_dir: {tmp_path / 'ckpt'}\nsteps: 3\npack_capacity: 512\nmax_length: 512\n"
        "model:\n  hybrid:\n    lr_full: 0.003\n"
    )
    env = {"TRACELAKE_LAKE_ROOT": str(tmp_path / "lake")}
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--recipe",
            "sft",
            "--manifest",
            exports["sft"],
            "--config",
            str(config),
            "--set",
            "micro_batches=1",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "ops.train_runs: succeeded" in result.output
    ctx = JobContext.create(Settings(lake_root=str(tmp_path / "lake")))
    rows = ctx.lake.read(catalog.OPS_TRAIN_RUNS).to_pylist()
    assert len(rows) == 1 and rows[0]["recipe"] == "sft" and rows[0]["steps"] == 3
    assert rows[0]["manifest"] == exports["sft"]
    # Recording the same run again appends nothing.
    assert record_train_run(ctx, tmp_path / "ckpt").status == "noop"
    assert ctx.lake.read(catalog.OPS_TRAIN_RUNS).num_rows == 1


def test_train_cli_bad_input_is_one_line(exports, tmp_path: Path) -> None:
    runner = CliRunner()
    bad_recipe = runner.invoke(app, ["train", "--recipe", "rlhf", "--manifest", exports["sft"]])
    assert bad_recipe.exit_code == 2 and "use one of" in bad_recipe.output
    bad_option = runner.invoke(
        app, ["train", "--recipe", "sft", "--manifest", exports["sft"], "--set", "stepz=3"]
    )
    assert bad_option.exit_code == 2 and "unknown option(s) stepz" in bad_option.output
    assert "Traceback" not in bad_option.output
    missing = runner.invoke(app, ["train", "--recipe", "dpo", "--manifest", str(tmp_path)])
    assert missing.exit_code == 2 and "no manifest there" in missing.output


def test_trainer_never_imports_the_lake() -> None:
    allowed = {"tracelake.jobs.errors", "tracelake.jobs.environment"}
    for path in TRAINER.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                if name.startswith("tracelake.jobs"):
                    assert name in allowed, f"{path.name} imports {name}"
    code = (
        "import sys, tracelake.trainer.run, tracelake.trainer.launch; "
        "bad = [m for m in sys.modules if m.startswith('tracelake.jobs.lake')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_train_dag_reads_the_manifest_and_builds_the_cluster_command() -> None:
    from types import SimpleNamespace

    import pytest
    from airflow.sdk import Asset

    from tracelake.jobs.errors import InputNotFoundError
    from tracelake.jobs.settings import TrainSettings
    from tracelake.jobs.train_runs import manifest_from_events, train_task

    asset = Asset(name="tracelake.export.sft", uri="tracelake://exports/sft")
    events = {asset: [SimpleNamespace(extra={"manifest": "s3://b/exports/sft/b1/manifest.json"})]}
    manifest = manifest_from_events(events, "sft")
    assert manifest == "s3://b/exports/sft/b1/manifest.json"
    with pytest.raises(InputNotFoundError, match=r"tracelake\.export\.sft"):
        manifest_from_events({}, "sft")
    settings = TrainSettings(mode="cluster", nproc=8, config="/etc/tl/sft.yaml")
    out = train_task(manifest, settings)
    assert out["command"] == [
        "python",
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node=8",
        "-m",
        "tracelake.trainer.run",
        "--recipe",
        "sft",
        "--manifest",
        manifest,
        "--config",
        "/etc/tl/sft.yaml",
    ]
