"""The batch layer: lake I/O, ingest, Spark jobs, quality gates, export, and the `tracelake` CLI."""
