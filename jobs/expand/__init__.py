"""Scenario expansion: verified synthetic variations of seed runs, with lineage to the seed.

lift (seed events -> a task the environment can run) -> transforms (small named steps) ->
episode (re-execution in the environment, recorded as events) -> verify (format, execution by
an independent replayer, semantic) -> accepted runs or rejected candidates with the reason.
"""
