import ttc  # first: it pins the instruction set of torch and numpy before they load (ttc.core.determinism)
import pytest
import torch

from ttc.models.lm import LADDER, build_model
from ttc.world.synthetic import WorldConfig, make_splits
from ttc.world.tokenizer import build_tokenizer

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tokenizer():
    return build_tokenizer()


@pytest.fixture(scope="session")
def splits():
    # Two-digit residues, and chains of at most 16 steps so that a 13-modulus document fits a 256-token row.
    return make_splits(WorldConfig(n_train=400, n_val=30, n_test=30, modulus=13,
                                   modchain_ops=((1, 1), (2, 3), (4, 6), (7, 10), (11, 16))))


@pytest.fixture(scope="session")
def tiny_model(tokenizer):
    """An untrained miniature ladder model: its outputs are random text, which is what sampler tests want."""
    model = build_model(LADDER["d16-l1"], tokenizer, seed=0)
    model.eval()
    return model


def offline_error(code: str) -> str:
    """What `code` prints in a fresh interpreter with HF_HUB_OFFLINE=1 and an empty Hugging Face cache (a fresh
    one, so that the libraries read the variable at import)."""
    import os
    import subprocess
    import sys

    env = os.environ | {"HF_HUB_OFFLINE": "1", "HF_HOME": "/nonexistent-hf-home"}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120).stdout


def run_notebook(name: str, out, kernel_name: str = "python3", **overrides):
    """Notebook `name` executed by papermill at the tiny profile, with `overrides`, into `out` (the way
    `make reproduce` runs it: from notebooks/), in the data and figure roots the environment names."""
    import papermill as pm

    from ttc.core.config import ROOT

    params = {"profile": "tiny"} | overrides  # as make reproduce gives them: the notebook reads the profile's file
    return pm.execute_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"), str(out), parameters=params,
                               kernel_name=kernel_name, cwd=str(ROOT / "notebooks"), progress_bar=False)
