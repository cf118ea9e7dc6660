"""The one job registry: every job is declared once and the CLI, Airflow and spark-submit look
it up here.

Two kinds of job:
  - built-in jobs (ingest, simulate, landing, collect, build, rebuild), declared in
    `jobs/builtins.py` with their typed parameters;
  - derived jobs, DISCOVERED: every module under a stage package (`STAGE_PACKAGES`) that
    assigns a module-level `JOB` implementing `runner.IncrementalJob` (name, sources, output,
    compute) is a job, with no other edit. Optional attributes on `JOB`: `params` (a pydantic
    model subclassing `DerivedParams`), `description`, `needs_spark` (default True).

The build order is the topological sort of the derived jobs' declared reads and writes.

Importing this module is cheap (pydantic only). `discover()` imports the job modules (which
may import pyspark); `plan()` gives the same job list as plain data without importing them in
this process, for DAG files (see `plan`).
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ConfigError

if TYPE_CHECKING:
    from .context import JobContext, JobResult

# The packages whose modules may hold derived jobs, in stage order (under tracelake.jobs).
STAGE_PACKAGES: tuple[str, ...] = ("silver", "gold", "curate", "quality", "export")
JOBS_PACKAGE = "tracelake.jobs"
# The attribute a derived job module assigns.
JOB_ATTRIBUTE = "JOB"

JobKind = Literal["builtin", "derived"]


class JobParams(BaseModel):
    """Base of every job's parameters: unknown keys are errors, values are coerced from text
    (CLI `--param k=v`) and JSON (Airflow params, spark-submit `--params`) the same way."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DerivedParams(JobParams):
    """What every derived job takes; a job's own `params` model subclasses this."""

    full: bool = False  # recompute the output table from its sources instead of incrementally


@dataclass(frozen=True)
class JobSpec:
    """One job, as plain data (JSON-able): what the DAGs and the CLI need to know about it."""

    name: str
    kind: JobKind
    # "module:attribute": a derived job's JOB object, or a built-in job's run(ctx, params).
    entry: str
    description: str
    reads: tuple[str, ...] = ()  # qualified table names (tier.name)
    writes: tuple[str, ...] = ()
    needs_spark: bool = False
    # "module:Model" of the parameters; "" = DerivedParams for derived jobs.
    params_entry: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobSpec:
        return cls(
            name=data["name"],
            kind=data["kind"],
            entry=data["entry"],
            description=data["description"],
            reads=tuple(data["reads"]),
            writes=tuple(data["writes"]),
            needs_spark=bool(data["needs_spark"]),
            params_entry=data.get("params_entry", ""),
        )

    # -- loading (imports the job's module) -------------------------------------------------

    def load(self) -> Any:
        return _resolve(self.entry)

    def params_model(self) -> type[BaseModel]:
        if self.params_entry:
            model = _resolve(self.params_entry)
        elif self.kind == "derived":
            model = getattr(self.load(), "params", None) or DerivedParams
        else:
            model = JobParams
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise ConfigError(f"job {self.name}: params must be a pydantic model, got {model!r}")
        return model

    def parse_params(self, raw: Mapping[str, Any] | BaseModel | None) -> BaseModel:
        """Validate parameters from any caller; errors name the job and the parameter."""
        model = self.params_model()
        if isinstance(raw, model):
            return raw
        if isinstance(raw, BaseModel):
            raw = raw.model_dump()
        try:
            return model.model_validate(dict(raw or {}))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(params)'}: {e['msg']}"
                for e in exc.errors()
            )
            known = ", ".join(model.model_fields) or "none"
            raise ConfigError(
                f"invalid parameters for job {self.name}: {problems} (parameters: {known})"
            ) from None

    def run(
        self, ctx: JobContext, params: Mapping[str, Any] | BaseModel | None = None
    ) -> JobResult:
        """Validate `params` and run the job once."""
        parsed = self.parse_params(params)
        if self.kind == "derived":
            from .runner import run_job

            return run_job(
                ctx, self.load(), full=bool(getattr(parsed, "full", False)), params=parsed
            )
        return self.load()(ctx, parsed)


def params_from_pairs(spec: JobSpec, pairs: Iterable[str]) -> dict[str, Any]:
    """`key=value` texts (the CLI's --param) as a params mapping: a repeated key or a list
    field collects a list; a value starting with [ or { is JSON; the rest stays text for the
    model to coerce, as it coerces JSON from Airflow and spark-submit."""
    fields = spec.params_model().model_fields
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ConfigError(f"--param {pair!r}: write key=value (job {spec.name})")
        value: Any = text
        if text[:1] in "[{":
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"--param {key}: not valid JSON ({exc})") from None
        is_list = key in fields and "list" in str(fields[key].annotation)
        if key in out or is_list:
            previous = out.get(key, [])
            out[key] = [*previous, *(value if isinstance(value, list) else [value])]
        else:
            out[key] = value
    return out


