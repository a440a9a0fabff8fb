"""Notebook 06's analysis: the revision chains of test problems, read every way the paper reads them (Sec. 6,
Figs. 6-8), from one staircase of chains per problem (`ttc.methods.revisions.staircase`).

- `split_results`: for every budget B up to the staircase's N and every split of B into chains x length, the
  accuracy of each selector (hierarchical best-of-N weighted with a verifier's scores, or majority vote over all
  answers), averaged over the N / B disjoint groups of chains the staircase holds for that split, with the FLOPs
  of writing the attempts and of the selector's verifier reading them.
- `step_accuracy`: pass@1 at each step of the chains (Fig. 6 left).
- `ratio_sweep`: at one budget, accuracy against the sequential-to-parallel ratio, overall and per bin (Fig. 7).
- `candidates` / `compare`: compute-optimal revisions (the best split per bin and budget, two-fold
  cross-validated through notebook 05's selector) against parallel best-of-N (Fig. 8), and over search and
  revisions together.

Use: `results = split_results(attempts, {"adopted": scores}, answers, budgets)`; `ratio_sweep(results, 64, "...")`.
The notebook's steps, each through the study's artifacts: `chain_problems`, `revision_data`, `train_reviser`,
`revision_orm`, `chains_and_scores`, `revision_results`, `compute_optimal_revisions`, `chain_cost`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ttc.methods.analysis import within_problem_auc
from ttc.methods.compute_optimal import compare_candidates
from ttc.methods.revisions import chains_of, flat_majority, hierarchical_weighted, replicates, split, splits_of
from ttc.pipelines import artifacts
from ttc.pipelines.study_verifiers import load_verifier, revision_selectors

MAJORITY = "majority vote"
PARALLEL = "parallel best-of-N"
"""Fig. 8's reference: N independent attempts (chains of length 1), best-of-N weighted across them."""
SEQUENTIAL = "sequential"
"""One chain of N revisions."""


def split_label(n_chains: int, length: int) -> str:
    return f"{n_chains} chains x {length}"


def ratio(n_chains: int, length: int) -> float:
    """The paper's sequential-to-parallel ratio of a split: chain length over the number of chains."""
    return length / n_chains


def split_results(attempts: pd.DataFrame, scores: dict[str, pd.DataFrame], answers: dict[str, str],
                  budgets: list[int]) -> pd.DataFrame:
    """One row per (problem, budget, split, selector): `accuracy` over the split's disjoint groups of chains,
    `flops` (writing the attempts, plus reading them for a verifier's selector), `generations` (the budget).

    `scores[name]` is `ttc.methods.revisions.score_attempts`' table of one verifier; each gives a selector (hierarchical
    best-of-N weighted), and majority vote over every answer is one more."""
    keyed = {name: s.set_index(["problem_id", "chain", "step"]) for name, s in scores.items()}
    table = attempts.set_index(["problem_id", "chain", "step"])
    for name, s in keyed.items():
        table[f"score {name}"] = s["score"].reindex(table.index).to_numpy()
        table[f"flops {name}"] = s["verifier_flops"].reindex(table.index).to_numpy()
    if table.filter(like="score ").isna().any().any():
        raise ValueError("some attempts have no score: every verifier must score every attempt")
    selectors = [*keyed, MAJORITY]
    rows = []
    for pid, chains in chains_of(table.reset_index()).items():
        # each chain a list of its attempts (records), so that `split` cuts and groups them
        attempts_of = [c.to_dict("records") for c in chains]
        for budget in budgets:
            for n_chains, length in splits_of(budget):
                k = replicates(attempts_of, n_chains, length)
                acc, flops = dict.fromkeys(selectors, 0.0), dict.fromkeys(selectors, 0.0)
                for r in range(k):
                    group = split(attempts_of, n_chains, length, r)
                    answers_in = [[a["answer"] for a in c] for c in group]
                    written = sum(a["flops"] for c in group for a in c)
                    for name in selectors:
                        if name == MAJORITY:
                            pick, read = flat_majority(answers_in), 0.0
                        else:
                            pick = hierarchical_weighted(answers_in, [[a[f"score {name}"] for a in c] for c in group])
                            read = sum(a[f"flops {name}"] for c in group for a in c)
                        acc[name] += (pick == answers[pid]) / k
                        flops[name] += (written + read) / k
                for name in selectors if k else []:
                    rows.append({"problem_id": pid, "budget": budget, "n_chains": n_chains, "length": length,
                                 "ratio": ratio(n_chains, length), "split": split_label(n_chains, length),
                                 "selector": name, "accuracy": acc[name], "flops": flops[name],
                                 "generations": budget, "replicates": k})
    return pd.DataFrame(rows)


