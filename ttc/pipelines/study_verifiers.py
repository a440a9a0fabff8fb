"""The study's verifiers by name: where each lives, loading one, and the one each notebook uses.

Notebook 03 measures every verifier on one subset of the pool (its verifier ladder) and adopts one; notebook
04 searches with `search_verifier` (that one, or another by name), notebook 06 selects with
`revision_verifier`; with given models (MATH) the search verifier is the given PRM.

Use: `table, made_with = verifier_ladder(study)`; `load_verifier(study, name)`; `search_verifier_name(study, table)`;
`adopt(table, gain_column(budget))`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from ttc.core.config import ConfigError
from ttc.world import synthetic as W


CHECKER_NOISE = (0.0, 0.5, 1.0, 2.0)
"""Noise levels of the truth checker (`ttc.verifiers.reference.TruthChecker`): 0 is the ceiling."""


def gain_column(budget: int) -> str:
    """The name of "best-of-N weighted minus majority vote at N = budget" in reports and tables
    (with `_lo` and `_hi` for its interval)."""
    return f"weighted_minus_majority_n{budget}"


def adopt(table: pd.DataFrame, gain: str, share: float = 0.9) -> str:
    """The verifier to search with: the cheapest (fewest scoring FLOPs per token) of those whose mean
    gain over majority vote is at least `share` of the best one's, among the verifiers that a user
    could have (not the truth checkers)."""
    real = table[~table["oracle"]]
    best = real[gain].max()
    if not best > 0:
        return str(real.sort_values(gain, ascending=False).index[0])
    good = real[real[gain] >= share * best]
    return str(good.sort_values(["scoring_flops_per_token", gain], ascending=[True, False]).index[0])


def verifier_dir(study: "Study", kind: str) -> Path:
    """A trained verifier's folder ("prm", "orm", "prm_head", "prm_lm")."""
    return study.path(f"verifiers/{kind}")


def probability_prm_dirs(study: "Study") -> tuple[Path, Path]:
    """(head, language model) of the probability PRM; its LM is the policy's when no tokens are added (else the
    policy pretrained further, `ttc.verifiers.probability_prm`)."""
    cfg = study.config.probability_prm
    lm = verifier_dir(study, "prm_lm") if cfg.continued_tokens else study.model_dir(study.config.ladder.policy)
    return verifier_dir(study, "prm_head"), lm


def prm_lm_pretrain_config(study: "Study"):
    """The continued pretraining of the probability PRM's LM: the policy's schedule, for `continued_tokens`, on
    other batches (seed + 1)."""
    return dataclasses.replace(study.config.pretrain, tokens=study.config.probability_prm.continued_tokens,
                               seed=study.config.pretrain.seed + 1)


def verifier_ladder(study: "Study") -> tuple[pd.DataFrame, dict]:
    """Notebook 03's verifier ladder (one row per verifier, by name) and, per verifier, the settings its scores
    were made with."""
    return study.read("verifier_ladder"), study.made_with("verifier_ladder")["scores"]


def load_verifier(study: "Study", name: str, batch_size: int = 256, ledger=None):
    """The verifier of notebook 03's ladder called `name` (a row of `verifier_ladder`), ready to score: a trained
    PRM or ORM, a ladder size's likelihood, or the truth checker at one of its noises."""
    from ttc.verifiers.probability_prm import ProbabilityPRM
    from ttc.verifiers.reference import LikelihoodVerifier, TruthChecker
    from ttc.verifiers.spec import PRM_LM, PROBABILITY_PRM, TRAINED
    from ttc.verifiers.trained import Verifier

    kwargs = {"batch_size": batch_size, "ledger": ledger}
    trained = {label: kind for kind, label in TRAINED.items()}
    likelihoods = {f"likelihood {size}": size for size in study.config.ladder.names}
    checkers = {TruthChecker({}, noise=noise).name: noise for noise in CHECKER_NOISE}
    if name in trained:
        return Verifier.load(verifier_dir(study, trained[name]), **kwargs)
    if name == PROBABILITY_PRM:
        return ProbabilityPRM.load(*probability_prm_dirs(study), **kwargs)
    if name == PRM_LM and study.config.probability_prm.continued_tokens:
        return LikelihoodVerifier.load(verifier_dir(study, "prm_lm"), **kwargs)
    if name in likelihoods:
        return LikelihoodVerifier.load(study.model_dir(likelihoods[name]), **kwargs)
    if name in checkers:
        by_prompt = {W.prompt(p): p for p in study.splits()["test"]}
        return TruthChecker(by_prompt, noise=checkers[name], seed=study.config.seed)
    known = [*trained, PROBABILITY_PRM, PRM_LM, *likelihoods, *checkers]
    raise ConfigError(f"verifier {name!r} is not one of notebook 03's verifiers: {known}")


