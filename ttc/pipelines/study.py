"""The study's one config, built from a notebook's flat parameters, and where its artifacts live.

Every notebook's parameters (its profile's, `ttc.pipelines.parameters`, and whatever the user gave over them)
build one `StudyConfig`, a section per stage, validated before any work starts: a bad value fails with the name
the user typed, the value and what is allowed. `Study` then says where each artifact lives for these settings
(the profile's folder, or a variant's beside it when the given parameters change what its stage depends on:
`ttc.pipelines.stages`) and reads and writes the named ones (`ttc.pipelines.artifacts`) with the settings they
must carry, so a stale or damaged upstream table is refused by name instead of being used.

Use: `study = Study.from_namespace(globals())`; `study.splits()`, `study.read("pool")`,
`study.settings("pool")`, `study.path("results/04_search.parquet")`, `study.write("difficulty", table)`.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ttc.core.config import ConfigError, as_tuple, check_fields, check_profile, check_range
from ttc.core.executors import ExecutorConfig, configure
from ttc.methods.exchange import ExchangeConfig, check_exchange
from ttc.methods.revisions import RevisionConfig
from ttc.models.evaluate import EvalConfig
from ttc.models.lm import LADDER, Ladder, load_model, model_record
from ttc.models.pretrain import PretrainConfig
from ttc.pipelines.given_models import ModelsConfig, check_notebook
# profile_params is imported from here too (bench, tests)
from ttc.pipelines.parameters import PARAMETERS, Given, notebook_parameters, profile_params, unknown  # noqa: F401
from ttc.pipelines.pool import PoolConfig
from ttc.pipelines.seed_study import SeedStudyConfig
from ttc.pipelines.stages import (STAGES, Variant, closure, stage_folder, stage_of_notebook, stage_of_path,
                                  variant)
from ttc.verifiers.probability_prm import ProbabilityPRMConfig
from ttc.verifiers.trained import LabelConfig, VerifierConfig
from ttc.world import synthetic as W


AXIS_WIDTH = 4
"""The beam width M of notebook 04's search against verifier quality (the paper's M = 4)."""


@dataclass(frozen=True)
class SearchSweepConfig:
    """Notebook 04: which budgets and problems every search configuration runs on."""

    budgets: tuple[int, ...] = (4, 16, 64, 256)
    n_problems: int = 200  # test problems, an equal share of each oracle bin
    n_problems_top: int = 50  # at the largest budget (a subset of the above)
    max_rounds: int = 40
    temperature: float = 1.0
    max_new_tokens: int = 224
    batch_size: int = 256
    n_repeats: int = 8  # random N-subsets of the pool per problem, for best-of-N and majority
    n_boot: int = 1000
    verifier: str = "adopted"  # the verifier of the grid: a name from notebook 03's ladder, or its adopted one
    # search against verifier quality: beam search (M = AXIS_WIDTH) and best-of-N with each of these verifiers
    axis_verifiers: tuple[str, ...] = ("PRM", "perfect checker", "checker, noise 0.5", "checker, noise 1",
                                       "checker, noise 2")
    axis_budgets: tuple[int, ...] = (4, 16, 64)
    n_axis_problems: int = 100  # a subset of the grid's problems

    def __post_init__(self):
        for name in ("budgets", "axis_budgets", "axis_verifiers"):
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)):
                example = list(getattr(SearchSweepConfig, name))
                text = (f" (papermill's -p passes {value!r} as text; -y parses YAML: -y '{name}: {value}')"
                        if isinstance(value, str) else "")
                raise ConfigError(f"{name}={value!r} must be a list, e.g. {example}{text}")
            object.__setattr__(self, name, as_tuple(getattr(self, name)))
        check_fields(self)
        check_range(self, "n_axis_problems", 1, self.n_problems)
        bad = [b for b in self.axis_budgets if b < AXIS_WIDTH or b % AXIS_WIDTH]
        if bad or list(self.axis_budgets) != sorted(set(self.axis_budgets)):
            raise ConfigError(f"axis_budgets={list(self.axis_budgets)} must be distinct increasing multiples of the beam "
                              f"width {AXIS_WIDTH}, e.g. [4, 16, 64]")
        if not self.budgets or any(b < 1 for b in self.budgets) or list(self.budgets) != sorted(set(self.budgets)):
            raise ConfigError(f"budgets={list(self.budgets)} must be a non-empty list of distinct budgets >= 1 in "
                              f"increasing order, e.g. [4, 16, 64, 256]")
        for name in ("n_problems", "n_problems_top", "max_rounds", "max_new_tokens", "batch_size", "n_repeats",
                     "n_boot"):
            check_range(self, name, 1)
        check_range(self, "n_problems_top", high=self.n_problems)
        check_range(self, "temperature", 0.0, 10.0)


@dataclass(frozen=True)
class SelectionConfig:
    """Notebook 05: the cross-validated choice per bin, and the policy demo on held-out problems."""

    n_splits: int = 20
    demo_problems: int = 20  # 0 skips the demo
    demo_budget: int = 16
    demo_estimate_samples: int = 4

    def __post_init__(self):
        check_fields(self)
        check_range(self, "n_splits", 1)
        check_range(self, "demo_problems", 0)
        check_range(self, "demo_budget", 1)
        check_range(self, "demo_estimate_samples", 1)


@dataclass(frozen=True)
class VerifierLadderConfig:
    """Notebook 03: the subset of the pool on which every verifier (trained, likelihood of each ladder
    size, the truth checker) is measured, and the budget of its gain over majority vote."""

    n_problems: int = 200  # test problems, an equal share of each oracle bin
    n_samples: int = 128  # the first samples of each problem's pool
    budget: int = 64  # N of "best-of-N weighted minus majority vote"

    def __post_init__(self):
        check_fields(self)
        for name in ("n_problems", "n_samples", "budget"):
            check_range(self, name, 1)
        if self.budget > self.n_samples:
            raise ConfigError(f"verifier_gain_budget={self.budget} exceeds n_reference_samples={self.n_samples}: "
                              f"the gain is measured on random N-subsets of those samples")


@dataclass(frozen=True)
class StudyConfig:
    profile: str
    seed: int
    world: W.WorldConfig
    ladder: Ladder
    pretrain: PretrainConfig
    seed_study: SeedStudyConfig
    eval: EvalConfig
    pool: PoolConfig
    n_label_problems: int
    labels: LabelConfig
    verifier_base: str
    verifiers: dict[str, VerifierConfig]
    probability_prm: ProbabilityPRMConfig
    verifier_ladder: VerifierLadderConfig
    search: SearchSweepConfig
    selection: SelectionConfig
    revisions: RevisionConfig
    exchange: ExchangeConfig
    models: ModelsConfig
    executor: ExecutorConfig

    def __post_init__(self):
        if self.verifier_base not in self.ladder.names:
            raise ConfigError(f"verifier_base={self.verifier_base!r} is not in the ladder {list(self.ladder.names)}")
        check_range(self, "n_label_problems", 1, self.world.n_train)
        if self.search.n_problems > self.world.n_test:
            raise ConfigError(f"n_search_problems={self.search.n_problems} exceeds the {self.world.n_test} test "
                              f"problems (n_test)")
        if self.verifier_ladder.n_samples > self.pool.n:
            raise ConfigError(f"n_reference_samples={self.verifier_ladder.n_samples} exceeds the pool's {self.pool.n} "
                              f"samples per problem (n_pool)")
        if self.verifier_ladder.n_problems > self.world.n_test:
            raise ConfigError(f"n_reference_problems={self.verifier_ladder.n_problems} exceeds the {self.world.n_test} "
                              f"test problems (n_test)")
        if self.search.budgets[-1] > self.pool.n:
            raise ConfigError(f"budgets={list(self.search.budgets)} exceed the pool's {self.pool.n} samples per "
                              f"problem (n_pool); raise n_pool or lower the budgets")
        if self.revisions.n_test_problems > self.search.n_problems:
            raise ConfigError(f"n_revision_problems={self.revisions.n_test_problems} exceeds notebook 04's "
                              f"n_search_problems={self.search.n_problems}: the chains run on its search problems")
        if self.ladder.policy_seed is not None and self.ladder.policy_seed == self.seed:
            raise ConfigError(f"policy_seed={self.ladder.policy_seed} is the study's own training seed (seed={self.seed}),"
                              " notebook 01's policy: leave policy_seed null")
        if self.selection.demo_problems and self.selection.demo_budget not in self.search.budgets:
            budgets, demo = list(self.search.budgets), self.selection.demo_budget
            raise ConfigError(f"demo_budget={demo} (notebook 05's demo) is not one of the searched budgets={budgets}: "
                              f"with other budgets, give demo_budget one of them too (e.g. -y '{{budgets: {budgets}, "
                              f"demo_budget: {budgets[-1]}}}'), or demo_problems=0 to skip the demo")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "StudyConfig":
        """The config of a profile's flat parameters (`profile` and every parameter, as `profile_params` gives
        them); a bad value is reported by the parameter's name, as the user typed it."""
        missing = sorted({"profile", *PARAMETERS} - set(params))
        if missing:
            raise ConfigError(f"missing parameters {missing}; params/full.yaml gives them all")
        extra = sorted(set(params) - {"profile", *PARAMETERS})
        if extra:
            raise unknown(extra[0], params[extra[0]], "among the parameters given")
        p = dict(params)
        check_profile(p["profile"])
        seed = p["seed"]
        models = _section(ModelsConfig, p, MODELS_KEYS)
        # With a given policy the ladder is not trained; its sizes keep their checks, pretraining its settings.
        policy = None if models.given else p["policy"]
        ladder = _section(Ladder, p, {"names": "ladder", "policy_seed": "policy_seed"}, policy=policy)
        max_new, batch = p["max_new_tokens"], p["sampler_batch_size"]
        # Sections are built one by one, so that a bad value is reported with the first section it breaks.
        return cls(
            profile=p["profile"], seed=seed,
            world=_section(W.WorldConfig, p, WORLD_KEYS, seed=seed),
            ladder=ladder,
            pretrain=_section(PretrainConfig, p, PRETRAIN_KEYS, lr_hidden=LADDER[policy or ladder.names[0]].hidden,
                              seed=seed),
            seed_study=_section(SeedStudyConfig, p, {"policy_seeds": "seed_study_policy_seeds",
                                                     "next_seeds": "seed_study_next_seeds"}),
            eval=_section(EvalConfig, p, EVAL_KEYS, max_new_tokens=max_new, seed=seed),
            pool=_section(PoolConfig, p, POOL_KEYS, max_new_tokens=max_new, batch_size=batch, seed=seed),
            n_label_problems=p["n_label_problems"],
            labels=_section(LabelConfig, p, LABEL_KEYS, max_new_tokens=max_new, batch_size=batch, seed=seed),
            verifier_base=p["verifier_base"],
            verifiers={kind: _section(VerifierConfig, p, VERIFIER_KEYS, kind=kind, seed=seed) for kind in ("prm", "orm")},
            probability_prm=_section(ProbabilityPRMConfig, p, {"continued_tokens": "prm_lm_tokens"}, seed=seed),
            verifier_ladder=_section(VerifierLadderConfig, p, {"n_problems": "n_reference_problems",
                                                               "n_samples": "n_reference_samples",
                                                               "budget": "verifier_gain_budget"}),
            search=_section(SearchSweepConfig, p, SEARCH_KEYS, max_new_tokens=max_new, batch_size=batch),
            selection=_section(SelectionConfig, p, SELECTION_KEYS),
            revisions=_section(RevisionConfig, p, REVISION_KEYS, max_new_tokens=max_new, batch_size_sampling=batch,
                               seed=seed),
            exchange=_section(ExchangeConfig, p, EXCHANGE_KEYS, seed=seed),
            models=models,
            executor=_section(ExecutorConfig, p, {k: k for k in ("executor", "ray_address", "ray_task_cpus",
                                                                 "ray_task_gpus", "ray_max_retries")}),
        )


