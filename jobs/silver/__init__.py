"""Silver-tier derived jobs: each module exposes one `JOB` (an IncrementalJob)."""
