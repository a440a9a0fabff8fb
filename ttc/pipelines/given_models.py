"""What a study runs on: its world, policy and PRM (issue 17). By default the synthetic world, a policy of the
project's ladder and the PRM the project trains; or MATH (MATH-500, or any MATH-style set) with a given Hugging
Face policy and a given PRM, chosen by parameters, not code:

    world: math500                      # or synthetic
    math_source: HuggingFaceH4/MATH-500 # a hub name or a local parquet / JSON file
    policy: Qwen/Qwen2.5-1.5B-Instruct  # a ladder size (synthetic) or a model name / directory (math500)
    prm: peiyi9979/math-shepherd-mistral-7b-prm  # "project" (synthetic) or a model name / directory (math500)
    prm_kind: step_tag                  # or classification (Qwen2.5-Math-PRM's style; see ttc.verifiers.prm_adapters)

The two are not mixed: the ladder and the project's PRM speak the synthetic world's tokenizer, which cannot
write MATH's LaTeX, and a real model has not learnt the synthetic world. With given models nothing is trained:
each notebook that cannot run says so in its first cell and stops there (`check_notebook`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ttc.core.config import ConfigError, check_fields
from ttc.verifiers.prm_adapters import PRMConfig

PROJECT_PRM = "project"

SKIPPED_WITH_GIVEN_MODELS = {
    "01": "it pretrains the ladder of small models on the synthetic world; a given policy is not trained",
    "03": "it trains the project's PRM and ORM and measures verifiers against each step's truth, which MATH lacks",
    "06": "it fine-tunes the project's policy into a revision model; a given revision model is not supported",
    "07": "it compares the project's ladder of pretrained sizes; a given policy has no ladder",
    "seed_study": "it retrains the project's ladder at other seeds; a given policy is not trained",
}
"""Per notebook, why it does not run with given models (an entry leaves once its notebook runs on MATH)."""


@dataclass(frozen=True)
class ModelsConfig:
    world: Literal["synthetic", "math500"] = "synthetic"
    math_source: str = "HuggingFaceH4/MATH-500"  # world=math500: a hub name or a local parquet / JSON file
    policy: str = "d32-l2"  # a ladder size (synthetic) or a Hugging Face model name or directory (math500)
    prm: str = PROJECT_PRM  # the project's PRM (synthetic) or a model name or directory (math500)
    prm_kind: Literal["step_tag", "classification"] = "step_tag"
    prm_step_tag: str = "ки"
    prm_good_token: str = "+"
    prm_bad_token: str = "-"
    prm_separator: str = "<extra_0>"
    prm_trust_remote_code: bool = False

    def __post_init__(self):
        from ttc.models.lm import LADDER

        check_fields(self)
        if self.world == "synthetic":
            if self.policy not in LADDER:
                raise ConfigError(f"policy={self.policy!r} is not a ladder size ({sorted(LADDER)}); the synthetic "
                                  "world's policy is one of the project's models. A Hugging Face model runs with "
                                  "world='math500' (see params/math500.yaml)")
            if self.prm != PROJECT_PRM:
                raise ConfigError(f"prm={self.prm!r}: the synthetic world's verifiers are the project's own "
                                  f"(prm={PROJECT_PRM!r}); a given PRM runs with world='math500'")
        else:
            if self.policy in LADDER:
                raise ConfigError(f"policy={self.policy!r} is a ladder size, which cannot write MATH's LaTeX: with "
                                  "world='math500' give a Hugging Face causal LM's name or directory")
            if self.prm == PROJECT_PRM:
                raise ConfigError(f"prm={PROJECT_PRM!r} is trained on the synthetic world: with world='math500' give "
                                  "a PRM's name or directory, and prm_kind (step_tag or classification)")
            self.prm_config  # the adapter's settings, validated too

    @property
    def given(self) -> bool:
        """Whether the study runs on given models (MATH) rather than the project's (the synthetic world)."""
        return self.world != "synthetic"

    @property
    def prm_config(self) -> PRMConfig:
        return PRMConfig(self.prm, kind=self.prm_kind, step_tag=self.prm_step_tag, good_token=self.prm_good_token,
                         bad_token=self.prm_bad_token, separator=self.prm_separator,
                         trust_remote_code=self.prm_trust_remote_code)


def skip_reason(cfg: ModelsConfig, notebook: str) -> str | None:
    """Why notebook `notebook` does not run on these models, or None when it does."""
    if not cfg.given or notebook not in SKIPPED_WITH_GIVEN_MODELS:
        return None
    return (f"notebook {notebook} does not run with world={cfg.world!r}, policy={cfg.policy!r}, prm={cfg.prm!r}: "
            f"{SKIPPED_WITH_GIVEN_MODELS[notebook]}. It runs with the defaults (world='synthetic', a ladder "
            "policy, prm='project')")


def check_notebook(cfg: ModelsConfig, notebook: str) -> None:
    """Stop a notebook that cannot run on these models before any work, saying what it skips and why.

    The stop is `SystemExit(0)`: papermill records a clean end (so `make reproduce` with a profile of given
    models goes on to the next notebook, and the executed copy shows the reason), and JupyterLab's "Run All"
    stops at it."""
    reason = skip_reason(cfg, notebook)
    if reason:
        print(f"Skipped: {reason}.")
        raise SystemExit(0)
