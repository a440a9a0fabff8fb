"""Notebook 03's analysis: best-of-N from the scored pool, and the verifiers against the world's truth.

Use: `best_of_n_table(scored, answers, budgets, ...)` (Fig. 13-14);
`verifier_quality(line_scores, scored, bins)` (AUCs, calibration, the
within-problem AUC that selection needs); `predicted_difficulty(scored, difficulty)`;
`measure_verifier_ladder(study, pool, bins, line_scores, test, prm_dirs)` (every verifier on one subset).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ttc.core.compute import Ledger
from ttc.methods.analysis import (accuracy_vs_n, answers_of, auc, bootstrap_interval, calibration, cell_auc,
                                  difficulty_bins, stratified_subset, within_problem_auc)
from ttc.pipelines.study_verifiers import (CHECKER_NOISE, adopt, gain_column, prm_lm_pretrain_config, probability_prm_dirs,
                                           verifier_dir)
from ttc.verifiers.selection import majority
from ttc.verifiers.spec import PRM_LM, PROBABILITY_PRM, TRAINED
from ttc.verifiers.trained import sample_scores

BEST_OF_N_METHODS = {  # name: (selection rule, score column)
    "PRM last, weighted": ("weighted", "prm_last"),
    "PRM min, weighted": ("weighted", "prm_min"),
    "PRM prod, weighted": ("weighted", "prm_prod"),
    "PRM last, best-of-N": ("best_of_n", "prm_last"),
    "ORM, weighted": ("weighted", "orm_last"),
    "majority vote": ("majority", None),
}
AGGREGATION_PANEL = ("PRM last, weighted", "PRM min, weighted", "PRM prod, weighted", "majority vote")
VERIFIER_PANEL = ("PRM last, weighted", "PRM last, best-of-N", "ORM, weighted", "majority vote")
VERIFIERS = TRAINED  # the trained verifiers' labels, by kind


def best_of_n_table(scored: pd.DataFrame, answers: dict[str, str], budgets: list[int], n_repeats: int,
                    seed: int, bins: pd.Series) -> pd.DataFrame:
    """Per method of BEST_OF_N_METHODS, problem and budget N: the accuracy over `n_repeats` random
    N-subsets of the pool, with the problem's oracle bin."""
    per_problem = pd.concat([accuracy_vs_n(scored, answers, rule, budgets, score=col, n_repeats=n_repeats, seed=seed)
                             .assign(method=name) for name, (rule, col) in BEST_OF_N_METHODS.items()],
                            ignore_index=True)
    per_problem["oracle_bin"] = per_problem["problem_id"].map(bins)
    return per_problem


def verifier_quality(line_scores: dict[str, pd.DataFrame], scored: pd.DataFrame,
                     bins: pd.Series) -> tuple[dict, pd.DataFrame, pd.DataFrame, dict[str, pd.Series], pd.DataFrame]:
    """Each verifier against the truth, on the test pool: pooled AUCs (a line's score for "this prefix
    is still right", over distinct samples; the final score for "the answer is right", over every
    sample, the distribution selection faces), calibration tables, the AUC within each problem's
    own samples (what selection needs) and its mean by oracle bin."""
    aucs, step_cal, final_cal, within = {}, [], [], {}
    distinct = scored.drop_duplicates(["problem_id", "text"])
    for kind, name in VERIFIERS.items():
        ls = line_scores[kind]
        aucs[(name, "step")] = auc(ls["score"], ls["on_track"])
        step_cal.append(calibration(ls["score"], ls["on_track"]).assign(verifier=name))
        aucs[(name, "final")] = auc(scored[f"{kind}_last"], scored["correct"])
        final_cal.append(calibration(scored[f"{kind}_last"], scored["correct"]).assign(verifier=name))
        within[name] = within_problem_auc(distinct, f"{kind}_last")
    by_bin = pd.DataFrame({name: w.groupby(bins.reindex(w.index)).mean() for name, w in within.items()})
    return aucs, pd.concat(step_cal), pd.concat(final_cal), within, by_bin


