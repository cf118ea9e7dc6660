"""DAG and task defaults, in one place: every tracelake DAG is built with `dag_kwargs`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from .config import OrchestrationSettings

# A fixed start date in the past and no catch-up: a landing-zone pickup or a rebuild from the
# lake's own state has nothing to back-fill per interval.
START_DATE = datetime(2026, 1, 1, tzinfo=UTC)
TAGS = ("tracelake",)


def default_args(cfg: OrchestrationSettings) -> dict[str, Any]:
    return {
        "owner": cfg.owner,
        "retries": cfg.retries,
        "retry_delay": timedelta(seconds=cfg.retry_delay_s),
        "retry_exponential_backoff": cfg.retry_backoff,
        "max_retry_delay": timedelta(seconds=cfg.max_retry_delay_s),
        "execution_timeout": timedelta(seconds=cfg.execution_timeout_s),
    }


def deadline_alert(cfg: OrchestrationSettings, what: str) -> Any:
    """Alert (in the triggerer) when a run is not done `deadline_s` after it was queued."""
    if not cfg.deadline_s:
        return None
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(seconds=cfg.deadline_s),
        callback=AsyncCallback(
            "tracelake.jobs.orchestration.alerts.deadline_missed", kwargs={"what": what}
        ),
    )


def dag_kwargs(
    cfg: OrchestrationSettings, *, tags: tuple[str, ...], doc_md: str, what: str
) -> dict[str, Any]:
    """Keyword arguments for `@dag`: the shared defaults plus this DAG's tags and docs."""
    return {
        "start_date": START_DATE,
        "catchup": False,
        # Runs of one DAG must not overlap: the jobs commit with app transactions and would
        # only race each other for the same work.
        "max_active_runs": 1,
        "default_args": default_args(cfg),
        "dagrun_timeout": timedelta(seconds=cfg.execution_timeout_s * 2),
        "deadline": deadline_alert(cfg, what),
        "tags": list(TAGS + tags),
        "doc_md": doc_md,
    }
