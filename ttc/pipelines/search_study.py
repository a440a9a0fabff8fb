"""Notebook 04's assembly: verifier search against the pool's baselines, and search against verifier quality.

`SearchRun.load(study)` gathers what every step of the notebook reads (the problems searched at each budget,
the policy's sampler and its world, the search verifier and the settings its scores were made with, the pool,
the oracle bins, notebook 03's verifier ladder); then `run.baselines()` (best-of-N weighted and majority vote
read off the pool), `run.grid(baselines)` (every search configuration) and `run.axis(searched)` (beam search
minus best-of-N for each verifier of the axis). Each step caches its tables under results/ with what made them.

Use: `run = SearchRun.load(study)`; `searched, results = run.grid(run.baselines())`; `run.axis(searched)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ttc.core.store import slug, write_table
from ttc.methods.search import (SearchConfig, pool_baselines, results_table, run_grid, search_configs,
                                search_problems)
from ttc.pipelines.search_vs_verifier import BEAM, axis_configs, beam_minus_best_of_n, verifier_order, with_quality
from ttc.pipelines.study_verifiers import load_search_verifier, load_verifier, search_verifier_settings, verifier_ladder
from ttc.pipelines.verifier_study import write_predicted_difficulty
from ttc.verifiers.trained import sample_scores, score_pool


def problems_per_budget(study: "Study", bins: pd.Series) -> dict[int, list]:
    """The test problems notebook 04 searches at each budget (an equal share of each oracle bin; fewer at the
    largest); notebook 06's chains run on the first of them."""
    cfg, search = study.config, study.config.search
    return search_problems(bins, study.test_problems(), search.budgets, search.n_problems, search.n_problems_top,
                           seed=cfg.seed)


def search_sampler(study: "Study"):
    """(sampler, world) for search (notebooks 04 and 05): the policy's sampler at search's batch size and length,
    stopping steps at the separator of the world it samples in (`run_search` refuses any other)."""
    from ttc.models.sampling import Sampler

    model, tokenizer = study.load_policy()
    world, search = study.world(tokenizer), study.config.search
    return Sampler(model, tokenizer, batch_size=search.batch_size, max_new_tokens=search.max_new_tokens,
                   step_separator=world.separator), world


