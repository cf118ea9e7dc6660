"""Errors a user can act on. The CLI prints them as one line and exits non-zero."""

from __future__ import annotations


class TracelakeError(Exception):
    """Base class: the message says what was wrong, where, and what to do."""

    exit_code = 2


class ConfigError(TracelakeError):
    """Settings are missing or invalid."""


class InputNotFoundError(TracelakeError):
    """An input path, glob or prefix matched nothing."""


class StorageUnreachableError(TracelakeError):
    """The object store (S3 endpoint) could not be reached."""


class StorageAuthError(TracelakeError):
    """The object store refused the credentials."""


class NotALakeError(TracelakeError):
    """The lake root holds something that is not a tracelake table where one is expected."""


class TableNotFoundError(TracelakeError):
    """A table that a job reads has not been created yet."""


class JobFailedError(TracelakeError):
    """A job failed; nothing it would have written is visible."""


class UnknownFormatError(TracelakeError):
    """A --format name that no dialect has."""


class SqlQueryError(TracelakeError):
    """The SQL text is invalid or refers to something that does not exist."""


class AppendOnlyViolationError(TracelakeError):
    """An overwrite or rewrite was requested for an append-only (bronze) table."""


class ConcurrentWriteError(TracelakeError):
    """Another writer changed the files a rewrite depended on; nothing was committed."""


class InvalidSimulationError(TracelakeError):
    """A simulate parameter is out of range."""


class OutputNotEmptyError(TracelakeError):
    """The output directory already holds simulator shards."""


class WriterFenceError(TracelakeError):
    """Another writer committed to the table after this one read it; decide again and retry."""


class ExportConflictError(TracelakeError):
    """The destination already holds an export of the same build id with other content."""


class DestinationNotWritableError(TracelakeError):
    """The export destination cannot be written (permissions, a file in the way, no bucket)."""


class GateFailedError(TracelakeError):
    """The latest quality gate result of a table an export reads failed."""


class ExportVerifyError(TracelakeError):
    """A shard no longer matches its manifest (altered, truncated or missing)."""
