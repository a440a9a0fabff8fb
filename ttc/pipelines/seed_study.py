"""The seed study: how much the ladder depends on the training seed.

The world (its seed, its splits) stays fixed; only the training seed changes,
which draws the initial weights and the order of the batches. The policy is
pretrained at `policy_seeds` seeds and the next size up at `next_seeds`, each
with the study's own pretraining settings, and every model is evaluated on the
same test problems with the same number of samples. The study's seed is one of
them: its models are the ones notebook 01 trains (`data/<profile>/models/`), so
neither run trains them twice; the others live in `data/<profile>/seed_study/`.

Use: `trained = train_seeds(study, tokenizer, splits)`,
`per_problem = evaluate_seeds(study, trained, splits["test"])`,
`table = seed_table(per_problem, trained)`, `seed_checks(table, study)`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from ttc.core.config import ConfigError, check_fields, check_range
from ttc.models.lm import read_meta
from ttc.pipelines.ladder_study import POLICY_GREEDY, evaluate_model, pass1_spread, pretrain_on_world

MAX_GREEDY_RANGE = 0.06
"""The bar: the policy's greedy accuracy may move by at most 6 points between training seeds."""


@dataclass(frozen=True)
class SeedStudyConfig:
    policy_seeds: int = 5  # training seeds of the policy
    next_seeds: int = 3  # training seeds of the next size up the ladder

    def __post_init__(self):
        check_fields(self)
        check_range(self, "policy_seeds", 1, 100)
        check_range(self, "next_seeds", 1, 100)


def seed_models(study) -> list[tuple[str, int]]:
    """(model, training seed) pairs of the study, the study's own seed first for each model."""
    cfg = study.config
    ladder = list(cfg.ladder.names)
    i = ladder.index(cfg.ladder.policy)
    if i + 1 == len(ladder):
        raise ConfigError(f"policy={cfg.ladder.policy!r} is the largest model of the ladder {ladder}; the seed "
                          "study needs a size above it")
    counts = {ladder[i]: cfg.seed_study.policy_seeds, ladder[i + 1]: cfg.seed_study.next_seeds}
    return [(name, cfg.seed + k) for name, n in counts.items() for k in range(n)]


def model_dir(study, name: str, seed: int) -> Path:
    """Where the model `name` trained with `seed` lives: notebook 01's folder for the study's seed."""
    if seed == study.config.seed:
        return study.path(f"models/{name}")
    return study.path(f"seed_study/models/{name}-seed{seed}")


def train_seeds(study, tokenizer, splits: dict, progress: bool = True) -> pd.DataFrame:
    """Pretrain every (model, seed) of the study that is not on disk yet; one row each with its
    pretraining record (validation loss, its fall over the last quarter, wall time)."""
    cfg = study.config
    rows = []
    for name, seed in tqdm(seed_models(study), desc="seed study: pretrain", disable=not progress):
        meta = pretrain_on_world(name, tokenizer, splits, cfg.world, dataclasses.replace(cfg.pretrain, seed=seed),
                                 model_dir(study, name, seed), progress)
        rows.append({"model": name, "seed": seed, "parameters": meta["parameters"], "tokens": meta["tokens"],
                     "final_val_loss": meta["final_val_loss"], "last_quarter_fall": meta["last_quarter_fall"],
                     "wall_s": meta["wall_s"], "policy": name == cfg.ladder.policy})
    return pd.DataFrame(rows)


def train_policy_seed(study, seed: int, progress: bool = True) -> dict:
    """The policy pretrained at training seed `seed` with the study's recipe, where the seed study keeps it (for a
    run at another `policy_seed` that the seed study has not trained yet)."""
    from ttc.world.tokenizer import build_tokenizer

    cfg = study.config
    return pretrain_on_world(cfg.ladder.policy, build_tokenizer(), study.splits(), cfg.world,
                             dataclasses.replace(cfg.pretrain, seed=seed), model_dir(study, cfg.ladder.policy, seed),
                             progress)


def val_curves(study, trained: pd.DataFrame) -> pd.DataFrame:
    """Validation loss against tokens, one row per (model, seed, evaluation point)."""
    rows = []
    for r in trained.itertuples():
        meta = read_meta(model_dir(study, r.model, r.seed))
        rows += [{"model": r.model, "seed": r.seed, "tokens": t, "loss": loss} for t, loss in meta["val_curve"]]
    return pd.DataFrame(rows)


