"""DPO and constitutional recipes on the fixture exports."""

from __future__ import annotations

from pathlib import Path

import torch

from tracelake.trainer.constitutional import ConstitutionalOptions, run_constitutional
from tracelake.trainer.dpo import DPOOptions, dpo_loss, run_dpo
from tracelake.trainer.model import HybridOptions
from tracelake.trainer.session import ModelOptions

FAST = ModelOptions(hybrid=HybridOptions(lr_lora=5e-3, lr_full=5e-3))


def test_dpo_loss_prefers_the_chosen_side() -> None:
    ref = torch.tensor([-10.0, -10.0])
    assert dpo_loss(torch.tensor([-9.0, -11.0]), ref, 0.1) < dpo_loss(ref, ref, 0.1)
    assert torch.isclose(dpo_loss(ref, ref, 0.1), torch.log(torch.tensor(2.0)))


def test_dpo_raises_heldout_preference_accuracy(exports, tmp_path: Path) -> None:
    options = DPOOptions(
        output_dir=str(tmp_path / "dpo"), steps=8, pairs_per_step=2, beta=0.5, model=FAST
    )
    record = run_dpo(exports["dpo"], options)
    assert record.eval["heldout_pref_accuracy"] >= 0.75
    assert record.eval["heldout_pref_accuracy"] >= record.eval["heldout_pref_accuracy_before"]
    assert record.reload_check["ok"] and record.status == "succeeded"


def test_constitutional_critique_then_preferences(exports, tmp_path: Path) -> None:
    options = ConstitutionalOptions(
        output_dir=str(tmp_path / "const"),
        critique_steps=8,
        preference_steps=4,
        micro_batches=1,
        pairs_per_step=2,
        pack_capacity=512,
        beta=0.5,
        model=FAST,
    )
    record = run_constitutional(exports["constitutional"], options)
    assert record.eval["critique_heldout_loss"] < record.eval["critique_heldout_loss_before"]
    assert record.steps == 12 and record.reload_check["ok"]
