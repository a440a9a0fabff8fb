"""The study's stages (a notebook each), the parameters each one's results depend on, and where a variant's go.

A stage's results depend on its own parameters and on those of every stage it reads (`closure`). A study run
with parameters that differ from its profile's is a *variant*: each stage whose closure holds a differing
parameter keeps its artifacts, figures and executed notebook in a folder named by what differs
(`data/<profile>/variants/demo_budget-16/`, figures `05_compute_optimal_search--demo_budget-16.png`), and every
other stage is the profile's own, shared. So `-p demo_budget 16` reruns notebook 05 alone beside the study, and
`-p seed 1` draws a new world and ladder beside the old; nothing of the profile's is ever overwritten.

Use: `variant(stage, params, defaults).name`; `stage_of_path("results/04_search.parquet")` (`"04"`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ttc.core.config import ConfigError


@dataclass(frozen=True)
class Stage:
    name: str  # "01" .. "07", or "seed_study"
    notebook: str  # its notebook's file name, without ".ipynb"
    keys: tuple[str, ...]  # the parameters its own results depend on
    reads: tuple[str, ...] = ()  # the stages whose artifacts it reads


WORLD = ("seed", "n_train", "n_val", "n_test", "families", "modulus", "modchain_ops", "addition_digits",
         "modchain_operators", "modchain_operator_share", "modchain_operator_zipf", "world", "math_source")
LADDER = ("ladder", "policy", "pretrain_tokens", "pretrain_block", "pretrain_rows", "pretrain_lr",
          "pretrain_lr_width_power", "pretrain_compile", "pretrain_retry_share", "pretrain_retry_from",
          "n_samples_policy", "n_samples_other", "temperature",
          "eval_batch_size", "max_new_tokens")
SEED_STUDY = ("seed_study_policy_seeds", "seed_study_next_seeds")
PRM = ("prm", "prm_kind", "prm_step_tag", "prm_good_token", "prm_bad_token", "prm_separator", "prm_trust_remote_code")

STAGES: dict[str, Stage] = {s.name: s for s in (
    # notebook 01's figure draws the interval of the seed study that has its own settings (`for_stage`)
    Stage("01", "01_base_models", WORLD + LADDER),
    Stage("seed_study", "seed_study", SEED_STUDY, reads=("01",)),
    # policy_seed: the policy of notebooks 02-07 at another training seed (the world and the larger sizes are 01's)
    Stage("02", "02_difficulty", ("policy_seed", "n_pool", "pool_temperature", "sampler_batch_size"), reads=("01",)),
    Stage("03", "03_verifiers", ("n_label_problems", "n_label_solutions", "n_rollouts", "label_temperature",
                                 "verifier_base", "verifier_lr", "verifier_batch_size", "verifier_max_epochs",
                                 "verifier_patience", "prm_lm_tokens", "n_repeats", "n_boot", "n_reference_problems",
                                 "n_reference_samples", "verifier_gain_budget") + PRM, reads=("02",)),
    Stage("04", "04_verifier_search", ("budgets", "n_search_problems", "n_search_problems_top", "search_temperature",
                                       "max_rounds", "search_verifier", "axis_verifiers", "axis_budgets",
                                       "n_axis_problems"), reads=("03",)),
    Stage("05", "05_compute_optimal_search", ("n_splits", "demo_problems", "demo_budget", "demo_estimate_samples"),
          reads=("04",)),
    Stage("06", "06_revisions", ("revision_problems", "revision_samples", "revision_temperature",
                                 "revision_max_trajectories", "revision_max_positions", "revision_lr",
                                 "revision_batch_size", "revision_max_epochs", "revision_patience",
                                 "revision_orm_problems", "revision_orm_chains", "revision_orm_length",
                                 "revision_budget", "n_revision_problems", "revision_chain_temperature",
                                 "revision_verifier", "n_splits"), reads=("04",)),
    Stage("07", "07_pretraining_vs_test_time", ("exchange_ratios", "exchange_larger", "n_exchange_problems",
                                                "exchange_samples", "n_exchange_targets", "n_splits"),
          reads=("06",)),
)}

NEUTRAL = ("executor", "ray_address", "ray_task_cpus", "ray_task_gpus", "ray_max_retries")
"""Where a build runs, never what it computes (the same bits here and on Ray): no stage depends on them."""


def closure(stage: str) -> frozenset[str]:
    """The parameters `stage`'s results depend on: its own and those of every stage it reads, transitively."""
    s = STAGES[stage]
    return frozenset(s.keys).union(*(closure(r) for r in s.reads))


