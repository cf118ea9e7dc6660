"""Deadline-alert callbacks. They run in the Airflow triggerer (async), so they stay tiny."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("tracelake.airflow")


async def deadline_missed(context: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """A DAG run is still unfinished at its deadline: a stuck task or a backlog to look at."""
    dag_run = (context or {}).get("dag_run") or {}
    dag_id = dag_run.get("dag_id") if isinstance(dag_run, dict) else getattr(dag_run, "dag_id", "")
    run_id = dag_run.get("run_id") if isinstance(dag_run, dict) else getattr(dag_run, "run_id", "")
    log.warning(
        "tracelake DAG run missed its deadline: dag_id=%s run_id=%s %s",
        dag_id or kwargs.get("dag_id"),
        run_id,
        kwargs.get("what", ""),
    )