def predicted_difficulty(scored: pd.DataFrame, difficulty: pd.DataFrame, seed: int,
                         score: str = "prm_last") -> pd.DataFrame:
    """The oracle difficulty table with predicted bins beside it: quantile bins of the mean PRM
    final score (`score`) of each problem's pool samples (no ground truth)."""
    predicted = scored.groupby("problem_id")[score].mean().reindex(difficulty.index)
    out = difficulty.copy()
    out["predicted_bin"] = difficulty_bins(predicted, seed=seed)
    out["mean_prm_final"] = predicted
    return out


def majority_wrong_problems(pool: pd.DataFrame, answers: dict[str, str]) -> set[str]:
    """The problems whose majority vote over their whole pool is wrong: where a verifier must beat the
    crowd of samples, not only its slips."""
    return {pid for pid, g in pool.groupby("problem_id") if majority(answers_of(g["answer"])) != answers[pid]}


def verifier_report(line_scores: pd.DataFrame, pool: pd.DataFrame, answers: dict[str, str], budget: int,
                    n_repeats: int, n_boot: int, seed: int) -> dict[str, float]:
    """One verifier measured against the world's truth (issue 14's measures). `line_scores` is
    `ttc.verifiers.trained.score_pool`'s table; a sample's score is its last line's (the prefix score of the
    whole solution).

    - within_problem_auc: final score vs correctness among one problem's own samples, averaged over
      problems with both; _majority_wrong: the same over the problems whose majority vote is wrong.
    - cell_auc: `ttc.methods.analysis.cell_auc`, does it flag the first wrong line.
    - weighted_minus_majority_n<budget>: best-of-N weighted minus majority vote at N = budget, per
      problem over `n_repeats` random N-subsets, its mean over problems with a paired 90% bootstrap
      interval (_lo, _hi).
    """
    scored = sample_scores(line_scores, pool, "v")
    within = within_problem_auc(scored.drop_duplicates(["problem_id", "text"]), "v_last")
    wrong = majority_wrong_problems(pool, answers)
    weighted = accuracy_vs_n(scored, answers, "weighted", [budget], score="v_last", n_repeats=n_repeats, seed=seed)
    vote = accuracy_vs_n(scored, answers, "majority", [budget], n_repeats=n_repeats, seed=seed)
    gain = weighted.set_index("problem_id")["accuracy"] - vote.set_index("problem_id")["accuracy"]
    mean, lo, hi = bootstrap_interval(gain.to_numpy(), n_boot=n_boot, seed=seed)
    key = gain_column(budget)
    return {"within_problem_auc": float(within.mean()),
            "within_problem_auc_majority_wrong": float(within[within.index.isin(wrong)].mean()),
            "cell_auc": cell_auc(line_scores), key: mean, f"{key}_lo": lo, f"{key}_hi": hi,
            "n_problems": int(pool["problem_id"].nunique()), "n_majority_wrong": len(wrong)}


def monte_carlo_labels(study: "Study", policy, tokenizer, problems: list) -> tuple[pd.DataFrame, Ledger]:
    """The PRM's labels (`ttc.verifiers.trained.label_steps`: rollouts from every step prefix of the policy's
    solutions to `problems`), cached as results/03_prm_labels.parquet; and the rollout compute spent now."""
    from ttc.verifiers.trained import label_steps

    ledger = Ledger()
    labels = label_steps(policy, tokenizer, problems, study.config.labels, study.path("results/03_prm_labels.parquet"),
                         ledger=ledger, policy_record=study.policy_record())
    return labels, ledger


def training_table(metas: dict[str, dict]) -> pd.DataFrame:
    """One row per trained verifier: its best validation loss and step, the steps run, its training
    solutions and its wall time (from each one's training record)."""
    return pd.DataFrame([{"verifier": k, "best val loss": m["best_val_loss"], "best step": m["best_step"],
                          "steps run": m["steps"], "train solutions": m["train_examples"],
                          "wall s": round(m["wall_s"])} for k, m in metas.items()])


