"""Notebook 07's pipeline: pretraining against test-time compute, from the study's own tables.

1. The paper's comparison (Sec. 7, Fig. 9): the policy with compute-optimal test-time compute (notebook 05's
   search, notebook 06's revisions, and both together, chosen per oracle bin as those notebooks choose them) at
   the FLOPs-matched budget, against the greedy answer of a ladder model ~14x larger, per oracle bin. Matched
   three ways: in generations (the paper's multiplier), in the ledger's FLOPs, and in the ledger's FLOPs with the
   verifier's own pretraining counted on the test-time side (`matched_targets`, `matched_comparison`).
2. The exchange rate over the whole ladder (Jones 2021): every ladder model's test-time curves (greedy, majority
   vote and best-of-N weighted with notebook 04's search verifier) on common test problems (`ladder_curves`);
   the cheapest test-time FLOPs at which each model reaches each accuracy target (`reach_table`); the slope of
   log test-time FLOPs against log pretraining FLOPs at equal accuracy, with a bootstrap over problems
   (`exchange_fit`); and the cheapest model for each target once pretraining is amortised at each R
   (`cheapest_by_ratio`).

Use: `greedy = greedy_answers(study.ladder_results())`; `tables = compute_optimal_tables(study)`; `curves = ladder_curves(...)`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from ttc.core.compute import processing_flops
from ttc.core.config import ConfigError
from ttc.core.store import reusable
from ttc.methods.analysis import budgets_up_to, stratified_subset
from ttc.methods.exchange import (cost_to_reach, exchange_rate, inference_multiplier, match_budget, matched_flops,
                          pooled_slope)
from ttc.models.lm import model_record
from ttc.pipelines.study_verifiers import (load_verifier, probability_prm_dirs, revision_selector_name, search_verifier_name,
                                           verifier_ladder)
from ttc.world import synthetic as W

OPTIMAL = "compute-optimal (oracle bins)"
STRATEGIES = ("search", "revisions", "search + revisions")
"""The policy's test-time compute in the comparison: notebook 05's, notebook 06's, and both together."""
GENERATIONS, LEDGER, LEDGER_VERIFIER = ("generations (the paper's)", "ledger FLOPs",
                                        "ledger FLOPs + verifier pretraining")
MATCHINGS = (GENERATIONS, LEDGER, LEDGER_VERIFIER)
PAPER_GROUPS = {"easy": (1, 2), "medium": (3, 4), "hard": (5,)}
"""Fig. 1's three columns as oracle bins (our reading: the paper does not list which bins it pooled)."""
PAPER_FIG1 = {  # relative change of accuracy, test-time compute instead of the ~14x larger model (Fig. 1)
    "revisions": {0.16: {"easy": 27.6, "medium": 21.6}, 0.79: {"easy": 16.7, "medium": 11.8, "hard": -11.9},
                  22.0: {"easy": 5.4, "medium": 3.5, "hard": -37.2}},
    "search": {0.16: {"easy": 19.1, "medium": 2.2, "hard": 2.0}, 0.79: {"easy": -5.6, "medium": -35.6, "hard": -30.6},
               22.0: {"easy": 0.0, "medium": -35.3, "hard": -52.9}},
}
GREEDY, MAJORITY, WEIGHTED = "greedy", "majority vote", "best-of-N weighted"


# --------------------------------------------------------------------------
# Greedy answers of every ladder model, with their tokens


def greedy_answers(ladder_results: pd.DataFrame) -> pd.DataFrame:
    """Every ladder model's greedy answer to every test problem, from notebook 01's evaluation
    (`Study.ladder_results`): whether it is right, its tokens and FLOPs (the study's rule), and the model's
    parameters and pretraining."""
    t = ladder_results
    return pd.DataFrame({"model": t.model, "problem_id": t.problem_id, "correct": t.greedy_correct.astype(bool),
                         "prompt_tokens": t.greedy_prompt_tokens, "generated_tokens": t.greedy_tokens,
                         "flops": processing_flops(t.parameters, t.greedy_prompt_tokens + t.greedy_tokens),
                         "parameters": t.parameters, "pretrain_flops": t.pretrain_flops,
                         "pretrain_tokens": t.pretrain_tokens})


