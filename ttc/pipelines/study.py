"""The study's one config, built from a notebook's flat parameters, and its artifacts by name.

Every notebook's parameters (its profile's, `ttc.pipelines.parameters`, and
whatever the user gave over them) build one `StudyConfig`, a section per
stage, validated before any work starts: a bad value fails with the name the
user typed, the value and what is allowed. `Study` then knows where each artifact lives and which settings it
must have been made with, for the notebook that makes it and for every
notebook that reads it; so a stale or damaged upstream table is refused by
name instead of being used.

Use: `study = Study.from_namespace(globals())`; `study.splits()`,
`study.read_pool()`, `study.pool_settings()`, ...
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
from ttc.methods.exchange import ExchangeConfig
from ttc.methods.revisions import RevisionConfig
from ttc.models.evaluate import EvalConfig
from ttc.models.lm import LADDER, Ladder, load_model, model_record
from ttc.models.pretrain import PretrainConfig
from ttc.pipelines.given_models import ModelsConfig, check_notebook
# profile_params is imported from here too (bench, tests)
from ttc.pipelines.parameters import PARAMETERS, Given, notebook_parameters, profile_params, unknown  # noqa: F401
from ttc.pipelines.pool import PoolConfig, pool_settings
from ttc.pipelines.seed_study import SeedStudyConfig
from ttc.verifiers.probability_prm import ProbabilityPRMConfig
from ttc.verifiers.trained import LabelConfig, VerifierConfig, verifier_settings
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
            if not isinstance(getattr(self, name), (list, tuple)):
                raise ConfigError(f"{name}={getattr(self, name)!r} must be a list, e.g. {list(getattr(SearchSweepConfig, name))}")
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
        if self.selection.demo_problems and self.selection.demo_budget not in self.search.budgets:
            raise ConfigError(f"demo_budget={self.selection.demo_budget} is not one of the searched budgets "
                              f"{list(self.search.budgets)}; choose one of them, or demo_problems=0 to skip the demo")

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
        ladder = _section(Ladder, p, {"names": "ladder"}, policy=policy)
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
PRETRAIN_KEYS = {"tokens": "pretrain_tokens", "rows": "pretrain_rows", "lr": "pretrain_lr",
                 "lr_width_power": "pretrain_lr_width_power", "compile": "pretrain_compile"}
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
    """A validated config, plus where its artifacts live and the settings each must carry."""

    def __init__(self, config: StudyConfig, data: Path):
        self.config, self.data = config, Path(data)
        self.results = self.data / "results"
        self.given = Given(config.profile)  # what a notebook was given over its profile (from_namespace)
        configure(config.executor)  # every chunked build of this process runs where the study says

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "Study":
        from ttc.core.store import data_dir

        config = StudyConfig.from_params(params)
        return cls(config, data_dir(config.profile))

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

    # ---- the world and the ladder (notebook 01)

    @functools.cache
    def splits(self) -> dict[str, list[W.Problem]]:
        """The world's splits: notebook 01's (synthetic), or the first n_test problems of `math_source` as the
        test split (MATH: a given policy is not trained, so there are no training problems)."""
        from ttc.pipelines.ladder_study import read_splits

        models = self.config.models
        if models.given:
            from ttc.world.math500 import load_problems

            return {"test": load_problems(models.math_source)[:self.config.world.n_test]}
        return read_splits(self.data, self.config.world)

    def test_problems(self) -> dict[str, W.Problem]:
        return {p.id: p for p in self.splits()["test"]}

    def model_dir(self, name: str) -> Path:
        from ttc.pipelines.ladder_study import policy_dir

        return policy_dir(self.data, name)

    def model_record(self, name: str) -> dict:
        return model_record(self.model_dir(name))

    @property
    def policy_name(self) -> str:
        """The policy's name: a ladder size, or a given model's name or directory."""
        return self.config.models.policy

    def policy_record(self) -> dict:
        """What identifies the policy's weights (in the settings of everything it made)."""
        if self.config.models.given:
            from ttc.models.hub_models import given_model_record

            return given_model_record(self.policy_name)
        return self.model_record(self.config.ladder.policy)

    def load_policy(self):
        """(model, tokenizer) of the policy: notebook 01's ladder model, or the given one (on CUDA in bf16 when
        there is a GPU)."""
        if self.config.models.given:
            from ttc.models.hub_models import load_causal_lm

            return load_causal_lm(self.policy_name)
        return load_model(self.model_dir(self.config.ladder.policy))[:2]

    def world(self, tokenizer=None):
        """The step protocol (`ttc.world.protocol`) of the study's world; MATH's prompt uses the policy's chat template."""
        from ttc.world.protocol import SYNTHETIC, MathWorld

        return MathWorld(tokenizer) if self.config.models.given else SYNTHETIC

    def search_sampler(self):
        """(sampler, world) for search (notebooks 04 and 05): the policy's sampler at search's batch size and
        length, stopping steps at the separator of the world it samples in (`run_search` refuses any other)."""
        from ttc.models.sampling import Sampler

        model, tokenizer = self.load_policy()
        world, search = self.world(tokenizer), self.config.search
        return Sampler(model, tokenizer, batch_size=search.batch_size, max_new_tokens=search.max_new_tokens,
                       step_separator=world.separator), world

    # ---- the pool and difficulty (notebook 02)

    def pool_settings(self) -> dict:
        return pool_settings(self.config.pool, self.splits()["test"], self.policy_record())

    def read_pool(self):
        from ttc.core.store import read_table

        return read_table(self.results / "02_pool.parquet", self.pool_settings(), "the sample pool", "notebook 02")

    def difficulty_settings(self) -> dict:
        return {"pool": self.pool_settings(), "seed": self.config.seed}

    def read_difficulty(self):
        from ttc.core.store import read_table

        return read_table(self.results / "02_difficulty.parquet", self.difficulty_settings(),
                          "the oracle difficulty bins", "notebook 02").set_index("problem_id")

    # ---- verifiers (notebook 03)

    def label_problems(self) -> list[W.Problem]:
        """The first n_label_problems distinct training problems (easy questions repeat in the split)."""
        return self.distinct_train_problems(0, self.config.n_label_problems)

    def verifier_dir(self, kind: str) -> Path:
        return self.data / "verifiers" / kind

    @functools.cache
    def n_labels(self) -> int:
        from ttc.core.store import read_table

        return len(read_table(self.results / "03_prm_labels.parquet", what="the PRM labels", made_by="notebook 03"))

    def verifier_settings(self, kind: str) -> dict:
        return verifier_settings(self.config.verifiers[kind], self.model_dir(self.config.verifier_base),
                                 self.n_labels())

    def line_scores_settings(self, kind: str) -> dict:
        return {"verifier": self.verifier_settings(kind), "pool": self.pool_settings()}

    def read_line_scores(self, kind: str):
        from ttc.core.store import read_table

        return read_table(self.results / f"03_{kind}_line_scores.parquet", self.line_scores_settings(kind),
                          f"the {kind.upper()}'s scores of the pool", "notebook 03")

    def prm_lm_dir(self) -> Path:
        """The probability PRM's language model: the policy, pretrained further (`ttc.verifiers.probability_prm`)."""
        return self.data / "verifiers" / "prm_lm"

    def prm_lm_pretrain_config(self):
        """The continued pretraining of the probability PRM's LM: the policy's schedule, for
        `continued_tokens`, on other batches (seed + 1)."""
        return dataclasses.replace(self.config.pretrain, tokens=self.config.probability_prm.continued_tokens,
                                   seed=self.config.pretrain.seed + 1)

    def probability_prm_dirs(self) -> tuple[Path, Path]:
        """(head, language model) of the probability PRM; its LM is the policy's when no tokens are added."""
        cfg = self.config.probability_prm
        lm = self.prm_lm_dir() if cfg.continued_tokens else self.model_dir(self.config.ladder.policy)
        return self.data / "verifiers" / "prm_head", lm

    def probability_prm_settings(self) -> dict:
        _, lm = self.probability_prm_dirs()
        return {"config": self.config.probability_prm, "lm": model_record(lm), "labels": self.n_labels()}

    def reference_settings(self, verifier: dict) -> dict:
        """What a reference verifier's scores of the pool's subset are made of."""
        return {"verifier": verifier, "pool": self.pool_settings(), "subset": self.config.verifier_ladder,
                "seed": self.config.seed}

    def read_verifier_ladder(self):
        """Notebook 03's verifier ladder (one row per verifier, by name) and, per verifier, the settings
        its scores were made with."""
        import pandas as pd

        from ttc.core.store import check_artifact

        path = self.results / "03_verifier_ladder.parquet"
        settings = check_artifact(path, what="the verifier ladder", made_by="notebook 03")
        return pd.read_parquet(path).set_index("verifier"), settings["scores"]

    def load_verifier(self, name: str, batch_size: int = 256, ledger=None):
        """The verifier of notebook 03's ladder called `name` (a row of `read_verifier_ladder`), ready to
        score: a trained PRM or ORM, a ladder size's likelihood, or the truth checker at one of its noises."""
        from ttc.verifiers.probability_prm import ProbabilityPRM
        from ttc.verifiers.reference import LikelihoodVerifier, TruthChecker
        from ttc.pipelines.verifier_study import CHECKER_NOISE, PRM_LM, PROBABILITY_PRM, VERIFIERS
        from ttc.verifiers.trained import Verifier

        kwargs = {"batch_size": batch_size, "ledger": ledger}
        trained = {label: kind for kind, label in VERIFIERS.items()}
        likelihoods = {f"likelihood {size}": size for size in self.config.ladder.names}
        checkers = {TruthChecker({}, noise=noise).name: noise for noise in CHECKER_NOISE}
        if name in trained:
            return Verifier.load(self.verifier_dir(trained[name]), **kwargs)
        if name == PROBABILITY_PRM:
            return ProbabilityPRM.load(*self.probability_prm_dirs(), **kwargs)
        if name == PRM_LM and self.config.probability_prm.continued_tokens:
            return LikelihoodVerifier.load(self.prm_lm_dir(), **kwargs)
        if name in likelihoods:
            return LikelihoodVerifier.load(self.model_dir(likelihoods[name]), **kwargs)
        if name in checkers:
            by_prompt = {W.prompt(p): p for p in self.splits()["test"]}
            return TruthChecker(by_prompt, noise=checkers[name], seed=self.config.seed)
        known = [*trained, PROBABILITY_PRM, PRM_LM, *likelihoods, *checkers]
        raise ConfigError(f"verifier {name!r} is not one of notebook 03's verifiers: {known}")

    def search_verifier(self, table) -> str:
        """The verifier notebook 04 searches with: `search.verifier`, or notebook 03's adopted one."""
        from ttc.pipelines.verifier_study import adopt, gain_column

        name = self.config.search.verifier
        if name == "adopted":
            return adopt(table, gain_column(self.config.verifier_ladder.budget))
        if name not in table.index:
            raise ConfigError(f"search_verifier={name!r} is not in notebook 03's verifier ladder "
                              f"{list(table.index)}; use one of them, or 'adopted'")
        return name

    def predicted_difficulty_settings(self) -> dict:
        if self.config.models.given:  # the given PRM's scores, of notebook 04's search problems
            return {"difficulty": self.difficulty_settings(), "prm_scores": self.search_verifier_settings()[1],
                    "problems": "notebook 04's search problems"}
        return {"difficulty": self.difficulty_settings(), "prm_scores": self.line_scores_settings("prm")}

    @property
    def predicted_difficulty_path(self) -> tuple[Path, str]:
        """Where the predicted bins are, and the notebook that makes them: notebook 03 bins its PRM's scores of the
        whole pool; with given models (notebook 03 trains no PRM) notebook 04 bins the given PRM's."""
        if self.config.models.given:
            return self.results / "04_predicted_difficulty.parquet", "notebook 04"
        return self.results / "03_predicted_difficulty.parquet", "notebook 03"

    def write_predicted_difficulty(self, scored, difficulty, score: str = "prm_last"):
        """The predicted bins (`verifier_study.predicted_difficulty` of `score`, over `difficulty`'s problems),
        written where `read_predicted_difficulty` reads them, with their settings; returned."""
        from ttc.core.store import write_table
        from ttc.pipelines.verifier_study import predicted_difficulty

        predicted = predicted_difficulty(scored, difficulty, self.config.seed, score=score)
        write_table(self.predicted_difficulty_path[0], predicted.reset_index(), self.predicted_difficulty_settings())
        return predicted

    def load_predicted_bins_verifier(self, batch_size: int = 256):
        """The verifier whose scores made the predicted bins: notebook 03's PRM; None with given models, where it
        is the given PRM, which is also the search verifier (one copy of it is loaded)."""
        if self.config.models.given:
            return None
        from ttc.verifiers.trained import Verifier

        return Verifier.load(self.verifier_dir("prm"), batch_size=batch_size)

    def read_predicted_difficulty(self):
        from ttc.core.store import read_table

        path, made_by = self.predicted_difficulty_path
        return read_table(path, self.predicted_difficulty_settings(), "the predicted difficulty bins",
                          made_by).set_index("problem_id")

    # ---- search (notebook 04)

    def search_verifier_settings(self) -> tuple[str, dict]:
        """The name of notebook 04's search verifier, and the settings its scores were made with: notebook 03's
        choice (synthetic), or the given PRM (its adapter's settings and what identifies its weights)."""
        models = self.config.models
        if models.given:
            from ttc.models.hub_models import given_model_record

            return models.prm, {"prm": models.prm_config, "weights": given_model_record(models.prm)}
        table, made_with = self.read_verifier_ladder()
        name = self.search_verifier(table)
        return name, made_with[name]

    def load_search_verifier(self, batch_size: int = 256, ledger=None):
        """Notebook 04's search verifier, ready to score: notebook 03's choice, or the given PRM."""
        if self.config.models.given:
            from ttc.verifiers.prm_adapters import load_prm

            return load_prm(self.config.models.prm_config, batch_size=batch_size, ledger=ledger)
        return self.load_verifier(self.search_verifier_settings()[0], batch_size=batch_size, ledger=ledger)

    def search_results_settings(self) -> dict:
        name, made = self.search_verifier_settings()
        return {"search": self.config.search, "verifier": name, "verifier_scores": made,
                "difficulty": self.difficulty_settings()}

    def read_search_results(self):
        from ttc.core.store import read_table

        return read_table(self.results / "04_search_results.parquet", self.search_results_settings(),
                          "the search results", "notebook 04")

    def ladder_results_settings(self) -> dict:
        return {"eval": self.config.eval, "problems": [p.id for p in self.splits()["test"]],
                "models": {name: model_record(self.model_dir(name)) for name in self.config.ladder.names}}

    def read_ladder_results(self):
        """Notebook 01's accuracy of every ladder model, one row per (model, test problem)."""
        from ttc.core.store import read_table

        return read_table(self.results / "01_base_models.parquet", self.ladder_results_settings(),
                          "the ladder's accuracy", "notebook 01")

    # ---- revisions (notebook 06)

    def distinct_train_problems(self, start: int, n: int) -> list[W.Problem]:
        """Distinct training problems `start` .. `start + n` in the split's order (easy questions repeat)."""
        train: dict[str, W.Problem] = {}
        for p in self.splits()["train"]:
            if len(train) == start + n:
                break
            train.setdefault(p.id, p)
        if len(train) < start + n:
            raise ConfigError(f"the {self.config.world.n_train} training problems hold {len(train)} distinct ones, "
                              f"fewer than the {start + n} asked for (n_label_problems, then revision_problems and "
                              "revision_orm_problems); lower those or raise n_train")
        return list(train.values())[start:]

    def revision_problems(self) -> tuple[list[W.Problem], list[W.Problem]]:
        """The revision model's training problems and its ORM's: distinct training problems after notebook
        03's label problems, none in both."""
        r = self.config.revisions
        first = self.distinct_train_problems(self.config.n_label_problems, r.n_problems + r.orm_problems)
        return first[:r.n_problems], first[r.n_problems:]

    def revision_dir(self, what: str) -> Path:
        """`model` (the revision model) or `orm` (the ORM of its outputs)."""
        return self.data / "revisions" / what

    def revision_data_settings(self) -> dict:
        r = self.config.revisions
        return {"policy": self.policy_record(), "n_samples": r.n_samples, "temperature": r.temperature,
                "max_new_tokens": r.max_new_tokens, "seed": r.seed}

    def revision_model_settings(self) -> dict:
        r = self.config.revisions
        return {"data": self.revision_data_settings(), "problems": r.n_problems,
                "max_trajectories": r.max_trajectories, "max_positions": r.max_positions,
                "finetune": r.finetune_config()}

    def revision_orm_settings(self) -> dict:
        r = self.config.revisions
        return {"revision_model": self.revision_model_settings(), "problems": r.orm_problems,
                "chains": r.orm_chains, "length": r.orm_length, "temperature": r.chain_temperature,
                "verifier": self.config.verifiers["orm"], "base": self.config.verifier_base,
                "base_model": self.model_record(self.config.verifier_base)}

    def revision_chains_settings(self) -> dict:
        r = self.config.revisions
        return {"revision_model": self.revision_model_settings(), "budget": r.budget,
                "temperature": r.chain_temperature, "max_new_tokens": r.max_new_tokens, "seed": r.seed}

    def revision_selectors(self, table) -> list[str]:
        """The verifiers notebook 06 scores the chains with: the ORM of revision outputs, the figures' selector,
        notebook 04's search verifier, the paper's PRM and ORM, and the ceiling (the perfect checker)."""
        from ttc.methods.revisions import REVISION_ORM
        from ttc.verifiers.spec import PERFECT_CHECKER, TRAINED

        return list(dict.fromkeys([REVISION_ORM, self.revision_verifier(table), self.search_verifier(table),
                                   *TRAINED.values(), PERFECT_CHECKER]))

    def revision_scores_settings(self, name: str, made_with: dict) -> dict:
        """What one selector's scores of the chains are made of (`made_with`: notebook 03's scores' settings)."""
        from ttc.methods.revisions import REVISION_ORM

        return self.revision_orm_settings() if name == REVISION_ORM else made_with[name]

    def revision_results_settings(self) -> dict:
        table, made_with = self.read_verifier_ladder()
        return {"chains": self.revision_chains_settings(),
                "scores": {n: self.revision_scores_settings(n, made_with) for n in self.revision_selectors(table)}}

    def read_revision_results(self):
        """Notebook 06's table: every split of every budget, by every selector, per problem."""
        from ttc.core.store import read_table

        return read_table(self.results / "06_revision_results.parquet", self.revision_results_settings(),
                          "the revision results", "notebook 06")

    def revision_verifier(self, table) -> str:
        """The selector of notebook 06's figures: `revision_verifier`, notebook 03's adopted verifier, or the
        ORM of revision outputs."""
        from ttc.methods.revisions import REVISION_ORM
        from ttc.pipelines.verifier_study import adopt, gain_column

        name = self.config.revisions.verifier
        if name == "adopted":
            return adopt(table, gain_column(self.config.verifier_ladder.budget))
        if name != REVISION_ORM and name not in table.index:
            raise ConfigError(f"revision_verifier={name!r} is neither {REVISION_ORM!r} nor in notebook 03's verifier "
                              f"ladder {list(table.index)}; use one of them, or 'adopted'")
        return name

    def check_exchange(self) -> None:
        """Notebook 07's settings against the ladder and the pool, before any work starts (here and not on
        construction, so that a ladder changed for another notebook need not change notebook 07's settings)."""
        cfg = self.config
        ex, names = cfg.exchange, list(cfg.ladder.names)
        if ex.larger not in names or names.index(ex.larger) <= names.index(cfg.ladder.policy):
            raise ConfigError(f"exchange_larger={ex.larger!r} must be a ladder model larger than the policy "
                              f"{cfg.ladder.policy!r}: one of {names[names.index(cfg.ladder.policy) + 1:]}")
        if len(ex.samples) != len(names):
            raise ConfigError(f"exchange_samples={list(ex.samples)} must give one sample count per ladder model "
                              f"{names} ({len(names)} counts)")
        if ex.samples[names.index(cfg.ladder.policy)] > cfg.pool.n:
            raise ConfigError(f"exchange_samples gives the policy {ex.samples[names.index(cfg.ladder.policy)]} "
                              f"samples, more than the pool's {cfg.pool.n} (n_pool): its samples are the pool's")
        if ex.n_problems > cfg.world.n_test:
            raise ConfigError(f"n_exchange_problems={ex.n_problems} exceeds the {cfg.world.n_test} test problems "
                              f"(n_test)")

    # ---- the seed study (notebooks/seed_study.ipynb, `make seed-study`)

    def seed_study_settings(self) -> dict:
        from ttc.pipelines.seed_study import model_dir, seed_models

        return {"eval": self.config.eval, "problems": [p.id for p in self.splits()["test"]],
                "models": {f"{name}-seed{seed}": model_record(model_dir(self, name, seed))
                           for name, seed in seed_models(self)}}

    def read_seed_study(self):
        """The seed study's table, or None (with the reason printed) when it has not been run for
        these models: it is outside `make reproduce`'s chain (`make seed-study`)."""
        from ttc.core.store import MissingArtifact, StaleArtifact, read_table

        if not (self.results / "seed_study.parquet").exists():  # else the settings would name a missing model
            print(f"no seed interval: the seed study has not been run for the {self.config.profile} profile "
                  "(make seed-study)")
            return None
        try:
            return read_table(self.results / "seed_study.parquet", self.seed_study_settings(), "the seed study",
                              "notebooks/seed_study.ipynb (make seed-study)")
        except (MissingArtifact, StaleArtifact) as e:
            print(f"no seed interval: {e}")
            return None

    def record_run(self, notebook: str) -> None:
        """List every artifact this notebook read or wrote beside its executed copy, so that
        `make reproduce` runs it again when one of them goes missing or is damaged."""
        from ttc.core.store import write_run_record

        write_run_record(self.data / "notebooks" / f"{notebook}.artifacts.json")

    def describe(self) -> dict:
        """Every setting, as plain values (for the record a notebook's summary carries)."""
        return dataclasses.asdict(self.config)