def bin_agreement(predicted: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """The oracle bins against the predicted ones (`predicted_difficulty`'s table): their confusion table
    and the share of problems on which they agree."""
    confusion = pd.crosstab(predicted["bin"].rename("oracle bin"), predicted["predicted_bin"].rename("predicted bin"))
    return confusion, float((predicted["bin"] == predicted["predicted_bin"]).mean())


@dataclass(frozen=True)
class ProbabilityPRMRun:
    """The probability PRM as notebook 03 trains it: its head's folder and record, its language model's folder,
    and that model's pretraining record (None when it is the policy as it is)."""

    head_dir: Path
    lm_dir: Path
    head: dict
    lm: dict | None


def train_probability_prm(study: "Study", tokenizer, labels: pd.DataFrame, problems_by_id: dict) -> ProbabilityPRMRun:
    """The policy pretrained further (`continued_tokens`, when not 0) and a logistic head on its token
    probabilities, fitted to the Monte Carlo labels; each read back when it is on disk."""
    from ttc.pipelines.ladder_study import pretrain_on_world
    from ttc.verifiers.probability_prm import train_head
    from ttc.verifiers.reference import LikelihoodVerifier

    from ttc.pipelines.artifacts import probability_prm

    cfg = study.config
    head_dir, lm_dir = probability_prm_dirs(study)
    lm = None
    if cfg.probability_prm.continued_tokens:
        lm = pretrain_on_world(cfg.ladder.policy, tokenizer, study.splits(), cfg.world, prm_lm_pretrain_config(study),
                               lm_dir, init_from=study.model_dir(cfg.ladder.policy))
    head = train_head(LikelihoodVerifier.load(lm_dir), labels, problems_by_id, cfg.probability_prm, head_dir,
                      probability_prm(study))
    return ProbabilityPRMRun(head_dir, lm_dir, head, lm)


@dataclass(frozen=True)
class PoolScores:
    """The pool with each trained verifier's sample scores (`<kind>_last`, `_min`, `_prod`), each one's line
    scores, and the scoring compute spent now (zero when every score was read back)."""

    scored: pd.DataFrame
    line_scores: dict[str, pd.DataFrame]
    ledger: Ledger


def score_pool_with_trained(study: "Study", pool: pd.DataFrame, test: dict) -> PoolScores:
    """Every sample of the pool scored by each trained verifier (notebook 03's PRM and ORM), line by line;
    cached as results/03_<kind>_line_scores.parquet."""
    from ttc.verifiers.trained import Verifier, score_pool

    cfg, ledger = study.config, Ledger()
    scored, line_scores = pool, {}
    for kind in cfg.verifiers:
        verifier = Verifier.load(verifier_dir(study, kind), ledger=ledger, batch_size=cfg.pool.batch_size)
        line_scores[kind] = score_pool(verifier, kind, pool, test, study.path(f"results/03_{kind}_line_scores.parquet"),
                                       settings=study.settings("line_scores", kind=kind))
        scored = sample_scores(line_scores[kind], scored, kind)
    return PoolScores(scored, line_scores, ledger)


def best_of_n_from_pool(study: "Study", scored: pd.DataFrame, test: dict, bins: pd.Series
                        ) -> tuple[pd.DataFrame, list[int]]:
    """`best_of_n_table` at every power-of-two budget up to 256 the pool holds, written as
    results/03_best_of_n.parquet with the scores it was read from; (the table, the budgets)."""
    from ttc.core.store import write_table
    from ttc.methods.analysis import budgets_up_to

    cfg = study.config
    budgets = budgets_up_to(min(256, int(scored.groupby("problem_id").size().min())))
    per_problem = best_of_n_table(scored, {pid: p.answer for pid, p in test.items()}, budgets, cfg.search.n_repeats,
                                  cfg.seed, bins)
    write_table(study.path("results/03_best_of_n.parquet"), per_problem,
                {"scores": {k: study.settings("line_scores", kind=k) for k in cfg.verifiers}, "budgets": budgets,
                 "n_repeats": cfg.search.n_repeats, "seed": cfg.seed})
    return per_problem, budgets


# --------------------------------------------------------------------------
# The verifier ladder: trained verifiers against untrained references, on one subset of the pool

def reference_subset(pool: pd.DataFrame, bins: pd.Series, n_problems: int, n_samples: int, seed: int) -> pd.DataFrame:
    """The pool restricted to `n_problems` test problems (an equal share of each oracle bin) and the
    first `n_samples` samples of each: what every verifier of the ladder is measured on."""
    ids = stratified_subset(bins, min(n_problems, len(bins)), seed=seed)
    return pool[pool["problem_id"].isin(ids) & (pool["sample"] < n_samples)].reset_index(drop=True)


def on_subset(line_scores: pd.DataFrame, subset: pd.DataFrame) -> pd.DataFrame:
    """A verifier's line scores of the whole pool, restricted to the (problem, text) pairs of `subset`."""
    keys = subset[["problem_id", "text"]].drop_duplicates()
    return line_scores.merge(keys, on=["problem_id", "text"], how="inner")


def verifier_ladder_table(reports: dict[str, dict], models: dict[str, Path | None]) -> pd.DataFrame:
    """One row per verifier: its `verifier_report`, and what it costs. `models[name]` is the ladder model
    it reads with (None for a truth checker, which stands for a verifier and costs nothing):
    its parameters, scoring FLOPs per token read (2N) and pretraining FLOPs (6 N D)."""
    from ttc.models.lm import read_meta

    rows = []
    for name, report in reports.items():
        meta = read_meta(models[name]) if models.get(name) is not None else None
        rows.append({"verifier": name, "oracle": meta is None, "model": meta["name"] if meta else "",
                     "parameters": meta["parameters"] if meta else 0,
                     "scoring_flops_per_token": 2.0 * meta["parameters"] if meta else 0.0,
                     "pretrain_flops": float(meta["flops"]) if meta else 0.0} | report)
    return pd.DataFrame(rows).set_index("verifier")




def best_trained_prm(table: pd.DataFrame, candidates: list[str]) -> str:
    """Of the trained PRMs in `table`, the one that best flags the first wrong line (highest cell AUC)."""
    present = table.loc[[c for c in candidates if c in table.index], "cell_auc"]
    if present.empty:
        raise ValueError(f"none of the trained PRMs {candidates} is in the verifier table ({list(table.index)})")
    return str(present.fillna(-1.0).idxmax())


@dataclass(frozen=True)
class VerifierLadder:
    """Notebook 03's verifier ladder, measured: one row per verifier (`verifier_ladder_table`), the verifier
    adopted for search (`adopt`), the best trained PRM, the subset they were measured on, and the scoring
    compute the likelihoods and the probability PRM spent now (zero when every score was read back)."""

    table: pd.DataFrame
    adopted: str
    trained_prm: str
    subset: pd.DataFrame
    ledger: Ledger


def measure_verifier_ladder(study: "Study", pool: pd.DataFrame, bins: pd.Series, line_scores: dict[str, pd.DataFrame],
                            test: dict, prm_dirs: tuple[Path, Path]) -> VerifierLadder:
    """Every verifier on one subset of the pool: the trained PRM and ORM (their scores of the whole pool,
    `line_scores`, restricted to it), each ladder size's likelihood, the probability PRM (and its LM's bare
    likelihood when it was pretrained further), and the truth checker at each noise. Each one's scores are
    cached under results/ with what made them, and the table written as results/03_verifier_ladder.parquet."""
    from ttc.world import synthetic as W
    from ttc.core.store import slug, write_table
    from ttc.verifiers.probability_prm import ProbabilityPRM
    from ttc.verifiers.reference import LikelihoodVerifier, TruthChecker
    from ttc.verifiers.trained import score_pool

    from ttc.models.lm import model_record
    from ttc.pipelines.artifacts import probability_prm, reference

    cfg = study.config
    vl, (head_dir, prm_lm_dir) = cfg.verifier_ladder, prm_dirs
    subset = reference_subset(pool, bins, vl.n_problems, vl.n_samples, cfg.seed)
    scores = {VERIFIERS[kind]: on_subset(line_scores[kind], subset) for kind in cfg.verifiers}
    reads_with = {VERIFIERS[kind]: study.model_dir(cfg.verifier_base) for kind in cfg.verifiers}
    made_with = {VERIFIERS[kind]: study.settings("line_scores", kind=kind) for kind in cfg.verifiers}
    ledger = Ledger()

    def measure(label, verifier, made, path, reads, progress=True):
        made_with[label] = reference(study, made)
        scores[label] = score_pool(verifier, label, subset, test, path, settings=made_with[label], progress=progress)
        reads_with[label] = reads

    for name in cfg.ladder.names:
        verifier = LikelihoodVerifier.load(study.model_dir(name), ledger=ledger, batch_size=cfg.pool.batch_size)
        measure(f"likelihood {name}", verifier, {"kind": "likelihood", "rule": LikelihoodVerifier.RULE,
                                                "model": model_record(study.model_dir(name))},
                study.path(f"results/03_likelihood_{name}.parquet"), study.model_dir(name))
    prm_settings = probability_prm(study)
    trained_here = {PROBABILITY_PRM: (ProbabilityPRM.load(head_dir, prm_lm_dir, ledger=ledger,
                                                          batch_size=cfg.pool.batch_size),
                                      {"kind": "probability PRM", **prm_settings})}
    if cfg.probability_prm.continued_tokens:  # its LM's bare likelihood: what the further pretraining alone gives
        trained_here[PRM_LM] = (LikelihoodVerifier.load(prm_lm_dir, ledger=ledger, batch_size=cfg.pool.batch_size),
                                {"kind": "likelihood", "rule": LikelihoodVerifier.RULE, "model": prm_settings["lm"]})
    for label, (verifier, made) in trained_here.items():
        measure(label, verifier, made, study.path(f"results/03_{slug(label)}.parquet"), prm_lm_dir)
    by_prompt = {W.prompt(p): p for p in test.values()}
    for noise in CHECKER_NOISE:
        checker = TruthChecker(by_prompt, noise=noise, seed=cfg.seed)
        measure(checker.name, checker, {"kind": "checker", "noise": noise},
                study.path(f"results/03_checker_{noise:g}.parquet"), None, progress=False)
    answers = {pid: p.answer for pid, p in test.items()}
    reports = {name: verifier_report(ls, subset, answers, vl.budget, cfg.search.n_repeats, cfg.search.n_boot, cfg.seed)
               for name, ls in scores.items()}
    table = verifier_ladder_table(reports, reads_with)
    write_table(study.path("results/03_verifier_ladder.parquet"), table.reset_index(),
                {"scores": made_with, "subset": vl, "seed": cfg.seed})
    return VerifierLadder(table, adopt(table, gain_column(vl.budget)),
                          best_trained_prm(table, [VERIFIERS["prm"], PROBABILITY_PRM]), subset, ledger)


def write_predicted_difficulty(study: "Study", scored: pd.DataFrame, difficulty: pd.DataFrame,
                               score: str = "prm_last") -> pd.DataFrame:
    """The predicted bins (`verifier_study.predicted_difficulty` of `score`, over `difficulty`'s problems), written
    where `study.read("predicted_difficulty")` reads them, with their settings; returned."""
    predicted = predicted_difficulty(scored, difficulty, study.config.seed, score=score)
    study.write("predicted_difficulty", predicted.reset_index())
    return predicted
