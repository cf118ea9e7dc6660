"""Trainer tests: a fixture export and a BPE tokenizer trained on it, shared per session.

One thread per process keeps the CPU smoke runs within the suite's budget on 2 cores.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch
from trainer_fixture import sft_rows, write_all

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_all(str(tmp_path_factory.mktemp("exports")), n_pairs=24)


@pytest.fixture(scope="session")
def tokenizer():
    from tracelake.trainer.sft import corpus_text
    from tracelake.trainer.tokenizer import train_bpe

    return train_bpe(corpus_text(sft_rows(120, seed=3)), vocab_size=512)


@pytest.fixture(scope="session")
def tiny_model(tokenizer):
    from tracelake.trainer.model import build_model, tiny_config

    return build_model(tiny_config(len(tokenizer)), seed=0).eval()


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    return tmp_path / "ckpt"


@pytest.fixture(scope="session")
def sft_smoke(exports, tmp_path_factory: pytest.TempPathFactory):
    """The SFT smoke run (40 steps on the fixture export): its record and checkpoint folder.

    Session-scoped so that later end-to-end tests (evaluation) load the same checkpoint."""
    from tracelake.trainer.model import HybridOptions
    from tracelake.trainer.session import ModelOptions
    from tracelake.trainer.sft import SFTOptions, run_sft

    out_dir = tmp_path_factory.mktemp("sft-smoke") / "ckpt"
    options = SFTOptions(
        output_dir=str(out_dir),
        steps=40,
        micro_batches=1,
        max_length=512,
        pack_capacity=1024,
        model=ModelOptions(hybrid=HybridOptions(lr_lora=5e-3, lr_full=5e-3)),
    )
    return run_sft(exports["sft"], options), out_dir
