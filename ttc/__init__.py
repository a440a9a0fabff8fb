"""ttc: a reproduction of Snell et al. (2024), test-time compute vs parameters.

The package is in layers, each importing only the ones before it (tests/test_layers.py checks):

    core       settings, pinned numerics, FLOPs accounting, the artifact store, executors
    world      the synthetic world, its text and tokenizer, MATH-500, the protocol both speak
    models     the ladder's Llama, its sampler, pretraining, fine-tuning, evaluation, hub models
    verifiers  trained PRM/ORM, likelihood and truth checker, probability PRM, real PRMs, selection
    methods    search, revisions, compute-optimal selection, the exchange, statistics
    pipelines  the study's stages as the notebooks run them
    report     one plot function per figure; findings rendered from numbers
    checks     the golden record and `make verify`

The notebooks in `notebooks/` call into the pipelines and the report and draw the paper's figures.
"""

__version__ = "0.1.0"

# Before anything of ttc imports torch or numpy: one instruction set for every library (ttc.core.determinism).
from ttc.core import determinism as _determinism

_determinism.pin()

# A notebook's kernel ends with the papermill or Jupyter server that started it, even while busy in C.
from ttc.core import lifetime as _lifetime

_lifetime.kernel_dies_with_its_parent()
