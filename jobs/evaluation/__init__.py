"""The workflow benchmark: policies play the held-out tasks of the executable environment through
the trainer's episode loop; metrics (docs/evaluation.md), ops.eval_results, episodes written
back as events, and an offline HTML report.

Lives under `jobs/` (not `trainer/`) because it writes the lake; it imports the trainer only to
share its episode loop, template and model loading (the `train` extra, for model policies).
"""