def upstream(stage: str) -> list[str]:
    """`stage` and every stage it reads, transitively, each once, readers after what they read."""
    out: list[str] = []
    for r in STAGES[stage].reads:
        out += [s for s in upstream(r) if s not in out]
    return out + [stage]


def stage_of_notebook(notebook: str) -> str:
    """The stage of a notebook, by its file name ("05_compute_optimal_search" or "05_...ipynb")."""
    stem = notebook.removesuffix(".ipynb")
    for s in STAGES.values():
        if s.notebook == stem:
            return s.name
    raise ConfigError(f"{notebook!r} is not one of the study's notebooks: {[s.notebook for s in STAGES.values()]}")


FOLDERS = {"world": "01", "models": "01", "verifiers": "03", "revisions": "06", "seed_study": "seed_study"}
"""The stage that makes each folder of a profile's data (results/ files are named by their stage's number)."""


def stage_of_path(relative: str) -> str:
    """The stage that makes the artifact at `relative` (under a profile's data folder): results/NN_* (or
    results/NN_*/...) are stage NN's, results/seed_study* the seed study's, other folders by `FOLDERS`."""
    parts = relative.split("/")
    if parts[0] == "results" and len(parts) > 1:
        name = parts[1]
        if name.startswith("seed_study"):
            return "seed_study"
        number = re.match(r"(\d\d)_", name)
        if number and number.group(1) in STAGES:
            return number.group(1)
    elif parts[0] in FOLDERS:
        return FOLDERS[parts[0]]
    raise ConfigError(f"{relative!r} is no stage's artifact: results/NN_<name> or a folder of {sorted(FOLDERS)}")


# --------------------------------------------------------------------------
# Variants


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _part(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "_".join(_part(v) for v in value)
    return re.sub(r"[^A-Za-z0-9.]+", ".", str(value)).strip(".") or "empty"


MAX_NAME = 80


@dataclass(frozen=True)
class Variant:
    """The parameters a run gave that differ from its profile's, among those one stage depends on."""

    values: dict[str, Any]

    @property
    def name(self) -> str:
        """'' for the profile's own; else `key-value` per differing parameter, joined by '+' (a long one is cut
        to its keys and a hash of the values: `variant.json` in its folder records them whole)."""
        name = "+".join(f"{k}-{_part(v)}" for k, v in sorted(self.values.items()))
        if len(name) <= MAX_NAME:
            return name
        digest = hashlib.sha1(json.dumps(self.values, sort_keys=True, default=str).encode()).hexdigest()[:10]
        return "+".join(sorted(self.values))[:MAX_NAME - 11] + "-" + digest

    def __str__(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in sorted(self.values.items())) or "the profile's own settings"


def stage_folder(data: Path, name: str) -> Path:
    """A stage's folder under a profile's data folder `data`: `data` itself for the profile's own settings, else
    its variant's (`name`, from `Variant.name`)."""
    return Path(data) / "variants" / name if name else Path(data)


def differing(params: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The parameters whose value in `params` is not the profile's (`defaults`)."""
    return {k: v for k, v in params.items() if k != "profile" and not _same(v, defaults.get(k))}


def variant(stage: str, params: dict[str, Any], defaults: dict[str, Any]) -> Variant:
    """The variant of `stage` that `params` make, against the profile's `defaults`."""
    keys = closure(stage)
    return Variant({k: v for k, v in differing(params, defaults).items() if k in keys})
