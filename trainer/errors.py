"""Trainer input errors: one line (what, where, what to do), raised before any training starts."""

from __future__ import annotations

from tracelake.jobs.errors import TracelakeError


class TrainerInputError(TracelakeError):
    """A manifest, model directory, recipe or option the trainer cannot use."""