def ladder_facts(greedy: pd.DataFrame) -> pd.DataFrame:
    """Per ladder model: parameters, pretraining tokens and FLOPs, greedy accuracy and tokens per query."""
    return (greedy.assign(query_tokens=greedy.prompt_tokens + greedy.generated_tokens)
            .groupby("model", sort=False)
            .agg(parameters=("parameters", "first"), pretrain_tokens=("pretrain_tokens", "first"),
                 pretrain_flops=("pretrain_flops", "first"), greedy=("correct", "mean"),
                 query_tokens=("query_tokens", "mean"), query_flops=("flops", "mean")))


# --------------------------------------------------------------------------
# 1. The paper's comparison: compute-optimal test-time compute against a larger model's greedy answer


def compute_optimal_tables(study) -> dict[str, pd.DataFrame]:
    """Per strategy of STRATEGIES: the per-problem accuracy and ledger FLOPs of compute-optimal test-time
    compute (oracle bins, two-fold cross-validated within each bin) at every budget run, chosen exactly as
    notebooks 05 and 06 choose them, from their inputs (notebook 04's search results, notebook 06's splits)."""
    from ttc.methods import compute_optimal
    from ttc.pipelines import revision_study

    cfg = study.config
    difficulty, predicted = study.read("difficulty"), study.read("predicted_difficulty")
    search = study.read("search_results")
    search["predicted_bin"] = search["problem_id"].map(predicted["predicted_bin"])
    per_search, _ = compute_optimal.compare(search, n_splits=cfg.selection.n_splits, seed=cfg.seed)
    table, _ = verifier_ladder(study)
    cands = revision_study.candidates(study.read("revision_results"), revision_selector_name(study, table),
                                      difficulty["bin"], predicted["predicted_bin"])
    per_revisions, _ = revision_study.compare(cands, revision_study.parallel_reference(cands),
                                              cfg.selection.n_splits, cfg.seed)
    joint = revision_study.search_and_revisions(search, cands, cfg.selection.n_splits, cfg.seed)
    tables = {"search": per_search, "revisions": per_revisions}
    if joint is not None:
        tables["search + revisions"] = joint
    return {k: t[t.method == OPTIMAL][["problem_id", "budget", "accuracy", "flops"]].reset_index(drop=True)
            for k, t in tables.items()}


def verifier_pretraining_flops(study, name: str) -> float:
    """The pretraining FLOPs a verifier adds to the policy's side: a ladder model's likelihood (or a value head on
    a ladder checkpoint) counts that model's pretraining unless it is the policy's own; the probability PRM and its
    LM count the policy's continued pretraining; the world's truth as a checker is no model (0, said so)."""
    from ttc.models.lm import read_meta
    from ttc.verifiers.spec import VerifierSpec

    cfg, spec = study.config, VerifierSpec.parse(name)

    def of(model: str) -> float:
        return 0.0 if model == cfg.ladder.policy else float(read_meta(study.model_dir(model))["flops"])

    if spec.kind == "likelihood" and spec.model in cfg.ladder.names:
        return of(spec.model)
    if spec.kind in ("prm", "orm", "revision_orm"):  # a value head on the verifiers' ladder checkpoint
        return of(cfg.verifier_base)
    if spec.kind in ("probability_prm", "prm_lm"):  # its LM's record counts the policy's pretraining too: only the rest is new
        lm = float(read_meta(probability_prm_dirs(study)[1])["flops"])
        return lm - float(read_meta(study.model_dir(cfg.ladder.policy))["flops"]) if cfg.probability_prm.continued_tokens else 0.0
    if spec.oracle:
        return 0.0
    raise ConfigError(f"no pretraining FLOPs known for verifier {name!r}")