@dataclass
class SearchRun:
    study: "Study"
    configs: list[SearchConfig]
    skipped: list[str]  # notes on the configurations left out at these budgets
    test: dict
    difficulty: pd.DataFrame
    pool: pd.DataFrame
    problems_at: dict[int, list]  # the problems searched at each budget
    sampler: object
    world: object
    verifier_name: str
    verifier_settings: dict  # what the search verifier's scores were made with
    verifier: object
    ladder: pd.DataFrame | None  # notebook 03's verifier ladder (None on a world without each step's truth)
    made_with: dict[str, dict]  # per verifier of the ladder, the settings its scores were made with

    @classmethod
    def load(cls, study: "Study") -> "SearchRun":
        """Everything notebook 04 reads, checked before any work: an axis verifier must be in notebook 03's
        ladder."""
        cfg, search = study.config, study.config.search
        configs, skipped = search_configs(list(search.budgets), seed=cfg.seed, temperature=search.temperature,
                                          max_rounds=search.max_rounds, max_new_tokens=search.max_new_tokens)
        test, difficulty = study.test_problems(), study.read("difficulty")
        problems_at = problems_per_budget(study, difficulty["bin"])
        sampler, world = search_sampler(study)  # the policy's; the world: synthetic, or MATH with given models
        name, settings = search_verifier_settings(study)
        verifier = load_search_verifier(study, batch_size=search.batch_size)
        # the axis below needs each step's truth (its checker is that truth)
        ladder, made_with = verifier_ladder(study) if world.has_step_truth else (None, {})
        unknown = [v for v in search.axis_verifiers if ladder is not None and v not in ladder.index]
        if unknown:
            raise ValueError(f"axis_verifiers {unknown} are not in notebook 03's verifier ladder {list(ladder.index)}")
        return cls(study, configs, skipped, test, difficulty, study.read("pool"), problems_at, sampler, world, name,
                   settings, verifier, ladder, made_with)

    def pool_scored_by(self, name: str, verifier, problems: list, n_samples: int, use: str,
                       scores_settings: dict) -> pd.DataFrame:
        """The pool's first `n_samples` samples of `problems`, with `name`'s last-line score as `v_last`
        (cached as results/04_<use>_pool_<name>.parquet)."""
        ids = {p.id for p in problems}
        part = self.pool[self.pool.problem_id.isin(ids) & (self.pool["sample"] < n_samples)]
        lines = score_pool(verifier, name, part, self.test, self.study.path(f"results/04_{use}_pool_{slug(name)}.parquet"),
                           settings={"scores": scores_settings, "problems": sorted(ids), "n_samples": n_samples},
                           progress=False, world=self.world)
        return sample_scores(lines, part, "v")

    def baselines(self) -> pd.DataFrame:
        """Best-of-N weighted (by the search verifier) and majority vote, read off the pool at every budget on
        the problems searched there. With given models (no notebook 03), the predicted bins of notebook 05
        are written here, from the given PRM's scores."""
        cfg, search = self.study.config, self.study.config.search
        scored = self.pool_scored_by(self.verifier_name, self.verifier, self.problems_at[min(search.budgets)],
                                     max(search.budgets), "grid", self.verifier_settings)
        baselines = pool_baselines(scored, self.problems_at, self.sampler.tokenizer, self.sampler.n_parameters,
                                   self.verifier.n_parameters, n_repeats=search.n_repeats, seed=cfg.seed,
                                   score_column="v_last", world=self.world)
        if cfg.models.given:
            write_predicted_difficulty(self.study, scored, self.difficulty.loc[sorted(scored.problem_id.unique())],
                                       score="v_last")
        return baselines

    def grid(self, baselines: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Every search configuration on its problems (results/04_search.parquet), and the results table of
        them and the baselines with each problem's oracle bin (results/04_search_results.parquet)."""
        searched = run_grid([self.problems_at[c.budget] for c in self.configs], self.sampler, self.verifier,
                            self.configs, self.study.path("results/04_search.parquet"),
                            settings={"policy": self.study.policy_record(), "verifier": self.verifier_settings},
                            world=self.world)
        results = results_table(searched, baselines, self.difficulty["bin"])
        self.study.write("search_results", results)
        return searched, results

    def axis_problems(self) -> list:
        return self.problems_at[min(self.study.config.search.budgets)][:self.study.config.search.n_axis_problems]

    def axis(self, searched: pd.DataFrame) -> pd.DataFrame | None:
        """Per verifier of the axis (the search verifier first) and budget: beam search (M = 4) minus best-of-N
        weighted on the same problems, with the verifier's quality from notebook 03's ladder, best verifier
        first (results/04_verifier_axis.parquet). None on a world without each step's truth."""
        if not self.world.has_step_truth:
            return None
        cfg, search = self.study.config, self.study.config.search
        problems, configs = self.axis_problems(), axis_configs(search, cfg.seed)
        names = list(dict.fromkeys([self.verifier_name, *search.axis_verifiers]))
        tables = []
        for name in names:
            if name == self.verifier_name:  # the grid ran this beam search already, on these problems among others
                judge = self.verifier
                beams = searched[(searched.method == BEAM) & searched.budget.isin(search.axis_budgets)
                                 & searched.problem_id.isin({p.id for p in problems})]
            else:
                judge = load_verifier(self.study, name, batch_size=search.batch_size)
                beams = run_grid([problems] * len(configs), self.sampler, judge, configs,
                                 self.study.path(f"results/04_axis_{slug(name)}.parquet"),
                                 settings={"policy": self.study.policy_record(), "verifier": self.made_with[name]},
                                 progress=False)
            pooled = pool_baselines(self.pool_scored_by(name, judge, problems, max(search.axis_budgets), "axis",
                                                        self.made_with[name]),
                                    {b: problems for b in search.axis_budgets}, self.sampler.tokenizer,
                                    self.sampler.n_parameters, judge.n_parameters, n_repeats=search.n_repeats,
                                    seed=cfg.seed, score_column="v_last")
            tables.append(results_table(beams, pooled, self.difficulty["bin"]).assign(verifier=name))
            print(f"{name}: done")
        axis = with_quality(beam_minus_best_of_n(pd.concat(tables, ignore_index=True), search.n_boot, cfg.seed),
                            self.ladder)
        axis = axis.set_index("verifier").loc[verifier_order(axis)].reset_index()
        write_table(self.study.path("results/04_verifier_axis.parquet"), axis,
                    {"results": self.study.settings("search_results"),
                     "verifiers": {n: self.made_with[n] for n in names}, "problems": [p.id for p in problems]})
        return axis
