"""A verifier by what it is, not by its label: the one place the study's verifier names are written and read.

Tables and figures name verifiers by label ("PRM", "likelihood d64-l4", "checker, noise 0.5"); code that needs
to know what a verifier is (which model it reads with, whether it is the world's truth) asks its `VerifierSpec`,
never the label's text.

Use: `VerifierSpec.parse("likelihood d64-l4").model == "d64-l4"`; `VerifierSpec("checker", noise=0.5).name`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ttc.core.config import ConfigError

TRAINED = {"prm": "PRM", "orm": "ORM"}
"""The paper's verifiers, trained on Monte Carlo labels (notebook 03): their labels."""
PROBABILITY_PRM = "PRM, probability head"
"""`ttc.verifiers.probability_prm.ProbabilityPRM`: the policy pretrained further, a head on its token probabilities."""
PRM_LM = "PRM's LM, likelihood"
"""The probability PRM's language model read as a bare likelihood (no head): what further pretraining alone gives."""
PERFECT_CHECKER = "perfect checker"
"""The noiseless `ttc.verifiers.reference.TruthChecker`: tables and figures look it up by it."""
REVISION_ORM = "revision ORM"
"""The ORM of revision outputs (notebook 06), which reads an attempt after its chain's history."""

Kind = Literal["prm", "orm", "likelihood", "probability_prm", "prm_lm", "checker", "revision_orm"]


@dataclass(frozen=True)
class VerifierSpec:
    kind: Kind
    model: str = ""  # likelihood: the ladder size it reads with
    noise: float = 0.0  # checker: the scale of the Gaussian noise on the truth (0: the perfect checker)

    @property
    def name(self) -> str:
        if self.kind in TRAINED:
            return TRAINED[self.kind]
        return {"likelihood": f"likelihood {self.model}", "probability_prm": PROBABILITY_PRM, "prm_lm": PRM_LM,
                "revision_orm": REVISION_ORM,
                "checker": PERFECT_CHECKER if self.noise == 0 else f"checker, noise {self.noise:g}"}[self.kind]

    @property
    def oracle(self) -> bool:
        """The world's truth standing in for a verifier (it reads nothing and costs nothing)."""
        return self.kind == "checker"

    @classmethod
    def parse(cls, name: str) -> "VerifierSpec":
        fixed = {label: cls(kind) for kind, label in TRAINED.items()} | {
            PROBABILITY_PRM: cls("probability_prm"), PRM_LM: cls("prm_lm"), REVISION_ORM: cls("revision_orm"),
            PERFECT_CHECKER: cls("checker")}
        if name in fixed:
            return fixed[name]
        if m := re.fullmatch(r"likelihood (\S+)", name):
            return cls("likelihood", model=m.group(1))
        if m := re.fullmatch(r"checker, noise ([0-9.eE+-]+)", name):
            return cls("checker", noise=float(m.group(1)))
        raise ConfigError(f"verifier {name!r} is none of the study's: {', '.join(fixed)}, 'likelihood <ladder size>' "
                          "or 'checker, noise <scale>'")