def step_accuracy(attempts: pd.DataFrame) -> pd.DataFrame:
    """Per problem and chain step (1-based): the share of that problem's chains whose attempt at that step is
    correct, over the chains that reach it (Fig. 6 left; `ttc.methods.analysis.curve_with_intervals` by step)."""
    out = attempts.groupby(["problem_id", "step"])["correct"].mean().rename("accuracy").reset_index()
    out["step"] += 1
    return out


def flips(attempts: pd.DataFrame) -> dict[str, float]:
    """`ttc.methods.revisions.revised_away` over every chain: how often a correct attempt is revised into an incorrect
    one, and the reverse."""
    from ttc.methods.revisions import revised_away

    return revised_away([c["correct"].tolist() for chains in chains_of(attempts).values() for c in chains])


def context_effect(attempts: pd.DataFrame) -> dict[str, float]:
    """`ttc.methods.revisions.after_incorrect` over every chain: does an attempt after only incorrect ones do better
    than a first attempt, or repeat them?"""
    from ttc.methods.revisions import after_incorrect

    return after_incorrect([[list(zip(c["correct"].tolist(), c["answer"].tolist())) for c in chains]
                            for chains in chains_of(attempts).values()])


def sequential_vs_parallel(results: pd.DataFrame, selectors: list[str]) -> pd.DataFrame:
    """Fig. 6 right: per problem and budget, one chain of N (sequential) and N chains of one (parallel), for each
    selector."""
    seq = results[(results.n_chains == 1)].assign(mode=SEQUENTIAL)
    par = results[(results.length == 1)].assign(mode="parallel")
    both = pd.concat([seq, par], ignore_index=True)
    both = both[both.selector.isin(selectors)]
    return both.assign(method=both["mode"] + ", " + both["selector"])


def ratio_sweep(results: pd.DataFrame, budget: int, selector: str, bins: pd.Series) -> pd.DataFrame:
    """Fig. 7: at `budget`, the accuracy of every split (by its ratio) with `selector`, per problem, with the
    problem's bin."""
    at = results[(results.budget == budget) & (results.selector == selector)].copy()
    at["bin"] = at["problem_id"].map(bins)
    at["log2_ratio"] = np.log2(at["ratio"]).round().astype(int)
    return at


def best_ratio_by_bin(sweep: pd.DataFrame) -> pd.DataFrame:
    """Per bin (and overall): the best split by mean accuracy (ties: the more sequential), its accuracy beside
    fully parallel's and fully sequential's, and whether it is an interior optimum (strictly better than both)."""
    rows = []
    for b, g in [("all", sweep), *sweep.groupby("bin")]:
        means = g.groupby("log2_ratio")["accuracy"].mean()
        best = means[means == means.max()].index.max()
        rows.append({"bin": str(b), "best_log2_ratio": int(best), "best_accuracy": float(means[best]),
                     "parallel_accuracy": float(means[means.index.min()]),
                     "sequential_accuracy": float(means[means.index.max()]),
                     "interior": bool(means[best] > max(means[means.index.min()], means[means.index.max()])),
                     "n_problems": g.problem_id.nunique()})
    return pd.DataFrame(rows)