def strategy_verifiers(study, table: pd.DataFrame) -> tuple[dict[str, str], dict[str, float]]:
    """Per strategy (search, revisions, search + revisions), the verifier it selects with (notebook 04's and 06's,
    from notebook 03's ladder `table`; both, for the two together) and the pretraining FLOPs it adds."""
    verifiers = {"search": search_verifier_name(study, table), "revisions": revision_selector_name(study, table)}
    flops = {k: verifier_pretraining_flops(study, v) for k, v in verifiers.items()}
    both = list(dict.fromkeys(verifiers.values()))  # search and revisions together use both verifiers
    verifiers["search + revisions"] = " and ".join(both)
    flops["search + revisions"] = sum(verifier_pretraining_flops(study, v) for v in both)
    return verifiers, flops


def matched_targets(m: float, ratios: tuple[float, ...], larger_query_flops: float, larger_pretrain_flops: float,
                    policy_pretrain_flops: float, verifier_pretrain_flops: dict[str, float],
                    n_queries: dict[float, float]) -> dict[tuple[str, str, float], float]:
    """(strategy, matching, R) -> the test-time budget per query that matches the larger model's lifetime FLOPs:
    in generations (the paper's M + 3 (M - 1) / R), in ledger FLOPs, and in ledger FLOPs with the pretraining of
    the strategy's verifier (`verifier_pretrain_flops`, by strategy) on the policy's side."""
    out = {}
    for strategy, verifier_flops in verifier_pretrain_flops.items():
        for r in ratios:
            out[(strategy, GENERATIONS, r)] = inference_multiplier(m, r)
            out[(strategy, LEDGER, r)] = matched_flops(larger_query_flops, larger_pretrain_flops,
                                                       policy_pretrain_flops, n_queries[r])
            out[(strategy, LEDGER_VERIFIER, r)] = matched_flops(larger_query_flops, larger_pretrain_flops,
                                                                policy_pretrain_flops + verifier_flops, n_queries[r])
    return out


def _group_rows(at: pd.DataFrame, larger: pd.Series, bins: pd.Series, groups: dict) -> list[dict]:
    rows = []
    for group, members in groups.items():
        g = at[at.problem_id.map(bins).isin(members)]
        if not len(g):
            continue
        small, large = float(g.accuracy.mean()), float(larger.reindex(g.problem_id).mean())
        rows.append({"bin": group, "accuracy": small, "larger_accuracy": large, "points": small - large,
                     "relative": (small - large) / large if large > 0 else float("nan"), "n_problems": len(g)})
    return rows


def matched_comparison(tables: dict[str, pd.DataFrame], larger: pd.Series, bins: pd.Series,
                       targets: dict[tuple[str, str, float], float]) -> pd.DataFrame:
    """Per strategy, matching and R: the budget matched among those run (and whether the target lies beyond or
    below them), and per oracle bin, per Fig. 1 group and over all problems the policy's compute-optimal accuracy
    there against the larger model's greedy accuracy (`larger`, by problem) on the same problems.

    `targets` is `matched_targets`' table. A budget's FLOPs are its mean over the problems run at it."""
    groups = {str(b): (b,) for b in sorted(bins.unique())} | PAPER_GROUPS | {"all": tuple(sorted(bins.unique()))}
    rows = []
    for strategy, per_problem in tables.items():
        means = per_problem.groupby("budget")["flops"].mean()
        budgets = [int(b) for b in means.index]
        for (name, matching, r), target in targets.items():
            if name != strategy:
                continue
            m = match_budget(target, budgets, None if matching == GENERATIONS else list(means.to_numpy()))
            at = per_problem[per_problem.budget == m.budget]
            for row in _group_rows(at, larger, bins, groups):
                rows.append({"strategy": strategy, "matching": matching, "ratio": r, "target": m.target,
                             "budget": m.budget, "beyond_run": m.beyond_run, "below_run": m.below_run,
                             "budget_flops": float(means[m.budget])} | row)
    return pd.DataFrame(rows)


MATCHED_COLUMNS = ["strategy", "matching", "ratio", "target", "budget", "beyond_run", "below_run", "accuracy",
                   "larger_accuracy", "relative", "n_problems"]
"""The columns of `matched_comparison` a reader compares first: where each strategy was matched, and how it did."""