# Each section's fields and the parameters (params/full.yaml's keys) that set them.
MODELS_KEYS = {k: k for k in ("world", "math_source", "policy", "prm", "prm_kind", "prm_step_tag", "prm_good_token",
                              "prm_bad_token", "prm_separator", "prm_trust_remote_code")}
WORLD_KEYS = {k: k for k in ("n_train", "n_val", "n_test", "families", "modulus", "modchain_ops", "addition_digits",
                             "modchain_operators", "modchain_operator_share", "modchain_operator_zipf")}
PRETRAIN_KEYS = {"tokens": "pretrain_tokens", "block": "pretrain_block", "rows": "pretrain_rows",
                 "lr": "pretrain_lr", "lr_width_power": "pretrain_lr_width_power", "compile": "pretrain_compile",
                 "retry_share": "pretrain_retry_share", "retry_from": "pretrain_retry_from"}
EVAL_KEYS = {"n_samples_policy": "n_samples_policy", "n_samples_other": "n_samples_other",
             "temperature": "temperature", "batch_size": "eval_batch_size"}
POOL_KEYS = {"n": "n_pool", "temperature": "pool_temperature"}
LABEL_KEYS = {"n_solutions": "n_label_solutions", "n_rollouts": "n_rollouts", "temperature": "label_temperature"}
VERIFIER_KEYS = {"lr": "verifier_lr", "batch_size": "verifier_batch_size", "max_epochs": "verifier_max_epochs",
                 "patience": "verifier_patience"}