def selector_quality(attempts: pd.DataFrame, scores: dict[str, pd.DataFrame], results: pd.DataFrame,
                     budget: int) -> pd.DataFrame:
    """Per verifier, on the revision model's attempts: its AUC within each problem's own attempts (what
    selection needs) and its accuracy at `budget` fully parallel, fully sequential and at its best split; majority
    vote beside them."""
    rows = []
    at = results[results.budget == budget]
    for name in [*scores, MAJORITY]:
        mine = at[at.selector == name].groupby("split")["accuracy"].mean()
        row = {"selector": name, "parallel": float(mine[split_label(budget, 1)]),
               "sequential": float(mine[split_label(1, budget)]), "best_split": str(mine.idxmax()),
               "best_split_accuracy": float(mine.max())}
        if name in scores:
            scored = attempts.merge(scores[name][["problem_id", "chain", "step", "score"]], on=["problem_id", "chain", "step"])
            row["within_problem_auc"] = float(within_problem_auc(scored, "score").mean())
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------
# Compute-optimal revisions (Fig. 8), and over search and revisions together


def candidates(results: pd.DataFrame, selector: str, bins: pd.Series, predicted: pd.Series) -> pd.DataFrame:
    """The splits of every budget as strategies for notebook 05's selector: one row per (problem, budget,
    split), `correct` its accuracy, labelled by the ratio (`method`), with both kinds of bin."""
    out = results[results.selector == selector].copy()
    out["method"] = "revisions, ratio 2^" + np.log2(out["ratio"]).round().astype(int).astype(str)
    out = out.rename(columns={"accuracy": "correct"})
    out["bin"], out["predicted_bin"] = out["problem_id"].map(bins), out["problem_id"].map(predicted)
    return out[["problem_id", "budget", "method", "correct", "bin", "predicted_bin", "flops", "length", "n_chains"]]


def parallel_reference(cands: pd.DataFrame) -> pd.DataFrame:
    """Parallel best-of-N of the revision model (chains of length one), as a reference curve."""
    return cands[cands.length == 1].assign(method=PARALLEL)


