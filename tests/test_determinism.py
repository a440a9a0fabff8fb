"""The same settings give the same bits: in fresh processes, at 1, 2 and 4 threads; and a process that cannot
give them says so. (The tiny study against the committed golden record is in test_notebooks.)"""

import os
import subprocess
import sys

import pytest

from ttc.core import determinism
from ttc.core.config import ROOT

# The full profile's policy, pretrained for 200K tokens in a fresh process with the given thread count;
# prints its weights' SHA-256.
PRETRAIN = """
import hashlib, sys, tempfile
from pathlib import Path
import ttc, torch
torch.set_num_threads(int(sys.argv[1]))
from ttc.pipelines.ladder_study import pretrain_on_world
from ttc.pipelines.study import Study, profile_params
from ttc.world.tokenizer import build_tokenizer
from ttc.world.synthetic import make_splits
cfg = Study.from_params(profile_params("full") | {"pretrain_tokens": 200_000}).config
with tempfile.TemporaryDirectory() as d:
    pretrain_on_world(cfg.ladder.policy, build_tokenizer(), make_splits(cfg.world), cfg.world, cfg.pretrain,
                      Path(d) / "policy", progress=False)
    print(hashlib.sha256((Path(d) / "policy" / "model.safetensors").read_bytes()).hexdigest())
"""


def fresh_python(code: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
                          env=env if env is not None else os.environ.copy(), timeout=600)


def test_the_policys_weights_are_the_same_bits_in_fresh_processes_at_1_2_and_4_threads():
    hashes = {}
    for run, threads in enumerate(("1", "2", "4", "2")):
        done = fresh_python(PRETRAIN, threads)
        assert done.returncode == 0, done.stderr[-2000:]
        hashes[(run, threads)] = done.stdout.strip().splitlines()[-1]
    assert len(set(hashes.values())) == 1, hashes


def unpinned_env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in determinism.PINNED_ENV}


def test_a_process_that_loaded_numpy_or_ran_torch_before_ttc_is_refused_with_what_to_do():
    done = fresh_python("import numpy; import ttc", env=unpinned_env())
    assert done.returncode != 0 and "DeterminismError: numpy dispatches to" in done.stderr
    assert "NPY_DISABLE_CPU_FEATURES=" in done.stderr and "TTC_DETERMINISTIC=0" in done.stderr
    done = fresh_python("import torch; torch.ones(2).exp(); import ttc", env=unpinned_env())
    assert done.returncode != 0 and "torch runs its" in done.stderr and "not the pinned AVX2 ones" in done.stderr
    # imported first, ttc pins both; with the pinned environment (as make and the Jupyter kernel start
    # Python) the order does not matter
    assert fresh_python("import ttc, numpy, torch; torch.ones(2).exp()", env=unpinned_env()).returncode == 0
    assert fresh_python("import numpy, torch; torch.ones(2).exp(); import ttc",
                        env=unpinned_env() | determinism.PINNED_ENV).returncode == 0
    # a variable set to another value is named; the switch turns the pin off
    done = fresh_python("import ttc", env=unpinned_env() | {"ATEN_CPU_CAPABILITY": "avx512"})
    assert done.returncode != 0 and "ATEN_CPU_CAPABILITY='avx512'" in done.stderr
    assert fresh_python("import numpy; import ttc", env=unpinned_env() | {"TTC_DETERMINISTIC": "0"}).returncode == 0


def test_the_kernels_are_built_for_one_instruction_set_never_for_the_host():
    from ttc.core import kernels

    assert not any("native" in flag for flag in kernels.KERNEL_FLAGS)
    assert {"-mavx2", "-mfma", "-ffp-contract=off"} <= set(kernels.KERNEL_FLAGS)
    for path in (ROOT / "ttc").rglob("*.py"):
        assert "march=" + "native" not in path.read_text(), path


@pytest.mark.parametrize("key", sorted(determinism.PINNED_ENV))
def test_every_pinned_variable_is_set_in_this_process(key):
    assert os.environ[key] == determinism.PINNED_ENV[key]