def _resolve(entry: str) -> Any:
    module_name, _, attribute = entry.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load {entry}: {exc}") from None


# -- discovery --------------------------------------------------------------------------------


def stage_packages() -> tuple[str, ...]:
    """The full names of the stage packages, e.g. tracelake.jobs.silver."""
    return tuple(f"{JOBS_PACKAGE}.{stage}" for stage in STAGE_PACKAGES)


def _stage_dirs(packages: Iterable[str]) -> list[tuple[str, Path]]:
    """(package name, folder) of each stage package that exists, without importing it."""
    out = []
    for name in packages:
        try:
            spec = find_spec(name)
        except ModuleNotFoundError:
            spec = None
        if spec is None or not spec.submodule_search_locations:
            continue
        for location in spec.submodule_search_locations:
            out.append((name, Path(location)))
    return out


def _defines_job(source: str) -> bool:
    """Whether the module source assigns JOB at module level (read, never executed)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return True  # let the import report the error where it is
    for node in tree.body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        for target in targets:
            names = target.elts if isinstance(target, ast.Tuple) else [target]
            if any(isinstance(n, ast.Name) and n.id == JOB_ATTRIBUTE for n in names):
                return True
    return False


def candidate_modules(packages: Iterable[str] | None = None) -> list[tuple[str, Path]]:
    """(module name, file) of every stage module that defines JOB, in a stable order."""
    found = []
    for package, folder in _stage_dirs(stage_packages() if packages is None else packages):
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder)
            if any(part.startswith(("_", ".")) for part in rel.parts):
                continue
            # Only modules reachable as packages (every folder on the way has __init__.py).
            if any(
                not (folder / Path(*rel.parts[:i]) / "__init__.py").exists()
                for i in range(1, len(rel.parts))
            ):
                continue
            if _defines_job(path.read_text(encoding="utf-8")):
                module = ".".join((package, *rel.with_suffix("").parts))
                found.append((module, path))
    return found


def derived_spec(module_name: str, job: Any) -> JobSpec:
    """Check a JOB object against the IncrementalJob protocol and describe it."""
    where = f"{module_name}.{JOB_ATTRIBUTE}"
    name = getattr(job, "name", None)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where} has no `name` (a non-empty string); see docs/jobs.md")
    sources = getattr(job, "sources", None)
    output = getattr(job, "output", None)
    if not isinstance(sources, tuple | list) or not sources:
        raise ConfigError(f"{where} ({name}) needs `sources`: a tuple of catalog TableSpecs")
    if output is None or not all(hasattr(s, "qualified_name") for s in [*sources, output]):
        raise ConfigError(f"{where} ({name}): sources and output must be catalog TableSpecs")
    if not callable(getattr(job, "compute", None)):
        raise ConfigError(f"{where} ({name}) has no compute(job_input) method")
    params = getattr(job, "params", None)
    if params is not None and not (isinstance(params, type) and issubclass(params, DerivedParams)):
        raise ConfigError(f"{where} ({name}): `params` must subclass registry.DerivedParams")
    description = getattr(job, "description", None) or _first_line(sys.modules[module_name].__doc__)
    return JobSpec(
        name=name,
        kind="derived",
        entry=f"{module_name}:{JOB_ATTRIBUTE}",
        description=description
        or f"{', '.join(s.qualified_name for s in sources)} -> {output.qualified_name}",
        reads=tuple(s.qualified_name for s in sources),
        writes=(output.qualified_name,),
        needs_spark=bool(getattr(job, "needs_spark", True)),
    )


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n", 1)[0].strip()


def discover(packages: Iterable[str] | None = None) -> list[JobSpec]:
    """Every derived job (imports the stage modules), in build order."""
    specs = []
    for module_name, _ in candidate_modules(packages):
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(f"job module {module_name} does not import: {exc}") from exc
        job = getattr(module, JOB_ATTRIBUTE, None)
        if job is None:
            continue
        specs.append(derived_spec(module_name, job))
    return build_order(specs)


def build_order(specs: Iterable[JobSpec]) -> list[JobSpec]:
    """Jobs sorted so that each runs after the jobs writing the tables it reads (ties by name).

    Errors: two jobs with one name, two jobs writing one table, a cycle."""
    by_name: dict[str, JobSpec] = {}
    writer: dict[str, str] = {}
    for spec in specs:
        if spec.name in by_name:
            raise ConfigError(
                f"two jobs are named {spec.name!r}: {by_name[spec.name].entry} "
                f"and {spec.entry}; rename one"
            )
        by_name[spec.name] = spec
        for table in spec.writes:
            if table in writer:
                raise ConfigError(
                    f"jobs {writer[table]} and {spec.name} both write {table}; "
                    "one table has one writing job"
                )
            writer[table] = spec.name
    upstream = {
        name: {writer[t] for t in spec.reads if t in writer and writer[t] != name}
        for name, spec in by_name.items()
    }
    ordered: list[str] = []
    done: set[str] = set()
    while len(ordered) < len(by_name):
        ready = sorted(n for n in by_name if n not in done and upstream[n] <= done)
        if not ready:
            raise ConfigError(
                f"the derived jobs read each other's tables in a cycle: "
                f"{_cycle(upstream, done)}; break it"
            )
        ordered.extend(ready)
        done.update(ready)
    return [by_name[n] for n in ordered]


def _cycle(upstream: dict[str, set[str]], done: set[str]) -> str:
    """One cycle among the jobs not yet ordered, as `a -> b -> a`."""
    node = min(n for n in upstream if n not in done)
    path: list[str] = []
    while node not in path:
        path.append(node)
        node = min(u for u in upstream[node] if u not in done)
    cycle = [*path[path.index(node) :], node]
    return " -> ".join(reversed(cycle))


def upstream_jobs(specs: list[JobSpec]) -> dict[str, list[str]]:
    """For each job, the jobs that write a table it reads (the build DAG's edges)."""
    writer = {t: s.name for s in specs for t in s.writes}
    return {
        s.name: sorted({writer[t] for t in s.reads if t in writer and writer[t] != s.name})
        for s in specs
    }


# -- lookup -------------------------------------------------------------------------------


def all_jobs() -> list[JobSpec]:
    """Built-in jobs, then the derived jobs in build order (imports the derived modules)."""
    from .builtins import BUILTIN_JOBS

    return [*BUILTIN_JOBS, *discover()]


def get(name: str) -> JobSpec:
    """The job called `name`; the error lists the known jobs."""
    from .builtins import BUILTIN_JOBS

    for spec in BUILTIN_JOBS:
        if spec.name == name:
            return spec
    jobs = discover()
    for spec in jobs:
        if spec.name == name:
            return spec
    known = ", ".join(sorted([s.name for s in BUILTIN_JOBS] + [s.name for s in jobs]))
    raise ConfigError(f"unknown job {name!r}; known jobs: {known} (list them: tracelake jobs)")


def run(
    name: str, ctx: JobContext, params: Mapping[str, Any] | BaseModel | None = None
) -> JobResult:
    """Look up job `name`, validate its parameters and run it."""
    return get(name).run(ctx, params)


# -- the plan: the derived jobs as data, without importing them here ------------------------

PLAN_FORMAT = 1


def _plan_key() -> str:
    digest = hashlib.sha256(f"{PLAN_FORMAT}:{sys.version_info[:2]}".encode())
    for module_name, path in candidate_modules():
        digest.update(module_name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:24]


def _plan_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "tracelake" / "plans"


def plan() -> list[JobSpec]:
    """The derived jobs in build order, as data, without importing their modules in this process.

    Job modules may import pyspark, which a DAG file must not do while it is parsed. The plan is
    computed once per content of the stage modules by a child interpreter (`python -m
    tracelake.jobs.registry plan`) and cached by a hash of those sources, so every later parse
    reads one small JSON file; a changed or new job module changes the hash."""
    key = _plan_key()
    cache = _plan_cache_dir() / f"plan-{key}.json"
    try:
        return [JobSpec.from_dict(d) for d in json.loads(cache.read_text())]
    except (OSError, ValueError, KeyError):
        pass
    proc = subprocess.run(
        [sys.executable, "-m", "tracelake.jobs.registry", "plan"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        message = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ConfigError(f"could not list the derived jobs: {message}")
    data = json.loads(proc.stdout)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=cache.parent, delete=False) as tmp:
            tmp.write(json.dumps(data))
        os.replace(tmp.name, cache)
    except OSError:  # a read-only home: the plan is recomputed on each parse
        pass
    return [JobSpec.from_dict(d) for d in data]


def _main(argv: list[str]) -> int:
    if argv != ["plan"]:
        print("usage: python -m tracelake.jobs.registry plan", file=sys.stderr)
        return 2
    # Run as __main__, this file is a second copy of the module: use the one job modules import.
    from tracelake.jobs import registry

    try:
        specs = registry.discover()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps([s.to_dict() for s in specs]))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