def compare(cands: pd.DataFrame, references: pd.DataFrame, n_splits: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compute-optimal over `cands` (strategies by their `method` label), oracle and predicted bins, beside
    `references`; notebook 05's `compare_candidates`."""
    return compare_candidates(cands, references, ("method",), n_splits, seed)


def search_candidates(search_results: pd.DataFrame, problems: set[str], budgets: set[int]) -> pd.DataFrame:
    """Notebook 04's search strategies (majority vote left out, as in notebook 05) on the given problems and
    budgets, in `candidates`' shape, labelled "search, <strategy>"."""
    s = search_results[(search_results.search != "majority") & search_results.problem_id.isin(problems)
                       & search_results.budget.isin(budgets)]
    return s.assign(method="search, " + s["method"])[["problem_id", "budget", "method", "correct", "bin",
                                                      "predicted_bin", "flops"]]


POLICY_BEST_OF_N = "search: best-of-N weighted (the policy)"


def search_and_revisions(search_results: pd.DataFrame, cands: pd.DataFrame, n_splits: int,
                         seed: int) -> pd.DataFrame | None:
    """Compute-optimal over notebook 04's search strategies and the revision splits together (`compare`), at the
    budgets both ran, on the chains' problems; beside the policy's best-of-N weighted and the revision model's
    parallel best-of-N. None when they ran no budget in common."""
    common = sorted(set(search_results.budget) & set(cands.budget))
    if not common:
        return None
    revisions = cands[cands.budget.isin(common)]
    both = pd.concat([search_candidates(search_results, set(cands.problem_id), set(common)), revisions],
                     ignore_index=True)
    refs = pd.concat([both[both.method == "search, best-of-N weighted"].assign(method=POLICY_BEST_OF_N),
                      parallel_reference(revisions)])
    return compare(both, refs, n_splits, seed)[0]


# --------------------------------------------------------------------------
# Notebook 06's assembly: each step reads and writes its artifacts through the study


def chain_problems(study: "Study", bins: pd.Series) -> list:
    """The test problems the chains run on: the first `n_revision_problems` of notebook 04's search problems."""
    from ttc.pipelines.search_study import problems_per_budget

    cfg = study.config
    return problems_per_budget(study, bins)[min(cfg.search.budgets)][:cfg.revisions.n_test_problems]


@dataclass(frozen=True)
class RevisionData:
    """The policy's answers to the revision problems (results/06_revision_data.parquet), the trajectories the
    revision model is fine-tuned on, and what they hold (`stats`: counts, and lengths in tokens)."""

    answers: pd.DataFrame
    trajectories: list
    stats: dict


def revision_data(study: "Study", sampler, problems: list, by_id: dict) -> RevisionData:
    from ttc.methods.revisions import revision_prompt, sample_answers, training_trajectories

    rc, tokenizer = study.config.revisions, sampler.tokenizer
    answers = sample_answers(sampler, problems, rc, study.path("results/06_revision_data.parquet"),
                             artifacts.revision_data(study))
    items = training_trajectories(answers, rc)
    lengths = pd.Series([len(tokenizer(revision_prompt(by_id[t.problem_id], t.context) + t.target)["input_ids"]) + 1
                         for t in items])
    stats = {"answers": len(answers), "correct_share": float(answers.correct.mean()),
             "trajectories_all": int(answers.correct.sum()), "trajectories": len(items),
             "context_counts": pd.Series([len(t.context) for t in items]).value_counts().sort_index().to_dict(),
             "tokens_median": float(lengths.median()), "tokens_p99": float(lengths.quantile(0.99)),
             "tokens_max": float(lengths.max()), "max_positions": rc.max_positions}
    return RevisionData(answers, items, stats)


def train_reviser(study: "Study", items: list, by_id: dict, policy, tokenizer) -> tuple[dict, object, pd.DataFrame]:
    """The revision model fine-tuned from the policy on `items` (read back when it is on disk): its training
    record, the model, and the loss per token of it and of the policy by attempts in context, on the held-out
    problems' trajectories."""
    from ttc.methods.revisions import context_losses, load_revision_model, train_revision_model

    cfg, rc = study.config, study.config.revisions
    record = train_revision_model(items, by_id, study.model_dir(cfg.ladder.policy), rc, study.path("revisions/model"),
                                  artifacts.revision_model(study))
    reviser, _ = load_revision_model(study.path("revisions/model"))
    held = set(record["val_problems"])
    # the policy as loaded: its rotary positions extend to the trajectories' length without a change of weights
    losses = context_losses({"policy": policy, "revision model": reviser}, [t for t in items if t.problem_id in held],
                            by_id, tokenizer, rc.max_positions)
    return record, reviser, losses


def revision_orm(study: "Study", revision_sampler, problems: list, by_id: dict) -> tuple[pd.DataFrame, dict]:
    """The ORM of revision outputs: chains of the revision model on its own problems
    (results/06_orm_chains.parquet), and the ORM trained on them, reading each attempt after its history."""
    from ttc.methods.revisions import build_chains, train_revision_orm

    cfg, rc = study.config, study.config.revisions
    settings = artifacts.revision_orm(study)
    chains = build_chains(revision_sampler, problems, [rc.orm_length] * rc.orm_chains, rc.chain_temperature,
                          rc.seed + 1, study.path("results/06_orm_chains.parquet"), settings,
                          rc.chain_problems_per_chunk, rc.max_new_tokens, what="chains for the revision ORM")
    record = train_revision_orm(chains, by_id, study.model_dir(cfg.verifier_base), cfg.verifiers["orm"],
                                rc.max_positions, study.path("revisions/orm"), settings)
    return chains, record


def chains_and_scores(study: "Study", revision_sampler, problems: list, by_id: dict, ladder: pd.DataFrame,
                      made_with: dict) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The staircase of chains on each test problem (results/06_chains.parquet), and each selector's scores
    of every attempt (results/06_scores_<name>.parquet; a verifier is loaded only when its scores are not on
    disk yet)."""
    from ttc.core.store import cached_table, slug
    from ttc.methods.revisions import REVISION_ORM, build_chains, score_attempts, staircase
    from ttc.verifiers.trained import Verifier

    cfg, rc = study.config, study.config.revisions
    chains_settings = artifacts.revision_chains(study)
    attempts = build_chains(revision_sampler, problems, staircase(rc.budget), rc.chain_temperature, rc.seed,
                            study.path("results/06_chains.parquet"), chains_settings, rc.chain_problems_per_chunk,
                            rc.max_new_tokens, what=f"revision chains (staircase of budget {rc.budget})")

    def scored_by(name: str):
        judge = (Verifier.load(study.path("revisions/orm"), batch_size=cfg.search.batch_size) if name == REVISION_ORM
                 else load_verifier(study, name, batch_size=cfg.search.batch_size))
        return score_attempts(judge, attempts, by_id, with_history=name == REVISION_ORM)

    scores = {}
    for name in revision_selectors(study, ladder):  # the figures' selector, 04's verifier, the PRM, ORM, ceiling
        settings = {"chains": chains_settings, "verifier": artifacts.revision_scores(study, name, made_with)}
        scores[name] = cached_table(study.path(f"results/06_scores_{slug(name)}.parquet"), settings,
                                    lambda: scored_by(name), what=f"{name}'s scores of the chains")
    return attempts, scores


def revision_results(study: "Study", attempts: pd.DataFrame, scores: dict[str, pd.DataFrame],
                     problems: list) -> pd.DataFrame:
    """`split_results` at every budget up to the staircase's, written as results/06_revision_results.parquet."""
    from ttc.methods.analysis import budgets_up_to

    results = split_results(attempts, scores, {p.id: p.answer for p in problems},
                            budgets_up_to(study.config.revisions.budget))
    study.write("revision_results", results)
    return results


@dataclass(frozen=True)
class ComputeOptimalRevisions:
    """Fig. 8: compute-optimal revisions against parallel best-of-N and one sequential chain (per problem, and
    as curves with intervals), the budget each needs to match parallel best-of-N (results/06_efficiency.parquet),
    and compute-optimal over search and revisions together (None where notebook 04's problems do not overlap)."""

    per_problem: pd.DataFrame
    curves: pd.DataFrame
    ratios: pd.DataFrame
    together: pd.DataFrame | None


def compute_optimal_revisions(study: "Study", results: pd.DataFrame, selector: str, bins: pd.Series,
                              predicted: pd.Series) -> ComputeOptimalRevisions:
    from ttc.core.store import write_table
    from ttc.methods.analysis import curve_with_intervals
    from ttc.methods.compute_optimal import efficiency_table

    cfg = study.config
    cands = candidates(results, selector, bins, predicted)
    references = pd.concat([parallel_reference(cands), cands[cands.n_chains == 1].assign(method=SEQUENTIAL)])
    per_problem, _ = compare(cands, references, cfg.selection.n_splits, cfg.seed)
    curves = curve_with_intervals(per_problem, ["method", "budget"], n_boot=cfg.search.n_boot, seed=cfg.seed)
    ratios = efficiency_table(per_problem, reference=PARALLEL)
    search_results = study.read("search_results")
    search_results["predicted_bin"] = search_results["problem_id"].map(predicted)
    joint = search_and_revisions(search_results, cands, cfg.selection.n_splits, cfg.seed)
    together = None
    if joint is not None:
        rev_only = per_problem[per_problem.method == "compute-optimal (oracle bins)"]
        joint = pd.concat([joint[joint.method != "compute-optimal (predicted bins)"]
                           .replace({"compute-optimal (oracle bins)": "compute-optimal, search + revisions (oracle bins)"}),
                           rev_only[rev_only.budget.isin(set(joint.budget))]
                           .assign(method="compute-optimal, revisions (oracle bins)")])
        together = curve_with_intervals(joint, ["method", "budget"], n_boot=cfg.search.n_boot, seed=cfg.seed)
    write_table(study.path("results/06_efficiency.parquet"), ratios,
                study.settings("revision_results") | {"n_splits": cfg.selection.n_splits})
    return ComputeOptimalRevisions(per_problem, curves, ratios, together)


def chain_cost(results: pd.DataFrame, selector: str, budget: int) -> dict[str, float]:
    """The mean FLOPs per problem at `budget` of `budget` parallel attempts and of one chain of `budget`."""
    cost = results[results.selector == selector].groupby(["budget", "split"]).agg(flops=("flops", "mean")).reset_index()
    at_budget = cost[cost.budget == budget].set_index("split")["flops"]
    return {"parallel_flops": float(at_budget[f"{budget} chains x 1"]),
            "sequential_flops": float(at_budget[f"1 chains x {budget}"])}
