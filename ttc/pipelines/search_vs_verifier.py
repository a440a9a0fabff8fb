"""Search against verifier quality (notebook 04, beyond the paper): does beam search beat best-of-N, and
when does it over-optimise, as a function of how good the verifier is?

The paper explains its Sec. 5.3 results by its PRM: beam search wins where the PRM is right and loses
where search finds what the PRM wrongly likes. This world can test that explanation, because its
verifiers span the range: the paper's recipe (a coin flip here), the adopted verifier, and the world's
truth as a checker, perfect and with noise. Each runs the same beam search (M = `AXIS_WIDTH`) and the
same best-of-N (read off the pool, scored by that verifier) on the same problems, so that their
difference, per budget, is a function of the verifier alone.

Use: `axis_configs(cfg.search, seed)`; `beam_minus_best_of_n(results, n_boot, seed)`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ttc.methods.analysis import bootstrap_interval
from ttc.methods.search import SearchConfig, strategy_label
from ttc.pipelines.study import AXIS_WIDTH, SearchSweepConfig

BEAM = strategy_label("beam", AXIS_WIDTH)
BEST_OF_N = strategy_label("best_of_n")


def axis_configs(search: SearchSweepConfig, seed: int) -> list[SearchConfig]:
    """Beam search with M = AXIS_WIDTH at every axis budget."""
    return [SearchConfig("beam", budget=b, beam_width=AXIS_WIDTH, max_rounds=search.max_rounds,
                         temperature=search.temperature, max_new_tokens=search.max_new_tokens, seed=seed)
            for b in search.axis_budgets]


def beam_minus_best_of_n(results: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    """Per verifier and budget: beam search's accuracy minus best-of-N weighted's, paired by problem,
    with a 90% bootstrap interval over problems, and both accuracies."""
    rows = []
    for (verifier, budget), g in results.groupby(["verifier", "budget"], sort=False):
        by = g.pivot_table(index="problem_id", columns="method", values="correct", aggfunc="mean")
        if BEAM not in by or BEST_OF_N not in by:
            continue
        paired = by[[BEAM, BEST_OF_N]].dropna()
        mean, lo, hi = bootstrap_interval((paired[BEAM] - paired[BEST_OF_N]).to_numpy(), n_boot=n_boot, seed=seed)
        rows.append({"verifier": verifier, "budget": int(budget), "beam": float(paired[BEAM].mean()),
                     "best_of_n": float(paired[BEST_OF_N].mean()), "beam_minus_best_of_n": mean,
                     "lo": lo, "hi": hi, "n_problems": len(paired)})
    return pd.DataFrame(rows)


def with_quality(diff: pd.DataFrame, ladder: pd.DataFrame) -> pd.DataFrame:
    """`beam_minus_best_of_n`'s table with each verifier's quality from notebook 03's ladder beside it."""
    quality = ladder[["within_problem_auc", "within_problem_auc_majority_wrong", "cell_auc"]]
    return diff.merge(quality, left_on="verifier", right_index=True, how="left")


def verifier_order(table: pd.DataFrame) -> list[str]:
    """Verifiers from the best (highest cell AUC, the perfect checker first) to the worst."""
    by = table.drop_duplicates("verifier").set_index("verifier")["cell_auc"]
    return list(by.fillna(-np.inf).sort_values(ascending=False, kind="stable").index)
