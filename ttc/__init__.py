"""ttc: a reproduction of Snell et al. (2024), test-time compute vs parameters.

The package holds the synthetic math world, the model ladder, the sampler and
(in later stages) the verifiers and search methods; the notebooks in
`notebooks/` call into it and draw the paper's figures.
"""

__version__ = "0.1.0"

# Before anything of ttc imports torch or numpy: one instruction set for every library (ttc.determinism).
from ttc import determinism as _determinism

_determinism.pin()
