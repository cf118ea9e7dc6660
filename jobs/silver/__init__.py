"""Silver-tier jobs derived from the events: component lineage and workflow patterns."""