def fig1_table(comparison: pd.DataFrame, matching: str = GENERATIONS) -> pd.DataFrame:
    """Fig. 1's table: per strategy and R, the relative change (in %) in easy, medium and hard questions, ours
    (`matching`) beside the paper's."""
    rows = []
    for (strategy, r), g in comparison[comparison.matching == matching].groupby(["strategy", "ratio"]):
        by = g.set_index("bin")
        paper = PAPER_FIG1.get(strategy, {}).get(float(r), {})
        row = {"strategy": strategy, "ratio": r, "budget": int(by["budget"].iloc[0]),
               "beyond_run": bool(by["beyond_run"].iloc[0])}
        for group in PAPER_GROUPS:
            row[f"{group} (ours)"] = 100 * by.loc[group, "relative"] if group in by.index else float("nan")
            row[f"{group} (paper)"] = paper.get(group, float("nan"))
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------
# 2. The exchange rate over the ladder


def exchange_problems(study) -> list[W.Problem]:
    """The common test problems of the ladder's pools: an equal share of each oracle bin (the same seeded
    order as notebook 03's reference subset, so a smaller set is a subset of a larger one)."""
    ex = study.config.exchange
    bins = study.read("difficulty")["bin"]
    test = study.test_problems()
    return [test[i] for i in stratified_subset(bins, min(ex.n_problems, len(bins)), seed=ex.seed)]


def ladder_pool(study, name: str, problems: list[W.Problem], progress: bool = True) -> pd.DataFrame:
    """Samples of ladder model `name` on `problems` (`exchange_samples` of them per problem): the policy's are
    the first of notebook 02's pool; the other models' are drawn here with the pool's settings."""
    from ttc.models.lm import load_model
    from ttc.pipelines.pool import sample_pool

    cfg = study.config
    n = cfg.exchange.samples[list(cfg.ladder.names).index(name)]
    ids = {p.id for p in problems}
    if name == cfg.ladder.policy:
        pool = study.read("pool")
        return pool[pool.problem_id.isin(ids) & (pool["sample"] < n)].reset_index(drop=True)
    path = study.path(f"results/07_pool_{name}.parquet")
    pool_cfg = dataclasses.replace(cfg.pool, n=n, seed=cfg.exchange.seed)
    model, tokenizer, _ = load_model(study.model_dir(name))
    return sample_pool(model, tokenizer, problems, pool_cfg, path, progress=progress,
                       policy_record=model_record(study.model_dir(name)))


def scored_ladder_pool(study, name: str, pool: pd.DataFrame, problems: list[W.Problem], verifier: str,
                       verifier_settings: dict, progress: bool = True) -> pd.DataFrame:
    """`pool` with the verifier's last-line score of each sample (`verifier_last`); the verifier is loaded only
    when its scores are not on disk."""
    from ttc.verifiers.trained import sample_scores, score_pool

    path = study.path(f"results/07_scores_{name}.parquet")
    settings = {"pool": {"model": model_record(study.model_dir(name)), "samples": int(pool.groupby("problem_id").size().max()),
                         "problems": sorted(pool.problem_id.unique()), "pool": study.config.pool,
                         "seed": study.config.exchange.seed},
                "verifier": verifier_settings}
    judge = None if reusable(path, settings, f"{verifier}'s scores of {name}'s pool") else \
        load_verifier(study, verifier, batch_size=study.config.pool.batch_size)
    lines = score_pool(judge, verifier, pool, {p.id: p for p in problems}, path, settings, progress=progress)
    return sample_scores(lines, pool, "verifier")


