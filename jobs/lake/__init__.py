"""The lake: table catalog and Delta I/O. Jobs read and write tables only through here."""

from . import catalog
from .catalog import TableSpec
from .store import Lake

__all__ = ["Lake", "TableSpec", "catalog"]