SEARCH_KEYS = {"budgets": "budgets", "n_problems": "n_search_problems", "n_problems_top": "n_search_problems_top",
               "max_rounds": "max_rounds", "temperature": "search_temperature", "n_repeats": "n_repeats",
               "n_boot": "n_boot", "verifier": "search_verifier", "axis_verifiers": "axis_verifiers",
               "axis_budgets": "axis_budgets", "n_axis_problems": "n_axis_problems"}
SELECTION_KEYS = {k: k for k in ("n_splits", "demo_problems", "demo_budget", "demo_estimate_samples")}
REVISION_KEYS = {"n_problems": "revision_problems", "n_samples": "revision_samples",
                 "temperature": "revision_temperature", "max_trajectories": "revision_max_trajectories",
                 "max_positions": "revision_max_positions", "lr": "revision_lr", "batch_size": "revision_batch_size",
                 "max_epochs": "revision_max_epochs", "patience": "revision_patience",
                 "orm_problems": "revision_orm_problems", "orm_chains": "revision_orm_chains",
                 "orm_length": "revision_orm_length", "budget": "revision_budget",
                 "n_test_problems": "n_revision_problems", "chain_temperature": "revision_chain_temperature",
                 "verifier": "revision_verifier"}
EXCHANGE_KEYS = {"ratios": "exchange_ratios", "larger": "exchange_larger", "n_problems": "n_exchange_problems",
                 "samples": "exchange_samples", "n_targets": "n_exchange_targets", "n_repeats": "n_repeats",
                 "n_boot": "n_boot"}