def _chosen(study: "Study", table: pd.DataFrame, name: str, key: str, also: tuple[str, ...] = ()) -> str:
    """`name` (the value of parameter `key`): notebook 03's adopted verifier for "adopted", else a row of its
    ladder (or one of `also`)."""
    if name == "adopted":
        return adopt(table, gain_column(study.config.verifier_ladder.budget))
    if name not in table.index and name not in also:
        raise ConfigError(f"{key}={name!r} is not in notebook 03's verifier ladder {list(table.index)}"
                          f"{' nor ' + repr(list(also)) if also else ''}; use one of them, or 'adopted'")
    return name


def search_verifier_name(study: "Study", table: pd.DataFrame) -> str:
    """The verifier notebook 04 searches with: `search_verifier`, or notebook 03's adopted one."""
    return _chosen(study, table, study.config.search.verifier, "search_verifier")


def revision_selector_name(study: "Study", table: pd.DataFrame) -> str:
    """The selector of notebook 06's figures: `revision_verifier`, notebook 03's adopted verifier, or the ORM of
    revision outputs."""
    from ttc.methods.revisions import REVISION_ORM

    return _chosen(study, table, study.config.revisions.verifier, "revision_verifier", also=(REVISION_ORM,))


def revision_selectors(study: "Study", table: pd.DataFrame) -> list[str]:
    """The verifiers notebook 06 scores the chains with: the ORM of revision outputs, the figures' selector,
    notebook 04's search verifier, the paper's PRM and ORM, and the ceiling (the perfect checker)."""
    from ttc.methods.revisions import REVISION_ORM
    from ttc.verifiers.spec import PERFECT_CHECKER, TRAINED

    return list(dict.fromkeys([REVISION_ORM, revision_selector_name(study, table), search_verifier_name(study, table),
                               *TRAINED.values(), PERFECT_CHECKER]))


def search_verifier_settings(study: "Study") -> tuple[str, dict]:
    """The name of notebook 04's search verifier, and the settings its scores were made with: notebook 03's
    choice (synthetic), or the given PRM (its adapter's settings and what identifies its weights)."""
    models = study.config.models
    if models.given:
        from ttc.models.hub_models import given_model_record

        return models.prm, {"prm": models.prm_config, "weights": given_model_record(models.prm)}
    table, made_with = verifier_ladder(study)
    name = search_verifier_name(study, table)
    return name, made_with[name]


def load_search_verifier(study: "Study", batch_size: int = 256, ledger=None):
    """Notebook 04's search verifier, ready to score: notebook 03's choice, or the given PRM."""
    if study.config.models.given:
        from ttc.verifiers.prm_adapters import load_prm

        return load_prm(study.config.models.prm_config, batch_size=batch_size, ledger=ledger)
    return load_verifier(study, search_verifier_settings(study)[0], batch_size=batch_size, ledger=ledger)


def load_predicted_bins_verifier(study: "Study", batch_size: int = 256):
    """The verifier whose scores made the predicted bins: notebook 03's PRM; None with given models, where it is
    the given PRM, which is also the search verifier (one copy of it is loaded)."""
    if study.config.models.given:
        return None
    from ttc.verifiers.trained import Verifier

    return Verifier.load(verifier_dir(study, "prm"), batch_size=batch_size)
