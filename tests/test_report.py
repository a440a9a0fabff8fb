"""The README's results and each notebook's closing text are rendered from the summaries, never typed."""

import json
import re

import pytest

from ttc.core.config import ROOT
from ttc.report import findings as report


def test_the_readme_and_the_results_page_are_the_committed_summaries_rendered():
    summaries, trials = report.load_summaries(), report.load_trials()
    for name, render in report.PAGES.items():
        page = (ROOT / name).read_text()
        assert render(page, summaries, trials) == page, (
            f"{name}'s rendered sections disagree with figures/NN_summary.json: run `make readme`")


def _prose(page: str) -> str:
    """A page without what is rendered, code, link targets and the paper's own references: what is typed."""
    for name in ("claims", "glance", "results"):
        start, end = report.rendered_block(name)
        while start in page:
            head, rest = page.split(start, 1)
            page = head + rest.split(end, 1)[1]
    page = re.sub(r"```.*?```", " ", page, flags=re.S)
    page = re.sub(r"`[^`]*`", " ", page)
    page = re.sub(r"\]\([^)]*\)", "]", page)
    named = (r"(Secs?\.|Figs?\.|App\.|arXiv|notebooks?|Python|PaLM|MATH-|x86-|AVX|bins?|NN_|pass@)\s*[\d.]+"
             r"(\s*(to|and|-|,)\s*[\d.]+)*")
    return re.sub(named, " ", page)


def test_the_readme_is_a_short_report_with_figures_and_no_typed_numbers():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 250
    assert readme.index("<!-- claims") < readme.index("## Key figures")  # the claims table comes first
    figures = re.findall(r"!\[[^]]*\]\(([^)]+)\)", readme)
    assert len(figures) >= 4 and all((ROOT / f).is_file() for f in figures)
    for target in re.findall(r"\]\(([^)#]+)\)", readme):  # every link inside the repository, and there
        assert not target.startswith(("..", "/", "http")) and (ROOT / target).exists(), target
    typed = re.findall(r"[^\s]*\d[^\s]*", _prose(readme))
    assert typed == [], f"numbers typed by hand in README.md (render them from a summary): {typed}"


def test_the_docs_pages_link_inside_the_repository():
    for page in sorted((ROOT / "docs").glob("*.md")):
        for target in re.findall(r"\]\(([^)#]+)\)", page.read_text()):
            assert not target.startswith(("/", "http")) and (page.parent / target).resolve().is_relative_to(ROOT)
            assert (page.parent / target).exists(), f"{page.name}: {target}"


def test_every_committed_summary_is_the_full_profiles_and_renders(tmp_path):
    for path in sorted((ROOT / "figures").glob("*_summary.json")):
        record = json.loads(path.read_text())
        assert record["profile"] == "full" and record["notebook"] == path.name.removesuffix("_summary.json")
        assert report.FINDINGS[record["notebook"]](record["summary"])


def test_budgets_and_bins_render_in_numeric_order_after_a_json_round_trip():
    summary = {"accuracy": {"best-of-N weighted": {4: 0.5, 16: 0.6, 64: 0.7, 256: 0.8},
                            "majority vote": {4: 0.5, 16: 0.55, 64: 0.6, 256: 0.6},
                            "beam M=sqrt N": {4: 0.4, 16: 0.5, 64: 0.65, 256: 0.9}},
               "problems": {4: 200, 16: 200, 64: 200, 256: 50},
               "beam_minus_best_of_n_by_bin": {}, "verifier": "PRM", "beam_minus_best_of_n": {}}
    text = report.findings_04(json.loads(json.dumps(summary, sort_keys=True)))
    assert text.index("N = 4") < text.index("N = 16") < text.index("N = 64") < text.index("N = 256")
    assert "ahead at N = 256" in text and "+10.0 points at N = 256" in text


def test_a_page_without_the_markers_is_refused():
    with pytest.raises(ValueError, match="README.md has no claims section"):
        report.render_readme("# a readme\n", {})
    with pytest.raises(ValueError, match="docs/results.md has no results section"):
        report.render_results_page("# results\n", {})


def test_the_recorded_trials_render():
    trials = report.load_trials()
    assert trials is None or ("| trial | seed |" in report.findings_trials(trials)
                              and len(trials["plateau"]) > 0 and len(trials["world"]) > 0)


def test_trials_that_change_the_world_or_the_shape_go_to_their_own_table():
    def row(name, seed, greedy, changes, note=""):
        return {"name": name, "seed": seed, "tokens": 8_000_000, "peak_lr": 0.0045, "train_s": 60, "greedy": greedy,
                "pass1": greedy, "below_0.1": 0.2, "above_0.9": 0.3, "between": 0.5, "final_val_loss": 0.1,
                "last_quarter_fall": 0.2, "note": note, "changes": changes,
                "by_family": {"modchain": greedy, "addition": greedy},
                "by_level": {f"{f}{lv}": 0.5 for f in ("modchain", "addition") for lv in range(1, 6)}}
    plain = [row("d32-l2", 0, 0.4, {}), row("d32-l2", 1, 0.5, {"policy": "d48-l3"})]
    variants = [row("d32-l2", 0, 0.2, {"families": ["modchain"]}), row("d32-l2", 1, 0.7, {"families": ["modchain"]}),
                row("d32-l2-h4", 0, 0.6, {}, note="a note")]
    assert [report.variant_of_world(r) for r in plain] == ["", ""]
    assert report.variant_of_world(variants[2]) == "4 heads of 8 dimensions, (a note)"
    text = report.findings_trials({"plateau": [], "world": [], "sizes": plain + variants})
    sizes, changed = text.split("Then the world and the model's shape")
    assert "families" not in sizes and "`d32-l2` at 8M: 10.0 points over 2 seeds" in sizes
    assert "`d32-l2` with families = ['modchain'] at 8M: 50.0 points over 2 seeds" in changed
    assert "d32-l2-h4" in changed and "d32-l2-h4" not in sizes