def _section(cls, params: dict[str, Any], keys: dict[str, str], **fixed):
    """`cls` with each field in `keys` set from the parameter it names, and `fixed` values. A bad value is
    reported by the parameter, as the user typed it (`verifier_lr=7.0`), not by the field (`lr=7.0`)."""
    try:
        return cls(**{f: params[k] for f, k in keys.items()}, **fixed)
    except ConfigError as error:
        # a check names "Class.field=" (ttc.core.config) or "field=", an inner config's (FinetuneConfig) too
        fields = "|".join(sorted(map(re.escape, keys), key=len, reverse=True))
        message = re.sub(rf"\b(?:[A-Z]\w*\.)?({fields})=", lambda m: f"{keys[m.group(1)]}=", str(error))
        raise ConfigError(message) from None


class Study:
    """A validated config, plus where its artifacts live: the profile's folder, or a variant's beside it."""

    def __init__(self, config: StudyConfig, data: Path, params: dict[str, Any] | None = None):
        self.config, self.data = config, Path(data)
        # every parameter as given, and the profile's: where they differ, a stage's artifacts are a variant's
        self.defaults = profile_params(config.profile)
        self.params = dict(params) if params is not None else dict(self.defaults)
        self.given = Given(config.profile)  # what a notebook was given over its profile (from_namespace)
        configure(config.executor)  # every chunked build of this process runs where the study says

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "Study":
        from ttc.core.store import data_dir

        config = StudyConfig.from_params(params)
        return cls(config, data_dir(config.profile), params)

    @classmethod
    def from_namespace(cls, namespace: dict[str, Any]) -> "Study":
        """From a notebook's variables: its profile's parameters, overridden by every one given (by papermill, or
        set in the parameters cell), equal to a default or not; a name that is not a parameter is refused
        (`ttc.pipelines.parameters`). What was given is kept as `study.given`, and printed."""
        given = notebook_parameters(namespace)
        study = cls.from_params(given.params())
        study.given = given
        print(given)
        return study

    def check_models(self, notebook: str) -> None:
        """Stop notebook `notebook` before any work when it cannot run on the study's world, policy and PRM
        (the defaults, the synthetic world with the project's models, run everywhere)."""
        check_notebook(self.config.models, notebook)
        if notebook not in ("01", "seed_study"):
            self.ensure_policy()  # the policy at `policy_seed`, trained first where the seed study has not
        if self.config.models.given:
            self.splits()  # MATH's file read and checked whole now, not after the policy has loaded
        if notebook == "07":  # and notebook 07's settings against the ladder and the pool
            cfg = self.config
            check_exchange(cfg.exchange, cfg.ladder.names, cfg.ladder.policy, cfg.pool.n, cfg.world.n_test)

    # ---- where artifacts live

    def variant(self, stage: str) -> Variant:
        """What this run gives, over the profile, that stage `stage`'s results depend on (`ttc.pipelines.stages`)."""
        return variant(stage, self.params, self.defaults)

    def path(self, relative: str) -> Path:
        """Where the artifact at `relative` (under a profile's data folder: "results/04_search.parquet",
        "models/d32-l2") lives for these settings: the profile's folder, or its stage's variant folder, whose
        `variant.json` records what differs."""
        variant = self.variant(stage_of_path(relative))
        folder = stage_folder(self.data, variant.name)
        if variant.name:
            from ttc.core.store import write_variant_record

            write_variant_record(folder, variant.values)
        return folder / relative

    def settings(self, artifact: str, **fields) -> Any:
        """The settings the named artifact (`ttc.pipelines.artifacts.ARTIFACTS`) must have been made with."""
        from ttc.pipelines.artifacts import ARTIFACTS

        return ARTIFACTS[artifact].settings(self, **fields)

    def read(self, artifact: str, **fields):
        """The named artifact's table, checked whole and made with its settings (`MissingArtifact`,
        `StaleArtifact`, ... name it and what to run otherwise)."""
        from ttc.core.store import ANY, read_table
        from ttc.pipelines.artifacts import ARTIFACTS

        spec = ARTIFACTS[artifact]
        relative = spec.relative(self, **fields)
        settings = ANY if spec.settings is None else spec.settings(self, **fields)
        table = read_table(self.path(relative), settings, spec.what, spec.made_by(relative))
        return table.set_index(spec.index) if spec.index else table

    def made_with(self, artifact: str, **fields) -> Any:
        """The settings the named artifact records, after checking it is whole (for a table that carries the
        settings of what it was made from: notebook 03's verifier ladder)."""
        from ttc.core.store import check_artifact
        from ttc.pipelines.artifacts import ARTIFACTS

        spec = ARTIFACTS[artifact]
        relative = spec.relative(self, **fields)
        return check_artifact(self.path(relative), what=spec.what, made_by=spec.made_by(relative))

    def write(self, artifact: str, table, **fields) -> Path:
        """The named artifact's table, written where `read` finds it, with its settings."""
        from ttc.core.store import write_table
        from ttc.pipelines.artifacts import ARTIFACTS

        spec = ARTIFACTS[artifact]
        return write_table(self.path(spec.relative(self, **fields)), table, self.settings(artifact, **fields))

    # ---- the world and the models

    @functools.cache
    def splits(self) -> dict[str, list[W.Problem]]:
        """The world's splits: notebook 01's (synthetic), or the first n_test problems of `math_source` as the
        test split (MATH: a given policy is not trained, so there are no training problems)."""
        from ttc.pipelines.ladder_study import read_splits

        models = self.config.models
        if models.given:
            from ttc.world.math500 import load_problems

            return {"test": load_problems(models.math_source)[:self.config.world.n_test]}
        return read_splits(self.path("world"), self.config.world)

    def test_problems(self) -> dict[str, W.Problem]:
        return {p.id: p for p in self.splits()["test"]}

    def ladder_dir(self, name: str) -> Path:
        """Where notebook 01 keeps the ladder model `name`, checked to be there and whole."""
        from ttc.pipelines.ladder_study import policy_dir

        return policy_dir(self.path("models"), name)

    def model_dir(self, name: str) -> Path:
        """The ladder model `name` as notebooks 02-07 use it, checked to be there and whole: notebook 01's, but for
        the policy at another training seed (`policy_seed`), the seed study's model of it."""
        seed = self.config.ladder.policy_seed
        if seed is None or name != self.config.ladder.policy:
            return self.ladder_dir(name)
        from ttc.core.store import check_artifact
        from ttc.pipelines.seed_study import model_dir

        path = model_dir(self, name, seed)
        check_artifact(path, what=f"the policy {name!r} at training seed {seed}",
                       made_by="notebooks/seed_study.ipynb (or notebook 02, which trains it first)")
        return path

    def ladder_results(self):
        """Notebook 01's greedy and sampled answers of every ladder model (`ladder_results`), with the policy's
        rows those of the policy at `policy_seed` when it is another seed (evaluated as notebook 01 evaluates
        the policy, `results/02_policy_eval.parquet`)."""
        table = self.read("ladder_results")
        seed, policy = self.config.ladder.policy_seed, self.config.ladder.policy
        if seed is None:
            return table
        import pandas as pd

        from ttc.pipelines.ladder_study import evaluate_model

        evaluated = evaluate_model(self.model_dir(policy), policy, self.splits()["test"], self.config.eval,
                                   self.config.eval.n_samples_policy, self.path("results/02_policy_eval.parquet"))
        return pd.concat([table[table.model != policy], evaluated[list(table.columns)]], ignore_index=True)

    def ensure_policy(self) -> None:
        """The policy at `policy_seed`, pretrained now with the study's recipe unless the seed study has trained it
        (notebook 02, the first to read it, calls this). `pretrain` skips a finished model and refuses one made with
        other settings, as it does for the seed study's own."""
        seed = self.config.ladder.policy_seed
        if seed is not None:
            from ttc.pipelines.seed_study import train_policy_seed

            train_policy_seed(self, seed)

    def policy_record(self) -> dict:
        """What identifies the policy's weights (in the settings of everything it made)."""
        if self.config.models.given:
            from ttc.models.hub_models import given_model_record

            return given_model_record(self.config.models.policy)
        return model_record(self.model_dir(self.config.ladder.policy))

    def load_policy(self):
        """(model, tokenizer) of the policy: notebook 01's ladder model, or the given one (on CUDA in bf16 when
        there is a GPU)."""
        if self.config.models.given:
            from ttc.models.hub_models import load_causal_lm

            return load_causal_lm(self.config.models.policy)
        return load_model(self.model_dir(self.config.ladder.policy))[:2]

    def world(self, tokenizer=None):
        """The step protocol (`ttc.world.protocol`) of the study's world; MATH's prompt uses the policy's chat template."""
        from ttc.world.protocol import SYNTHETIC, MathWorld

        return MathWorld(tokenizer) if self.config.models.given else SYNTHETIC

    # ---- what a notebook leaves

    def record_run(self, notebook: str) -> None:
        """List every artifact this notebook read or wrote beside its executed copy (in its stage's folder), so
        that `make reproduce` runs it again when one of them goes missing, is damaged or out of date."""
        from ttc.core.store import write_run_record

        stage = stage_of_notebook(notebook)
        folder = stage_folder(self.data, self.variant(stage).name) / "notebooks"
        write_run_record(folder / f"{STAGES[stage].notebook}.artifacts.json")

    def for_stage(self, stage: str) -> "Study":
        """The study as stage `stage` sees it: what this one was given that the stage does not depend on read as
        the profile's (a notebook's summary records the settings its results depend on; notebook 01 draws the
        seed study of its own settings, not a variant's)."""
        keys = closure(stage)
        params = self.defaults | {k: v for k, v in self.params.items() if k in keys}
        try:
            return Study(StudyConfig.from_params(params), self.data, params)
        except ConfigError:  # the profile's values do not fit with these given ones (n_pool below the profile's
            return self      # n_reference_samples, say): the stage sees everything given


    def describe(self) -> dict:
        """Every setting, as plain values (for the record a notebook's summary carries)."""
        return dataclasses.asdict(self.config)
