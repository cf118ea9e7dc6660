"""Silver stage: scrubbed, query-ready tables derived from bronze."""
