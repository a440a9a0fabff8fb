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
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ttc.methods.analysis import within_problem_auc
from ttc.methods.compute_optimal import compare_candidates
from ttc.methods.revisions import chains_of, flat_majority, hierarchical_weighted, replicates, split, splits_of

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
