"""Silver-tier jobs: scrubbed events, runs, component lineage and workflow patterns."""
