"""The trainer: SFT, DPO, constitutional and GRPO recipes on an export manifest, never the lake.

Install with the `train` extra. Entry point: `tracelake train --manifest M --recipe R` or
`python -m tracelake.trainer.run`.
"""