def ladder_curves(pools: dict[str, pd.DataFrame], greedy: pd.DataFrame, problems: list[W.Problem], tokenizer,
                  verifier_parameters: int, n_repeats: int, seed: int) -> pd.DataFrame:
    """Per ladder model, test-time strategy, budget and problem: accuracy and ledger FLOPs per query. The
    strategies: the greedy answer (one generation), majority vote and best-of-N weighted (by `verifier_last`)
    at every power-of-two budget up to the model's samples."""
    from ttc.methods.search import best_of_n_from_pool

    params = greedy.groupby("model")["parameters"].first()
    ids = {p.id for p in problems}
    tables = []
    for name, pool in pools.items():
        budgets = budgets_up_to(int(pool.groupby("problem_id").size().min()))
        g = greedy[(greedy.model == name) & greedy.problem_id.isin(ids)]
        tables.append(pd.DataFrame({"model": name, "method": GREEDY, "budget": 1, "problem_id": g.problem_id,
                                    "correct": g.correct.astype(float), "flops": g.flops}))
        for method, rule, score in ((MAJORITY, "majority", None), (WEIGHTED, "weighted", "verifier_last")):
            t = best_of_n_from_pool(pool, problems, budgets, rule, score, method, tokenizer, int(params[name]),
                                    verifier_parameters, n_repeats=n_repeats, seed=seed)
            tables.append(t[["problem_id", "budget", "correct", "flops"]].assign(model=name, method=method))
    return pd.concat(tables, ignore_index=True)[["model", "method", "budget", "problem_id", "correct", "flops"]]


def exchange_curves(study, greedy: pd.DataFrame, problems: list[W.Problem], verifier: str,
                    made_with: dict) -> pd.DataFrame:
    """Every ladder model's pool on the exchange's problems, scored by `verifier` (notebook 04's), read as
    `ladder_curves`."""
    from ttc.world.tokenizer import build_tokenizer

    cfg, ex = study.config, study.config.exchange
    pools = {name: scored_ladder_pool(study, name, ladder_pool(study, name, problems), problems, verifier,
                                      made_with[verifier]) for name in cfg.ladder.names}
    verifier_parameters = load_verifier(study, verifier).n_parameters
    return ladder_curves(pools, greedy, problems, build_tokenizer(), verifier_parameters, ex.n_repeats, ex.seed)