def test_the_verifier_ladder_summary_orders_its_rows_and_says_what_was_adopted():
    import pandas as pd

    table = pd.DataFrame({
        "oracle": [False, False, False, True], "parameters": [100, 50, 400, 0],
        "within_problem_auc": [0.5, 0.7, 0.9, 0.95], "within_problem_auc_majority_wrong": [0.4, float("nan"), 0.8, 0.9],
        "cell_auc": [0.5, 0.9, 0.99, 1.0], "weighted_minus_majority_n64": [0.0, 0.02, 0.15, 0.16],
        "weighted_minus_majority_n64_lo": [-0.01, 0.0, 0.1, 0.12], "weighted_minus_majority_n64_hi": [0.01, 0.04, 0.2, 0.2],
        "n_problems": 200, "n_majority_wrong": 30},
        index=["PRM", "likelihood d32-l2", "likelihood d80-l5", "perfect checker"])
    s = json.loads(json.dumps(report.summary_verifier_ladder(table, 64, "likelihood d80-l5", "PRM", "d64-l4")))
    assert s["verifiers"]["likelihood d32-l2"]["within_problem_auc_majority_wrong"] is None
    assert s["verifiers"]["PRM"]["weighted_minus_majority_n64_lo"] == -0.01 and s["adopted"] == "likelihood d80-l5"
    text = report.findings_verifier_ladder(s)
    assert text.index("| PRM |") < text.index("| likelihood d32-l2 |") < text.index("| likelihood d80-l5 |") \
        < text.index("| perfect checker |")
    assert "likelihood d80-l5, the cheapest verifier" in text and "+15.0 points at N = 64" in text
    s["verifiers"]["likelihood d80-l5"]["weighted_minus_majority_n64"] = -0.01
    assert "no verifier a user could have gains over majority vote" in report.findings_verifier_ladder(s)


def test_the_search_against_verifier_quality_renders_every_verifier_and_says_where_beam_search_leads():
    import pandas as pd

    axis = pd.DataFrame({"verifier": ["PRM", "PRM", "perfect checker", "perfect checker"], "budget": [4, 16, 4, 16],
                         "beam": [0.4, 0.3, 0.6, 0.7], "best_of_n": [0.4, 0.4, 0.5, 0.55],
                         "beam_minus_best_of_n": [0.0, -0.1, 0.1, 0.15], "lo": [-0.02, -0.15, 0.05, 0.1],
                         "hi": [0.02, -0.05, 0.15, 0.2], "n_problems": 20, "within_problem_auc": [0.5, 0.5, 0.9, 0.9],
                         "within_problem_auc_majority_wrong": [0.5, 0.5, 0.8, 0.8], "cell_auc": [0.5, 0.5, 1.0, 1.0]})
    results = pd.DataFrame({"method": ["best-of-N weighted", "beam M=sqrt N", "majority vote"] * 2,
                            "budget": [4] * 3 + [16] * 3, "problem_id": ["a"] * 6, "correct": [1, 0, 1, 1, 1, 0.5]})
    by_bin = pd.DataFrame({"bin": [1] * 4, "budget": [4, 4, 16, 16], "method": ["best-of-N weighted", "beam M=sqrt N"] * 2,
                           "accuracy": [1, 0, 1, 1]})
    s = json.loads(json.dumps(report.summary_04(results, by_bin, "likelihood d48-l3", axis)))
    assert s["verifier"] == "likelihood d48-l3"
    assert s["beam_minus_best_of_n"]["PRM"]["by_budget"]["16"]["beam_minus_best_of_n"] == -0.1
    text = report.findings_04(s)
    assert "searches with **likelihood d48-l3**" in text
    assert "| perfect checker | 0.900 | 1.000 | +10.0 [+5.0, +15.0] | +15.0 [+10.0, +20.0] |" in text
    assert text.index("| perfect checker |") < text.index("| PRM |")  # best first, whatever the keys' order
    assert "at some budget with: perfect checker; behind it with: PRM." in text
    assert s["saturated_bins"] is None and "Oracle bin" not in text  # no bins in these results


def test_a_bin_is_saturated_only_when_every_method_is_right_on_every_problem_at_every_budget():
    import pandas as pd

    rows = [(b, m, n, p, 1.0) for b in (1, 2) for m in ("best-of-N weighted", "beam M=4") for n in (4, 16)
            for p in ("x", "y")]
    results = pd.DataFrame(rows, columns=["bin", "method", "budget", "problem_id", "correct"])
    assert report.saturated_bins(results) == ["1", "2"]
    results.loc[(results.bin == 2) & (results.method == "beam M=4") & (results.budget == 16)
                & (results.problem_id == "y"), "correct"] = 0.0
    assert report.saturated_bins(results) == ["1"]
    assert "Oracle bin 1: every method answers every problem" in report.findings_saturated_bins(["1"])
    assert "No oracle bin has every method at 100%" in report.findings_saturated_bins([])