def evaluate_seeds(study, trained: pd.DataFrame, problems: list, progress: bool = True) -> pd.DataFrame:
    """Every (model, seed) on `problems`: greedy, and pass@1 from `n_samples_other` samples for all of
    them (the policy too), so that seeds and sizes are measured alike. One row per (model, seed, problem)."""
    cfg = study.config
    tables = []
    for r in tqdm(list(trained.itertuples()), desc="seed study: evaluate", disable=not progress):
        table = evaluate_model(model_dir(study, r.model, r.seed), r.model, problems, cfg.eval, cfg.eval.n_samples_other,
                               study.path(f"results/seed_study/{r.model}-seed{r.seed}.parquet"))
        tables.append(table.assign(seed=r.seed))
    return pd.concat(tables, ignore_index=True)


def seed_table(per_problem: pd.DataFrame, trained: pd.DataFrame) -> pd.DataFrame:
    """Per (model, seed): greedy accuracy, mean pass@1 and the pass@1 spread, beside its pretraining record."""
    rows = []
    for (model, seed), g in per_problem.groupby(["model", "seed"]):
        rows.append({"model": model, "seed": seed, "greedy": g["greedy_correct"].mean(), "pass1": g["pass1"].mean(),
                     **pass1_spread(g)})
    acc = pd.DataFrame(rows)
    return trained.merge(acc, on=["model", "seed"]).sort_values(["parameters", "seed"]).reset_index(drop=True)


def spread_holds(row) -> bool:
    """The spread difficulty bins need: >= 15% of problems below 0.1, >= 15% above 0.9, >= 30% between."""
    return row["below_0.1"] >= 0.15 and row["above_0.9"] >= 0.15 and row["between"] >= 0.30


def seed_checks(table: pd.DataFrame, policy: str) -> dict[str, tuple[bool, str]]:
    """The seed study's bar, each as (holds, what was measured)."""
    pol = table[table["model"] == policy]
    spread = pol["greedy"].max() - pol["greedy"].min()
    above = table[table["model"] != policy]
    low, high = POLICY_GREEDY
    return {
        f"policy greedy accuracy moves by at most {MAX_GREEDY_RANGE:.0%} between seeds": (
            spread <= MAX_GREEDY_RANGE,
            f"{policy}: " + ", ".join(f"seed {r.seed} {r.greedy:.1%}" for r in pol.itertuples())
            + f" (max - min {spread:.1%})"),
        "every policy seed has the spread bins need (>=15% below 0.1, >=15% above 0.9, >=30% between)": (
            bool(pol.apply(spread_holds, axis=1).all()),
            "below 0.1 / above 0.9 / between: " + "; ".join(
                f"seed {s} {b:.0%} / {a:.0%} / {m:.0%}"
                for s, b, a, m in zip(pol["seed"], pol["below_0.1"], pol["above_0.9"], pol["between"]))),
        f"policy greedy between {low:.0%} and {high:.0%} at every seed": (
            bool(pol["greedy"].between(low, high).all()), f"{pol['greedy'].min():.1%} to {pol['greedy'].max():.1%}"),
        "the next size's greedy range lies above the policy's (its worst seed above the policy's best)": (
            len(above) > 0 and above["greedy"].min() > pol["greedy"].max(),
            "; ".join(f"{m}: {g['greedy'].min():.1%} to {g['greedy'].max():.1%} over {len(g)} seeds"
                      for m, g in table.groupby("model", sort=False))),
    }


def policy_interval(table: pd.DataFrame | None, policy: str) -> dict | None:
    """The policy's greedy and pass@1 over training seeds (min, mean, max), for notebook 01's figure."""
    if table is None:
        return None
    pol = table[table["model"] == policy]
    return {col: {"min": float(pol[col].min()), "mean": float(pol[col].mean()), "max": float(pol[col].max())}
            for col in ("greedy", "pass1")} | {"seeds": [int(s) for s in pol["seed"]]}


def read_seed_study(study):
    """The seed study of notebook 01's settings (the profile's seed counts, unless given), or None (with the
    reason printed) when it has not been run for these models: it is outside `make reproduce`'s chain (`make
    seed-study`)."""
    from ttc.core.store import MissingArtifact, StaleArtifact

    study = study.for_stage("01")
    if not study.path("results/seed_study.parquet").exists():  # else the settings would name a missing model
        print(f"no seed interval: the seed study has not been run for the {study.config.profile} profile "
              "(make seed-study)")
        return None
    try:
        return study.read("seed_study")
    except (MissingArtifact, StaleArtifact) as e:
        print(f"no seed interval: {e}")
        return None