def curve_points(curves: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy and FLOPs per query of every (model, method, budget)."""
    return (curves.groupby(["model", "method", "budget"], sort=False)
            .agg(accuracy=("correct", "mean"), flops=("flops", "mean")).reset_index())


def accuracy_targets(points: pd.DataFrame, n: int) -> np.ndarray:
    """`n` accuracy targets evenly spaced strictly inside the range of accuracies the ladder's strategies reach
    (none when every strategy has the same accuracy)."""
    lo, hi = float(points.accuracy.min()), float(points.accuracy.max())
    return np.linspace(lo, hi, n + 2)[1:-1] if hi > lo else np.array([])


def reach_table(points: pd.DataFrame, targets, pretrain_flops: pd.Series) -> pd.DataFrame:
    """Per target and model: the cheapest test-time FLOPs per query at which the model's strategies reach the
    target (nan: never), whether that is measured between two strategies run (`interior`) or only bounded
    (its cheapest strategy is already there), and the model's pretraining FLOPs."""
    rows = []
    for t in targets:
        for name, g in points.groupby("model", sort=False):
            reach = cost_to_reach(g.flops, g.accuracy, float(t))
            rows.append({"target": float(t), "model": name, "test_time_flops": reach.cost, "interior": reach.interior,
                         "reached": bool(np.isfinite(reach.cost)), "pretrain_flops": float(pretrain_flops[name])})
    return pd.DataFrame(rows, columns=["target", "model", "test_time_flops", "interior", "reached", "pretrain_flops"]
                        ).astype({"target": float, "test_time_flops": float, "interior": bool, "reached": bool,
                                  "pretrain_flops": float})


def _slope_of(reaches: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    """The pooled slope over the targets where two or more models are measured (interior), and those points."""
    inner = reaches[reaches.interior]
    inner = inner[inner.groupby("target")["model"].transform("count") >= 2]
    slope = pooled_slope(inner.target, np.log10(inner.pretrain_flops), np.log10(inner.test_time_flops))
    return slope, inner


def exchange_fit(curves: pd.DataFrame, targets, pretrain_flops: pd.Series, n_boot: int, seed: int) -> dict:
    """The exchange rate: one slope of log test-time FLOPs against log pretraining FLOPs at equal accuracy,
    pooled over the targets where two or more models are measured, with a 90% interval from resampling the
    problems (every model's curves recomputed on each resample); and per target, where three or more models are
    measured, its own fit. The rate is the test-time FLOPs 10x more pretraining FLOPs replaces: 10^-slope."""
    reaches = reach_table(curve_points(curves), targets, pretrain_flops)
    slope, inner = _slope_of(reaches)
    keys = curves[["model", "method", "budget"]].drop_duplicates()
    wide_acc = curves.pivot_table(index=["model", "method", "budget"], columns="problem_id", values="correct")
    wide_flops = curves.pivot_table(index=["model", "method", "budget"], columns="problem_id", values="flops")
    wide_acc, wide_flops = wide_acc.loc[pd.MultiIndex.from_frame(keys)], wide_flops.loc[pd.MultiIndex.from_frame(keys)]
    acc, flops = wide_acc.to_numpy(), wide_flops.to_numpy()
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        i = rng.integers(acc.shape[1], size=acc.shape[1])
        pts = keys.assign(accuracy=np.nanmean(acc[:, i], axis=1), flops=np.nanmean(flops[:, i], axis=1))
        s, _ = _slope_of(reach_table(pts, targets, pretrain_flops))
        if np.isfinite(s):
            draws.append(s)
    lo, hi = (np.quantile(draws, [0.05, 0.95]) if draws else (float("nan"), float("nan")))
    per_target = {}
    for t, g in inner.groupby("target"):
        if len(g) >= 3 and g.pretrain_flops.nunique() >= 2:
            fit = exchange_rate(g.pretrain_flops, g.test_time_flops, n_boot=n_boot, seed=seed)
            per_target[float(t)] = {"slope": fit.slope, "rate": fit.rate, "points": fit.points}
    rate = lambda s: float(10.0 ** -s) if np.isfinite(s) else float("nan")  # noqa: E731
    return {"slope": slope, "slope_lo": float(lo), "slope_hi": float(hi), "rate": rate(slope),
            "rate_lo": rate(float(hi)), "rate_hi": rate(float(lo)), "boot_draws": len(draws),
            "points": len(inner), "targets_fitted": int(inner.target.nunique()), "per_target": per_target,
            "models": list(dict.fromkeys(inner.model)),
            "reaches": reaches}


def cheapest_by_ratio(reaches: pd.DataFrame, n_queries: dict[float, float]) -> pd.DataFrame:
    """Per target and R: the model that reaches the target with the fewest total FLOPs per query (its pretraining
    amortised over its lifetime's queries plus the test-time FLOPs it needs), how much test-time compute that is,
    and whether its test-time FLOPs are only bounded."""
    rows = []
    for r, q in n_queries.items():
        for t, g in reaches[reaches.reached].groupby("target"):
            total = g.pretrain_flops / q + g.test_time_flops
            best = g.loc[total.idxmin()]
            rows.append({"ratio": r, "target": float(t), "model": best.model, "test_time_flops": best.test_time_flops,
                         "total_flops_per_query": float(total.min()), "bounded": not bool(best.interior)})
    return pd.DataFrame(rows, columns=["ratio", "target", "model", "test_time_flops", "total_flops_per_query", "bounded"])


def frontier_points(points: pd.DataFrame, pretrain_flops: pd.Series, n_queries: dict[float, float]) -> pd.DataFrame:
    """Every strategy's accuracy against its total FLOPs per query at each R (its model's pretraining amortised
    over the lifetime's queries, plus test time), and whether it is on the compute-optimal envelope of the whole
    ladder (no cheaper strategy of any model is as accurate)."""
    from ttc.methods.exchange import frontier_index

    tables = []
    for r, q in n_queries.items():
        t = points.assign(ratio=r, total_flops=points.flops + points.model.map(pretrain_flops) / q).reset_index(drop=True)
        t["envelope"] = t.index.isin(frontier_index(t.total_flops, t.accuracy))
        tables.append(t)
    return pd.concat(tables, ignore_index=True)
