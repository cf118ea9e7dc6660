"""The lake: table catalog and Delta I/O. Jobs read and write tables only through here."""

import os

# delta-rs logs through Rust's env_logger, which prints WARN lines by default: without AWS keys
# it warns three times about the EC2 metadata service before the one-line error that matters.
# Errors are raised to Python and reported by tracelake; set RUST_LOG to see the Rust logs.
os.environ.setdefault("RUST_LOG", "error")

from . import catalog
from .catalog import TableSpec
from .store import Lake

__all__ = ["Lake", "TableSpec", "catalog"]
