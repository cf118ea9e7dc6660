"""Moved to tracelake.jobs.silver.runs (derived jobs live in their stage package); this alias
keeps old imports working."""

from .silver.runs import *  # noqa: F403
from .silver.runs import JOB, JOB_NAME, LOCAL_READ_MAX_ROWS, ProjectRuns, run

__all__ = ["JOB", "JOB_NAME", "LOCAL_READ_MAX_ROWS", "ProjectRuns", "run"]
