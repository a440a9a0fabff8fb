"""The paper's findings judged from summaries: each rule decides as written, and the table says at how many
training seeds each finding holds."""

import copy

import pytest

from ttc.report import claims as C
from ttc.report.findings import load_seed_summaries, load_summaries


@pytest.fixture(scope="module")
def committed():
    return load_summaries()


def test_every_claim_is_judged_from_the_committed_summaries(committed):
    judged = C.judge_all(committed)
    assert set(judged) == {c.key for c in C.CLAIMS}
    assert all(j.verdict in C.VERDICTS and j.measured for j in judged.values())


def test_a_verdict_outside_the_three_is_refused():
    with pytest.raises(ValueError, match="not one of"):
        C.Judgement("x", "maybe")


def test_beam_search_ahead_only_beyond_its_interval(committed):
    s = copy.deepcopy(committed)
    by_budget = s["04"]["beam_minus_best_of_n"]["PRM"]["by_budget"]
    small = min(by_budget, key=float)
    by_budget[small].update(beam_minus_best_of_n=0.05, lo=0.01, hi=0.09)
    assert C.beam_ahead_at_small_budgets(s).verdict == C.HOLDS
    by_budget[small].update(lo=-0.01)
    assert C.beam_ahead_at_small_budgets(s).verdict == C.FAILS


def test_a_saving_is_counted_in_generations_and_four_fold_is_the_bar(committed):
    s = copy.deepcopy(committed)
    eff = s["05"]["efficiency"]["compute-optimal (oracle bins)"]
    for e in eff.values():
        e["ratio"] = 0.9
    assert C.compute_optimal_search_4x(s) == C.Judgement("never fewer generations", C.FAILS)
    eff["64"]["ratio"] = 4.0
    assert C.compute_optimal_search_4x(s) == C.Judgement("at most 4.0x fewer generations (at N = 64)", C.HOLDS)


def test_a_rendered_bound_is_never_decided_by_a_floats_last_bits(committed):
    s = copy.deepcopy(committed)
    acc = s["05"]["accuracy"]
    for b in acc["compute-optimal (oracle bins)"]:
        acc["compute-optimal (predicted bins)"][b] = acc["compute-optimal (oracle bins)"][b] + 0.02 + 1e-12
    assert C.predicted_bins_as_good(s).verdict == C.HOLDS
    s["06"]["flips"]["correct_to_incorrect"] = 0.38 + 0.10
    assert C.correct_revised_away(s).verdict == C.HOLDS
    s["06"]["flips"]["correct_to_incorrect"] = 0.50
    assert C.correct_revised_away(s).verdict == C.FAILS


def test_the_bins_beat_the_levels_only_when_never_behind_and_ahead_somewhere(committed):
    s = copy.deepcopy(committed)
    acc = s["05"]["accuracy"]
    oracle = acc["compute-optimal (oracle bins)"]
    acc["compute-optimal (nominal levels)"] = {b: v - 0.01 for b, v in oracle.items()}
    assert C.bins_beat_levels(s).verdict == C.HOLDS
    acc["compute-optimal (nominal levels)"] = dict(oracle)
    assert C.bins_beat_levels(s).verdict == C.FAILS  # level everywhere: the bins predict nothing more
    first = min(oracle, key=float)
    acc["compute-optimal (nominal levels)"] = {b: v - 0.05 for b, v in oracle.items()} | {first: oracle[first] + 0.01}
    assert C.bins_beat_levels(s).verdict == C.FAILS
    del acc["compute-optimal (nominal levels)"]
    assert C.bins_beat_levels(s).verdict == C.UNTESTABLE


def test_pretraining_wins_only_when_both_strategies_lose_on_hard_questions(committed):
    s = copy.deepcopy(committed)
    rows = [r for r in s["07"]["fig1"] if r["ratio"] == 22.0 and r["strategy"] in ("search", "revisions")]
    for r in rows:
        r["hard (ours)"] = -5.0
    assert C.pretraining_wins_hard_and_heavy_load(s).verdict == C.HOLDS
    rows[0]["hard (ours)"] = 0.0
    assert C.pretraining_wins_hard_and_heavy_load(s).verdict == C.FAILS


def test_the_table_counts_the_seeds_a_finding_holds_at(committed):
    flipped = copy.deepcopy(committed)
    flipped["06"]["flips"]["correct_to_incorrect"] = 0.9  # revised away fails at this seed
    table = C.claims_table(committed, {1: flipped})
    row = next(line for line in table.splitlines() if line.startswith("| About 38%"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    held_at_0 = cells[2] == f"**{C.HOLDS}**"
    assert cells[3] == C.FAILS and cells[4] == "not run"
    assert cells[5] == f"{int(held_at_0)} of 2"
    assert "Seeds 1: notebooks 02-07 rerun" in table
    assert "not run yet" in C.claims_table(committed, {})


def test_the_committed_seed_summaries_are_the_claims_seeds():
    assert set(load_seed_summaries()) <= set(C.POLICY_SEEDS)
