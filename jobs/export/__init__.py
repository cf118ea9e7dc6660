"""Export: the gold tables as sharded training datasets with a verifiable manifest
(docs/export.md). Not a derived job: it writes files for trainers, not lake tables."""
