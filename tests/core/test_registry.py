"""The job registry: discovery of derived jobs, build order, typed parameters, the cheap plan."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tracelake.jobs import registry
from tracelake.jobs.builtins import BUILTIN_JOBS, IngestParams
from tracelake.jobs.errors import ConfigError
from tracelake.jobs.registry import JobSpec

EXTRA_JOB = '''
"""A test stage job: silver.runs -> gold.test_{suffix}."""
from tracelake.jobs.lake.catalog import SILVER_RUNS, TableSpec
from tracelake.jobs.registry import DerivedParams
from tracelake.schemas.arrow import JOB_RUNS_SCHEMA


class Params(DerivedParams):
    top_k: int = 3


class _Job:
    name = "test_{suffix}"
    sources = (SILVER_RUNS,)
    output = TableSpec(tier="gold", name="test_{suffix}", schema=JOB_RUNS_SCHEMA)
    params = Params

    def compute(self, job_input):
        raise NotImplementedError


JOB = _Job()
'''


def _spec(name: str, reads: tuple[str, ...], writes: tuple[str, ...]) -> JobSpec:
    return JobSpec(
        name=name,
        kind="derived",
        entry=f"m:{name}",
        description="",
        reads=reads,
        writes=writes,
        needs_spark=True,
    )


@pytest.fixture
def stage_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A stage package outside the repo holding one new job module (and a helper module)."""
    package = f"tl_stage_{tmp_path.name.replace('-', '_')}"
    folder = tmp_path / package
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "top.py").write_text(EXTRA_JOB.replace("{suffix}", tmp_path.name[-6:]))
    (folder / "helpers.py").write_text("X = 1  # no JOB: not a job\n")
    (folder / "_private.py").write_text("JOB = None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return package


def test_project_runs_is_discovered_from_its_stage_module():
    (spec,) = [s for s in registry.discover() if s.name == "project_runs"]
    assert spec.entry == "tracelake.jobs.silver.runs:JOB"
    assert spec.reads == ("silver.events",)
    assert spec.writes == ("silver.runs",)
    assert spec.needs_spark and spec.kind == "derived"


def test_a_new_stage_module_is_a_job_with_no_other_edit(stage_package):
    packages = (*registry.stage_packages(), stage_package)
    modules = [m for m, _ in registry.candidate_modules(packages)]
    assert f"{stage_package}.top" in modules
    assert f"{stage_package}.helpers" not in modules  # defines no JOB
    assert f"{stage_package}._private" not in modules
    specs = registry.discover(packages)
    names = [s.name for s in specs]
    new = next(s for s in specs if s.entry == f"{stage_package}.top:JOB")
    # It reads silver.runs, which project_runs writes: it is ordered after it.
    assert names.index(new.name) > names.index("project_runs")
    assert registry.upstream_jobs(specs)[new.name] == ["project_runs"]
    assert new.description.startswith("A test stage job")
    # Its own parameters model, validated like any other job's.
    assert new.parse_params({"top_k": "5"}).top_k == 5
    with pytest.raises(ConfigError, match="top_kk"):
        new.parse_params({"top_kk": 1})


def test_build_order_is_topological_with_ties_by_name():
    specs = [
        _spec("c", ("silver.b",), ("gold.c",)),
        _spec("b", ("silver.a",), ("silver.b",)),
        _spec("a", ("bronze.events",), ("silver.a",)),
        _spec("z", ("bronze.events",), ("silver.z",)),
        _spec("d", ("silver.a", "gold.c"), ("gold.d",)),
    ]
    assert [s.name for s in registry.build_order(specs)] == ["a", "z", "b", "c", "d"]
    assert registry.upstream_jobs(specs)["d"] == ["a", "c"]


def test_a_cycle_is_a_clear_error_naming_it():
    specs = [
        _spec("a", ("bronze.events", "gold.c"), ("silver.a",)),
        _spec("b", ("silver.a",), ("silver.b",)),
        _spec("c", ("silver.b",), ("gold.c",)),
        _spec("free", ("bronze.events",), ("silver.free",)),
    ]
    with pytest.raises(ConfigError, match=r"cycle: a -> b -> c -> a") as info:
        registry.build_order(specs)
    assert "free" not in str(info.value)


def test_one_table_has_one_writer_and_names_are_unique():
    with pytest.raises(ConfigError, match=r"both write silver\.a"):
        registry.build_order([_spec("a", (), ("silver.a",)), _spec("b", (), ("silver.a",))])
    with pytest.raises(ConfigError, match="two jobs are named 'a'"):
        registry.build_order([_spec("a", (), ("silver.a",)), _spec("a", (), ("silver.b",))])


def test_parameters_validate_the_same_from_cli_text_and_json():
    ingest = registry.get("ingest")
    from_cli = ingest.parse_params(registry.params_from_pairs(ingest, ["paths=a.jsonl"]))
    from_json = ingest.parse_params(json.loads('{"paths": ["a.jsonl"]}'))
    assert from_cli == from_json == IngestParams(paths=["a.jsonl"])
    two = registry.params_from_pairs(ingest, ["paths=a", "paths=b", "format=chat"])
    assert ingest.parse_params(two) == IngestParams(paths=["a", "b"], format="chat")
    simulate = registry.get("simulate")
    parsed = simulate.parse_params(registry.params_from_pairs(simulate, ["out=x", "runs=12"]))
    assert parsed.runs == 12
    with pytest.raises(ConfigError, match=r"job simulate: runs: .*integer"):
        simulate.parse_params({"out": "x", "runs": "many"})
    with pytest.raises(ConfigError, match="job simulate: seeds: Extra inputs"):
        simulate.parse_params({"out": "x", "seeds": 1})
    with pytest.raises(ConfigError, match="write key=value"):
        registry.params_from_pairs(simulate, ["runs"])


def test_unknown_job_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown job 'nope'; known jobs: .*project_runs"):
        registry.get("nope")


def test_every_builtin_job_resolves_its_entry_and_params():
    for spec in BUILTIN_JOBS:
        assert callable(spec.load()), spec.name
        assert issubclass(spec.params_model(), registry.JobParams), spec.name
    names = {s.name for s in BUILTIN_JOBS}
    assert {"ingest", "simulate", "landing", "collect", "build"} <= names


def test_plan_lists_the_derived_jobs_without_importing_them(tmp_path):
    """What a DAG file does while parsed: no pyspark, no lake, no job module in the process."""
    script = textwrap.dedent(
        """
        import json, sys
        from tracelake.jobs import registry
        plan = registry.plan()
        heavy = [m for m in ("pyspark", "deltalake", "tracelake.jobs.silver.runs",
                             "tracelake.jobs.lake") if m in sys.modules]
        print(json.dumps({"plan": [s.to_dict() for s in plan], "heavy": heavy}))
        """
    )
    env = {"XDG_CACHE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    for attempt in ("cold", "cached"):
        proc = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
        )
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        assert out["heavy"] == [], attempt
        assert [s["name"] for s in out["plan"]] == [s.name for s in registry.discover()]
    assert list((tmp_path / "tracelake" / "plans").glob("plan-*.json"))


def test_the_runner_does_not_import_pyspark_for_a_run_with_nothing_to_do(tmp_path):
    """Bookmark checks and no-op runs stay light: no pyspark until there is work."""
    script = textwrap.dedent(
        f"""
        import sys
        from tracelake.jobs import registry, runner
        from tracelake.jobs.context import JobContext
        from tracelake.jobs.settings import Settings
        from tracelake.jobs.lake import catalog

        class Job:
            name = "light"
            sources = (catalog.BRONZE_EVENTS,)
            output = catalog.SILVER_RUNS
            def compute(self, job_input):
                raise AssertionError("nothing to compute")

        ctx = JobContext.create(Settings(lake_root={str(tmp_path / "lake")!r}))
        result = runner.run_job(ctx, Job())
        assert result.status == "noop", result
        print("PYSPARK" if "pyspark" in sys.modules else "LIGHT")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "LIGHT"
