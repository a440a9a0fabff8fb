"""The paper's findings, each judged from this study's committed summaries: the README's claims table.

A `Claim` is one finding of Snell et al. in words, where the paper shows it, and a `judge` that reads the
notebooks' summaries (`figures/NN_summary.json`) and returns a `Judgement`: what this study measured, rendered
from the summary (with its interval where the summary records one), and a verdict, one of `VERDICTS`. The rules
are stated in each judge's docstring and are applied as written, whatever the numbers; a finding this world
cannot test says so.

Use: `judge_all(load_summaries())`; `claims_table(...)` renders the table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from ttc.pipelines.stages import STAGES
from ttc.report.numbers import by_number as _by_number
from ttc.report.numbers import pct as _pct

HOLDS, FAILS, UNTESTABLE = "holds", "does not hold", "not testable here"
VERDICTS = (HOLDS, FAILS, UNTESTABLE)


@dataclass(frozen=True)
class Judgement:
    measured: str  # this study's numbers, rendered from a summary
    verdict: str  # one of VERDICTS

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {VERDICTS}")


@dataclass(frozen=True)
class Claim:
    key: str
    finding: str  # the paper's finding, in words
    where: str  # the paper's section and figure
    notebook: str  # the notebook that measures it ("04")
    figure: str  # this study's figure (file name without extension)
    judge: Callable[[dict[str, dict]], Judgement]


def _pts(x: float) -> str:
    """Points without the word (findings' `_pts` says "points"; the table's cells name them once)."""
    return f"{100 * x:+.1f}"


def _verdict(ok: bool) -> str:
    return HOLDS if ok else FAILS


def _gaps(minuend: dict, subtrahend: dict) -> dict[str, float]:
    """One curve minus another (budget -> accuracy each), at every budget both ran, in numeric order."""
    return {b: v - subtrahend[b] for b, v in _by_number(minuend) if b in subtrahend}


def _gaps_text(gaps: dict[str, float]) -> str:
    return ", ".join(f"{_pts(d)} points at N = {b}" for b, d in gaps.items())


def _within(x: float, bound: float) -> bool:
    """|x| <= bound, as the rendered numbers read (a float's last bits never decide a verdict)."""
    return abs(x) <= bound + 1e-9


# --------------------------------------------------------------------------
# 03: verifiers


def prm_beats_orm_beats_majority(s: dict[str, dict]) -> Judgement:
    """Best-of-N weighted at notebook 03's N: holds when PRM > ORM > majority vote (no interval is recorded)."""
    a, n = s["03"]["accuracy_at_n"], s["03"]["n"]
    prm, orm, maj = a["PRM last, weighted"], a["ORM, weighted"], a["majority vote"]
    return Judgement(f"N = {n}: PRM {_pct(prm)}, ORM {_pct(orm)}, majority {_pct(maj)}", _verdict(prm > orm > maj))


def last_step_aggregation(s: dict[str, dict]) -> Judgement:
    """PRM-weighted best-of-N at notebook 03's N: holds when scoring by the last step is at least as good as by
    the minimum and by the product of the steps."""
    a, n = s["03"]["accuracy_at_n"], s["03"]["n"]
    last, low, prod = a["PRM last, weighted"], a["PRM min, weighted"], a["PRM prod, weighted"]
    return Judgement(f"N = {n}: last {_pct(last)}, min {_pct(low)}, product {_pct(prod)}",
                     _verdict(last >= max(low, prod)))


# --------------------------------------------------------------------------
# 04: search


PRM_AXIS = "with the paper's PRM recipe"
"""The beam-search rows are judged with the verifier the paper used (notebook 04's search against verifier quality);
the lookahead and per-bin rows with the verifier notebook 04's grid searched with (`_grid_verifier`)."""


def _grid_verifier(s: dict[str, dict]) -> str:
    return f"the adopted verifier ({s['04']['verifier']})"


def _axis_prm(s: dict[str, dict]) -> list[tuple[str, dict]]:
    """Beam search (M = 4) minus best-of-N with the trained PRM, by budget, with 90% intervals (notebook 04)."""
    return _by_number(s["04"]["beam_minus_best_of_n"]["PRM"]["by_budget"])


def _gap(budget: str, r: dict) -> str:
    return f"{_pts(r['beam_minus_best_of_n'])} [{_pts(r['lo'])}, {_pts(r['hi'])}] points at N = {budget}"


def beam_ahead_at_small_budgets(s: dict[str, dict]) -> Judgement:
    """Beam search (M = 4) against best-of-N weighted with the PRM at the smallest budget: holds when beam search is
    ahead beyond the 90% interval."""
    budget, r = _axis_prm(s)[0]
    return Judgement(f"{PRM_AXIS}: {_gap(budget, r)}", _verdict(r["lo"] > 0))


def beam_gain_shrinks(s: dict[str, dict]) -> Judgement:
    """Beam search minus best-of-N with the PRM at the largest budget against the smallest: holds when the gap is
    smaller at the largest budget (beam search may fall below best-of-N there)."""
    rows = _axis_prm(s)
    (small, first), (large, last) = rows[0], rows[-1]
    return Judgement(f"{PRM_AXIS}: {_gap(small, first)}; {_gap(large, last)}",
                     _verdict(last["beam_minus_best_of_n"] < first["beam_minus_best_of_n"]))


def lookahead_worse(s: dict[str, dict]) -> Judgement:
    """Lookahead (k = 3, M = sqrt N) against beam search (M = sqrt N) with the grid's verifier: holds when lookahead
    is at most level with beam search at every budget both ran (no interval is recorded)."""
    acc = s["04"]["accuracy"]
    gaps = _gaps(acc["lookahead k=3 M=sqrt N"], acc["beam M=sqrt N"])
    return Judgement(f"with {_grid_verifier(s)}: {_gaps_text(gaps)}", _verdict(all(d <= 0 for d in gaps.values())))


def beam_ahead_on_medium_bins(s: dict[str, dict]) -> Judgement:
    """Beam search (M = sqrt N) minus best-of-N by oracle bin: holds when beam search is ahead on bins 3 and 4 at
    every budget (20 problems a bin; no interval is recorded)."""
    by_bin = s["04"]["beam_minus_best_of_n_by_bin"]
    medium = {b: by_bin[b] for b in ("3", "4") if b in by_bin}
    text = f"with {_grid_verifier(s)}: " + "; ".join(
        f"bin {b}: " + ", ".join(f"{_pts(v)} at {n}" for n, v in _by_number(g)) for b, g in medium.items())
    return Judgement(text + " points", _verdict(bool(medium) and all(v > 0 for g in medium.values()
                                                                       for v in g.values())))


# --------------------------------------------------------------------------
# 05: compute-optimal search


def _savings(efficiency: dict) -> tuple[float, str]:
    """The largest compute saving (reference budget / budget needed to match it) and where; a curve that never
    matches counts as no saving."""
    best, where = 0.0, ""
    for budget, e in _by_number(efficiency):
        if e["ratio"] is not None and e["ratio"] > best:
            best, where = e["ratio"], budget
    return best, where


def _saving_text(best: float, where: str) -> str:
    return f"at most {best:.1f}x fewer generations (at N = {where})" if best > 1 else "never fewer generations"


def compute_optimal_search_4x(s: dict[str, dict]) -> Judgement:
    """Compute-optimal search (oracle bins) against best-of-N weighted: holds when some budget of best-of-N is
    matched with at least 4x fewer generations."""
    best, where = _savings(s["05"]["efficiency"]["compute-optimal (oracle bins)"])
    return Judgement(_saving_text(best, where), _verdict(best >= 4))


def predicted_bins_as_good(s: dict[str, dict]) -> Judgement:
    """Compute-optimal search with predicted against oracle bins: holds when it is within 2 points at every budget."""
    acc = s["05"]["accuracy"]
    gaps = _gaps(acc["compute-optimal (predicted bins)"], acc["compute-optimal (oracle bins)"])
    return Judgement(_gaps_text(gaps), _verdict(all(_within(d, 0.02) for d in gaps.values())))


# --------------------------------------------------------------------------
# 06: revisions


def revisions_improve_along_chain(s: dict[str, dict]) -> Judgement:
    """The revision model's pass@1 at attempt 4 against attempt 1: holds when it is higher (no interval is
    recorded in the summary)."""
    by_step = s["06"]["pass1_by_step"]
    return Judgement(f"attempt 1 {_pct(by_step['1'])}, 4 {_pct(by_step['4'])}, "
                     f"{max(by_step, key=float)} {_pct(by_step[max(by_step, key=float)])}",
                     _verdict(by_step["4"] > by_step["1"]))


def correct_revised_away(s: dict[str, dict]) -> Judgement:
    """The share of correct answers the next revision makes incorrect: holds when it is within 10 points of the
    paper's 38%."""
    share = s["06"]["flips"]["correct_to_incorrect"]
    return Judgement(f"{_pct(share)} (the reverse: {_pct(s['06']['flips']['incorrect_to_correct'])})",
                     _verdict(_within(share - 0.38, 0.10)))


def sequential_beats_parallel(s: dict[str, dict]) -> Judgement:
    """One chain of N revisions against N parallel attempts, with notebook 06's selector, at its budget: holds when
    the chain is ahead."""
    v, selector, budget = s["06"]["versus"], s["06"]["selector"], str(s["06"]["budget"])
    seq, par = v[f"sequential, {selector}"][budget], v[f"parallel, {selector}"][budget]
    return Judgement(f"N = {budget}: sequential {_pct(seq)}, parallel {_pct(par)}", _verdict(seq > par))


def ratio_by_bin(s: dict[str, dict]) -> Judgement:
    """The best sequential-to-parallel ratio per oracle bin at notebook 06's budget: holds when bins 1-2 do best
    fully sequential (ties included) and some harder bin has an interior optimum."""
    best, budget = s["06"]["best_ratio"], s["06"]["budget"]
    top = round(math.log2(budget))
    easy = all(best[b]["sequential_accuracy"] >= best[b]["best_accuracy"] for b in ("1", "2"))
    interior = [b for b in ("3", "4", "5") if best[b]["interior"]]
    text = ", ".join(f"bin {b}: 2^{best[b]['best_log2_ratio']}" for b in ("1", "2", "3", "4", "5"))
    return Judgement(f"best ratio {text} (fully sequential: 2^{top})", _verdict(easy and bool(interior)))


def compute_optimal_revisions_4x(s: dict[str, dict]) -> Judgement:
    """Compute-optimal revisions (oracle bins) against parallel best-of-N: holds when some budget is matched with
    at least 4x fewer generations."""
    best, where = _savings(s["06"]["efficiency"]["compute-optimal (oracle bins)"])
    return Judgement(_saving_text(best, where), _verdict(best >= 4))


# --------------------------------------------------------------------------
# 07: pretraining vs test-time compute


def _fig1(s: dict[str, dict], ratio: float) -> list[dict]:
    return [r for r in s["07"]["fig1"] if r["ratio"] == ratio and r["strategy"] in ("search", "revisions")]


def _changes(rows: list[dict], levels: tuple[str, ...]) -> str:
    return "; ".join(f"{r['strategy']}: " + ", ".join(f"{level} {r[f'{level} (ours)']:+.1f}%" for level in levels)
                     + (" (its budget beyond the run's: a bound)" if r["beyond_run"] else "") for r in rows)


def test_time_wins_easy_medium(s: dict[str, dict]) -> Judgement:
    """Fig. 1's relative change from test-time compute instead of the ~14x larger model at R = 0.16: holds when
    search or revisions is ahead on both easy and medium questions."""
    rows = _fig1(s, 0.16)
    ok = any(r["easy (ours)"] > 0 and r["medium (ours)"] > 0 for r in rows)
    return Judgement(_changes(rows, ("easy", "medium")), _verdict(ok))


def pretraining_wins_hard_and_heavy_load(s: dict[str, dict]) -> Judgement:
    """Fig. 1 at R = 22: holds when both search and revisions are behind the larger model on hard questions."""
    rows = _fig1(s, 22.0)
    return Judgement(_changes(rows, ("medium", "hard")), _verdict(bool(rows) and all(r["hard (ours)"] < 0
                                                                                     for r in rows)))


def bins_beat_levels(s: dict[str, dict]) -> Judgement:
    """Compute-optimal search chosen within the model's oracle bins against the same choice within the problems'
    nominal levels (the world's chain lengths; MATH's hand-labelled levels with given models), both cross-validated:
    holds when the bins are at or above the levels at every budget and above at one at least (no interval is
    recorded)."""
    from ttc.methods.compute_optimal import LEVELS

    acc = s["05"]["accuracy"]
    levels = acc.get(next(iter(LEVELS)))
    if not levels:
        return Judgement("notebook 05 did not make the choice within levels", UNTESTABLE)
    gaps = _gaps(acc["compute-optimal (oracle bins)"], levels)
    return Judgement(f"oracle bins minus nominal levels: {_gaps_text(gaps)}",
                     _verdict(all(d >= 0 for d in gaps.values()) and any(d > 0 for d in gaps.values())))


CLAIMS: tuple[Claim, ...] = (
    Claim("levels", "The model's own difficulty bins predict the value of test-time compute better than MATH's "
          "hand-labelled levels", "Sec. 3.2", "05", "05_compute_optimal_search", bins_beat_levels),
    Claim("prm_orm", "A PRM beats an ORM, which beats majority vote, in best-of-N weighted",
          "App. F, Fig. 14", "03", "03_best_of_n", prm_beats_orm_beats_majority),
    Claim("last_step", "Scoring an answer by the PRM's last step beats the minimum and the product",
          "App. E, Fig. 13", "03", "03_best_of_n", last_step_aggregation),
    Claim("beam_small", "Beam search beats best-of-N at small budgets", "Sec. 5.3, Fig. 3", "04",
          "04_search_vs_verifier", beam_ahead_at_small_budgets),
    Claim("beam_large", "...and its gain shrinks at large budgets, where it can fall below best-of-N",
          "Sec. 5.3, Fig. 3", "04", "04_search_vs_verifier", beam_gain_shrinks),
    Claim("lookahead", "Lookahead search is worse than beam search at equal budget", "Sec. 5.3, Fig. 3", "04",
          "04_verifier_search", lookahead_worse),
    Claim("beam_bins", "Beam search beats best-of-N on medium questions (bins 3-4)", "Sec. 5.3, Fig. 3 right", "04",
          "04_verifier_search", beam_ahead_on_medium_bins),
    Claim("co_search", "Compute-optimal search matches best-of-N with about 4x less compute", "Sec. 5.3, Fig. 4",
          "05", "05_compute_optimal_search", compute_optimal_search_4x),
    Claim("predicted_bins", "Predicted difficulty works about as well as oracle difficulty", "Sec. 5.3, Fig. 4",
          "05", "05_compute_optimal_search", predicted_bins_as_good),
    Claim("chain_pass1", "Pass@1 improves along the chain of revisions", "Sec. 6, Fig. 6 left", "06",
          "06_revision_chains", revisions_improve_along_chain),
    Claim("revised_away", "About 38% of correct answers are revised into incorrect ones", "Sec. 6", "06",
          "06_revision_chains", correct_revised_away),
    Claim("sequential", "Sequential revisions beat parallel sampling at equal budget", "Sec. 6, Fig. 6 right", "06",
          "06_revision_chains", sequential_beats_parallel),
    Claim("ratio", "Easy questions do best fully sequential; harder ones at an interior ratio", "Sec. 6, Fig. 7",
          "06", "06_ratio_sweep", ratio_by_bin),
    Claim("co_revisions", "Compute-optimal revisions beat parallel best-of-N with up to 4x less compute",
          "Sec. 6, Fig. 8", "06", "06_compute_optimal_revisions", compute_optimal_revisions_4x),
    Claim("exchange_easy", "With few inference tokens (R << 1), a small model with test-time compute beats a ~14x "
          "larger one on easy and medium questions", "Sec. 7, Figs. 1, 9", "07", "07_flops_matched",
          test_time_wins_easy_medium),
    Claim("exchange_hard", "With many inference tokens (R >> 1), pretraining wins on hard questions",
          "Sec. 7, Figs. 1, 9", "07", "07_flops_matched", pretraining_wins_hard_and_heavy_load),
)


def judge_all(summaries: dict[str, dict]) -> dict[str, Judgement]:
    """Every claim's judgement from `summaries` (notebook -> summary); a claim whose notebook has no summary is
    left out."""
    return {c.key: c.judge(summaries) for c in CLAIMS if c.notebook in summaries}


POLICY_SEEDS = (1, 2)
"""The policy's other training seeds at which every claim is judged again (`make claims-seeds`: notebooks 02-07 on
the seed study's policy at each, the world and the larger models notebook 01's)."""


def claims_table(summaries: dict[str, dict], by_seed: dict[int, dict[str, dict]] | None = None,
                 link: Callable[[Claim], str] | None = None) -> str:
    """The README's claims table: each finding, this study's numbers and verdict at its training seed, the verdict
    at each other seed of the policy whose summaries are there (`by_seed`), and a link to the figure."""
    judged = judge_all(summaries)
    by_seed = by_seed or {}
    at_seed = {seed: judge_all(s) for seed, s in sorted(by_seed.items())}
    link = link or (lambda c: f"[{c.figure}](figures/{c.figure}.png), [notebook {c.notebook}]"
                              f"(notebooks/{STAGES[c.notebook].notebook}.ipynb)")
    seeds = [f"seed {seed}" for seed in POLICY_SEEDS]
    rows = []
    for c in CLAIMS:
        if c.key not in judged:
            continue
        verdicts = [judged[c.key].verdict] + [at_seed[seed][c.key].verdict if c.key in at_seed.get(seed, {})
                                              else "not run" for seed in POLICY_SEEDS]
        ran = [v for v in verdicts if v != "not run"]
        held = f"{sum(v == HOLDS for v in ran)} of {len(ran)}" if judged[c.key].verdict != UNTESTABLE else "-"
        rows.append(f"| {c.finding} ({c.where}) | {judged[c.key].measured} | **{verdicts[0]}** | "
                    + " | ".join(verdicts[1:]) + f" | {held} | {link(c)} |")
    counts = {v: sum(j.verdict == v for j in judged.values()) for v in VERDICTS}
    said = {HOLDS: "hold", FAILS: "do not hold", UNTESTABLE: "cannot be tested here"}
    tally = [f"{counts[v]} {said[v]}" for v in VERDICTS if counts[v]]
    return (f"| the paper's finding | this study (training seed 0) | verdict | {' | '.join(seeds)} | holds at | "
            "figure, notebook |\n| --- | --- | --- |" + " --- |" * len(seeds) + " --- | --- |\n" + "\n".join(rows)
            + "\n\n" + f"At the study's training seed, of {len(judged)} findings "
            + (", ".join(tally[:-1]) + " and " if len(tally) > 1 else "") + (tally[-1] if tally else "none") + ". "
            + (f"Seeds {', '.join(map(str, sorted(by_seed)))}: notebooks 02-07 rerun on the policy pretrained at that "
               "training seed (the world and the larger models notebook 01's)." if by_seed else
               f"The other seeds ({', '.join(map(str, POLICY_SEEDS))}) are not run yet (`make claims-seeds`)."))

