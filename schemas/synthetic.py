"""Records of scenario expansion: one row per accepted synthetic run (its lineage to the seed)
and one per rejected candidate. Synthetic events themselves use the AgentEvent shape."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SyntheticRun(BaseModel):
    """One row of `silver.synthetic_runs`: how a variation was made and verified."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    synthetic_run_id: str = Field(description="run_id of the variation's events.")
    seed_run_id: str = Field(description="The seed run it was derived from.")
    seed_outcome: str = Field(description="success or failure of the seed.")
    transforms: str = Field(description="JSON list: the transform chain with its parameters.")
    transform_names: list[str] = Field(description="The chain's transform names, in order.")
    generator: str = Field(description="Producer and version, e.g. tracelake-expander/1.")
    generator_version: int = Field(description="Expander version.")
    gen_seed: int = Field(description="Generator seed (settings expand.seed).")
    fit_fingerprint: str | None = Field(
        default=None,
        description="Fingerprint of the component figures fitted from real runs that the "
        "environment ran with (null only in rows written before fitting existed).",
    )
    env_seed: int = Field(description="Environment seed the variation was executed with.")
    family: str = Field(description="Task family (scenario).")
    level: int = Field(description="1 single-domain, 2 cross-domain, 3 novel.")
    goal: str = Field(description="The variation's goal.")
    outcome: str = Field(description="success or failure, judged on the final state.")
    violations: list[str] = Field(description="Constraint violations the environment saw.")
    faults_injected: int = Field(description="Failed attempts during the run.")
    faults_recovered: int = Field(description="Of those, recovered by retry or fallback.")
    n_events: int = Field(description="Events of the variation.")
    verification: str = Field(description="JSON: result of the format/execution/semantic checks.")


class SyntheticRejected(BaseModel):
    """One row of `silver.synthetic_rejected`: a candidate (or seed) that was not used."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    candidate_id: str = Field(description="Would-be synthetic run id (seed:<id> for seeds).")
    seed_run_id: str = Field(description="The seed run.")
    transforms: str = Field(description="JSON list: the transform chain tried.")
    check: str = Field(
        description="What rejected it: seed, transform, build, near_identical, format, "
        "execution or semantic."
    )
    reason: str = Field(description="Why, in words a person can act on.")
    generator: str = Field(description="Producer and version.")
    generator_version: int = Field(description="Expander version.")
    gen_seed: int = Field(description="Generator seed.")
    fit_fingerprint: str | None = Field(
        default=None,
        description="Fingerprint of the fitted component figures in force (null only in rows "
        "written before fitting existed).",
    )


def _schemas():  # imported late: schemas.arrow derives types from the models above
    import pyarrow as pa

    from .arrow import model_fields_to_arrow

    return (
        pa.schema(model_fields_to_arrow(SyntheticRun)),
        pa.schema(model_fields_to_arrow(SyntheticRejected)),
    )


SYNTHETIC_RUNS_SCHEMA, SYNTHETIC_REJECTED_SCHEMA = _schemas()
