"""Trace ingest: sources, dialect parsers, validation, quarantine."""
