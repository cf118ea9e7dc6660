"""`tracelake train` end to end, the ops.train_runs record, and the trainer's isolation."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
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


def test_pipeline_runs_phases_in_order_then_evaluates_each(exports, tmp_path: Path) -> None:
    """sft -> dpo -> grpo: each phase starts from the previous checkpoint, each is recorded in
    ops.train_runs, and `--evaluate` benchmarks every phase's checkpoint into ops.eval_results."""
    import json

    out = tmp_path / "pipe"
    config = tmp_path / "pipeline.yaml"
    config.write_text(
        f"output_dir: {out}\n"
        "phases: [sft, dpo, grpo]\n"
        f"manifests: {{sft: {exports['sft']}, dpo: {exports['dpo']}}}\n"
        "sft: {steps: 3, pack_capacity: 512, max_length: 512}\n"
        "dpo: {steps: 2}\n"
        "grpo: {steps: 1, tasks_per_step: 1, group_size: 2, max_new_tokens: 8, max_turns: 1}\n"
    )
    env = {"TRACELAKE_LAKE_ROOT": str(tmp_path / "lake")}
    args = ["train", "--recipe", "pipeline", "--config", str(config)]
    result = CliRunner().invoke(app, [*args, "--evaluate", "--eval-tasks-per-level", "1"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.count("ops.train_runs: succeeded") == 3
    assert result.output.count("evaluation eval-") == 3
    phases = ("sft", "dpo", "grpo")
    records = [json.loads((out / p / "run_record.json").read_text()) for p in phases]
    assert [r["recipe"] for r in records] == ["sft", "dpo", "grpo"]
    assert records[1]["options"]["model"]["path"] == str(out / "sft")
    assert records[2]["options"]["model"]["path"] == str(out / "dpo")
    ctx = JobContext.create(Settings(lake_root=str(tmp_path / "lake")))
    assert ctx.lake.read(catalog.OPS_TRAIN_RUNS).num_rows == 3
    evaluated = set(ctx.lake.read(catalog.OPS_EVAL_RESULTS).column("checkpoint").to_pylist())
    assert evaluated == {str(out / p) for p in phases}


def test_pipeline_refuses_unknown_repeated_or_unfed_phases(exports, tmp_path: Path) -> None:
    from tracelake.trainer.errors import TrainerInputError
    from tracelake.trainer.run import PipelineOptions

    for phases, message in (
        (["sft", "ppo"], "ppo"),
        (["sft", "sft"], "appear twice"),
        (["dpo"], "no manifest"),
    ):
        with pytest.raises(TrainerInputError, match=message):
            PipelineOptions(phases=phases).validate(None)
    PipelineOptions(phases=["grpo"]).validate(None)  # the environment is its data
