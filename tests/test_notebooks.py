"""Each notebook runs end to end at the tiny profile, in order, writes its tables and figures, and a rerun reuses them."""

import json

import pandas as pd
import papermill as pm
import pytest

from ttc.checks import golden
from ttc.models.lm import LADDER, parameters_of
from ttc.world.tokenizer import build_tokenizer
from conftest import run_notebook


@pytest.fixture
def study_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("TTC_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("TTC_FIGURES_ROOT", str(tmp_path / "figures"))
    return tmp_path


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The tiny study run once, notebook by notebook, in one folder the later tests share."""
    root = tmp_path_factory.mktemp("study")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TTC_DATA_ROOT", str(root / "data"))
        mp.setenv("TTC_FIGURES_ROOT", str(root / "figures"))
        yield root


run = run_notebook


def test_notebook_01_base_models(study):
    run("01_base_models", study / "run1.ipynb")
    data, figures = study / "data" / "tiny", study / "figures" / "tiny"
    assert (figures / "01_base_models.png").stat().st_size > 10_000 and (figures / "01_base_models.pdf").exists()
    assert not (study / "figures" / "01_base_models.png").exists()  # only the full profile writes there
    table = pd.read_parquet(data / "results" / "01_base_models.parquet")
    assert table.groupby("model").size().to_dict() == {m: 40 for m in ["d16-l1", "d24-l2", "d32-l2", "d48-l3"]}
    assert set(table[table.model == "d16-l1"].n_samples) == {4}
    # The summary's numbers are the table's, and each model's recorded size is its architecture's.
    record = json.loads((figures / "01_summary.json").read_text())
    assert record["profile"] == "tiny" and record["settings"]["ladder"]["policy"] == "d16-l1"
    tokenizer = build_tokenizer()
    for m in record["summary"]["models"]:
        rows = table[table.model == m["name"]]
        assert m["greedy"] == pytest.approx(rows.greedy_correct.mean()) and m["pass1"] == pytest.approx(rows.pass1.mean())
        assert m["parameters"] == parameters_of(LADDER[m["name"]], tokenizer) == rows.parameters.iloc[0]

    weights = {p: p.stat().st_mtime_ns for p in (data / "models").glob("*/model.safetensors")}
    assert len(weights) == 4
    run("01_base_models", study / "run2.ipynb")
    assert {p: p.stat().st_mtime_ns for p in (data / "models").glob("*/model.safetensors")} == weights


def test_the_seed_study_shares_notebook_01s_models_and_feeds_its_summary(study):
    data, figures = study / "data" / "tiny", study / "figures" / "tiny"
    weights = {p: p.stat().st_mtime_ns for p in (data / "models").glob("*/model.safetensors")}
    run("seed_study", study / "seed_study.ipynb")
    assert {p: p.stat().st_mtime_ns for p in (data / "models").glob("*/model.safetensors")} == weights
    assert sorted(p.name for p in (data / "seed_study" / "models").iterdir()) == ["d16-l1-seed1", "d24-l2-seed1"]
    table = pd.read_parquet(data / "results" / "seed_study.parquet")
    assert sorted(zip(table.model, table.seed)) == [("d16-l1", 0), ("d16-l1", 1), ("d24-l2", 0), ("d24-l2", 1)]
    # the study's seed is notebook 01's model, evaluated alike: its greedy accuracy is notebook 01's
    ladder = pd.read_parquet(data / "results" / "01_base_models.parquet")
    policy0 = table[(table.model == "d16-l1") & (table.seed == 0)].greedy.iloc[0]
    assert policy0 == pytest.approx(ladder[ladder.model == "d16-l1"].greedy_correct.mean())
    record = json.loads((figures / "seed_study_summary.json").read_text())
    assert [r["greedy"] for r in record["summary"]["runs"]] == pytest.approx(list(table.greedy))
    assert (figures / "seed_study.png").exists()
    run("01_base_models", study / "run3.ipynb")  # now with the policy's seed interval
    seeds = json.loads((figures / "01_summary.json").read_text())["summary"]["seed_study"]
    assert seeds["d16-l1"] == pytest.approx(list(table[table.model == "d16-l1"].sort_values("seed").greedy))


def test_notebook_02_difficulty(study):
    run("02_difficulty", study / "02.ipynb")
    data = study / "data" / "tiny" / "results"
    pool = pd.read_parquet(data / "02_pool.parquet")
    assert len(pool) == 40 * 8 and pool.groupby("problem_id").size().eq(8).all()
    bins = pd.read_parquet(data / "02_difficulty.parquet").set_index("problem_id")
    assert sorted(bins["bin"].value_counts()) == [8] * 5
    assert (bins["pass1"] == pool.groupby("problem_id")["correct"].mean().reindex(bins.index)).all()
    # Unbiased pass@1 is the mean of correct samples: coverage at k = 1 is each bin's mean pass@1.
    cov = pd.read_parquet(data / "02_coverage.parquet")
    at1 = cov[(cov.k == 1) & (cov.bin != "all")].set_index("bin")["pass_at_k"]
    assert at1.to_dict() == pytest.approx({str(b): v for b, v in bins.groupby("bin")["pass1"].mean().items()})
    assert (study / "figures" / "tiny" / "02_difficulty.png").exists()
    stamp = (data / "02_pool.parquet").stat().st_mtime_ns
    run("02_difficulty", study / "02b.ipynb")
    assert (data / "02_pool.parquet").stat().st_mtime_ns == stamp  # the pool is read back, not redrawn


def test_notebook_03_verifiers(study):
    run("03_verifiers", study / "03.ipynb")
    data = study / "data" / "tiny"
    labels = pd.read_parquet(data / "results" / "03_prm_labels.parquet")
    assert labels["mc_label"].between(0, 1).all() and labels.problem_id.nunique() == 12
    for kind in ("prm", "orm"):
        assert (data / "verifiers" / kind / "model.safetensors").exists()
    per_problem = pd.read_parquet(data / "results" / "03_best_of_n.parquet")
    assert set(per_problem.budget) == {1, 2, 4, 8}
    # At N = 1 every rule picks the one sample's answer, and the subsets are the same for every rule.
    at1 = per_problem[per_problem.budget == 1].pivot(index="problem_id", columns="method", values="accuracy")
    assert at1.nunique(axis=1).eq(1).all()
    assert set(pd.read_parquet(data / "results" / "03_predicted_difficulty.parquet").predicted_bin) == {1, 2, 3, 4, 5}
    for name in ("03_best_of_n", "03_prm_quality", "03_verifier_ladder"):
        assert (study / "figures" / "tiny" / f"{name}.png").exists()
    ladder = pd.read_parquet(data / "results" / "03_verifier_ladder.parquet").set_index("verifier")
    sizes = ["d16-l1", "d24-l2", "d32-l2", "d48-l3"]
    assert {f"likelihood {s}" for s in sizes} | {"PRM", "ORM", "perfect checker"} <= set(ladder.index)
    # The checker's scores are the truth it is measured by: its AUC is 1 wherever a (problem, line) cell holds
    # both kinds of prefix (tests/test_reference_verifiers.py). The tiny policy writes no right line on the
    # subset, so no cell does, and every verifier's AUC is undefined: NaN, not a number made up.
    checked = pd.read_parquet(data / "results" / "03_checker_0.parquet")
    assert not checked.on_track.any() and (checked.score == 0).all()
    assert ladder[["within_problem_auc", "cell_auc"]].isna().all().all()
    assert ladder.loc["perfect checker", "scoring_flops_per_token"] == 0 and ladder.loc["perfect checker", "oracle"]
    assert list(ladder.loc[[f"likelihood {s}" for s in sizes], "parameters"]) == sorted(
        ladder.loc[[f"likelihood {s}" for s in sizes], "parameters"])


def test_notebook_04_verifier_search(study):
    run("04_verifier_search", study / "04.ipynb")
    results = pd.read_parquet(study / "data" / "tiny" / "results" / "04_search_results.parquet")
    sizes = results.groupby(["method", "budget"]).problem_id.nunique()
    assert sizes.xs(4, level="budget").eq(10).all() and sizes.xs(8, level="budget").eq(5).all()
    assert {"beam M=sqrt N", "beam M=4", "lookahead k=1 M=sqrt N", "best-of-N weighted"} <= set(results.method)
    searched = results[results.search.isin(["beam", "lookahead"])]
    assert (searched.generated_tokens > 0).all() and (searched.verifier_tokens > 0).all()
    # Beam search samples N continuations a round: its generations are N x rounds, problem by problem.
    raw = pd.read_parquet(study / "data" / "tiny" / "results" / "04_search.parquet")
    beam = raw[raw.method.str.startswith("beam")]
    assert (beam.generations == beam.n_beams * beam.rounds).all()
    assert (study / "figures" / "tiny" / "04_verifier_search.png").exists()


def test_notebook_05_compute_optimal_search(study):
    run("05_compute_optimal_search", study / "05.ipynb")
    results = study / "data" / "tiny" / "results"
    policy = pd.read_parquet(results / "05_policy.parquet")
    assert set(policy.bins) == {"oracle", "predicted"} and set(policy.budget) == {4, 8}
    assert not policy.method.isin(["majority vote"]).any()
    # The strategy chosen in a bin is the best candidate there, so at least as good as best-of-N weighted.
    searched = pd.read_parquet(results / "04_search_results.parquet")
    bon = searched[searched.method == "best-of-N weighted"].groupby(["bin", "budget"])["correct"].mean()
    oracle = policy[policy.bins == "oracle"].set_index(["bin", "budget"])["accuracy"]
    assert (oracle >= bon.reindex(oracle.index) - 1e-12).all()
    ratios = pd.read_parquet(results / "05_efficiency.parquet")
    assert set(ratios.axis) == {"generations", "FLOPs"}
    assert (study / "figures" / "tiny" / "05_compute_optimal_search.png").exists()


def test_notebook_06_revisions(study):
    run("06_revisions", study / "06.ipynb")
    results = study / "data" / "tiny" / "results"
    chains = pd.read_parquet(results / "06_chains.parquet")
    # one staircase per problem: chains of 4, 2, 1 and 1 attempts (budget 4 in the tiny profile)
    lengths = chains.groupby(["problem_id", "chain"]).size().groupby("problem_id").apply(sorted).tolist()
    assert len(lengths) == 6 and all(x == [1, 1, 2, 4] for x in lengths)
    table = pd.read_parquet(results / "06_revision_results.parquet")
    assert set(table.budget) == {1, 2, 4} and table.accuracy.between(0, 1).all()
    # every split of budget 4 (all parallel, 2 x 2, one chain), with every selector
    assert set(table[table.budget == 4].split) == {"4 chains x 1", "2 chains x 2", "1 chains x 4"}
    assert {"revision ORM", "majority vote", "perfect checker"} <= set(table.selector)
    # a split of budget 2 has two disjoint groups in the staircase of 4; of budget 4, one
    assert set(table[table.budget == 2].replicates) == {2} and set(table[table.budget == 4].replicates) == {1}
    assert (table.flops > 0).all()
    for name in ("06_revision_chains", "06_ratio_sweep", "06_compute_optimal_revisions"):
        assert (study / "figures" / "tiny" / f"{name}.png").exists()
    summary = json.loads((study / "figures" / "tiny" / "06_summary.json").read_text())["summary"]
    assert summary["budget"] == 4 and set(summary["pass1_by_step"]) == {"1", "2", "4"}
    stamp = (results / "06_chains.parquet").stat().st_mtime_ns
    run("06_revisions", study / "06b.ipynb")
    assert (results / "06_chains.parquet").stat().st_mtime_ns == stamp  # the chains are read back, not resampled


def test_notebook_07_pretraining_vs_test_time(study):
    run("07_pretraining_vs_test_time", study / "07.ipynb")
    results, figures = study / "data" / "tiny" / "results", study / "figures" / "tiny"
    # notebook 01's greedy answers carry their tokens, and notebook 07 bills each its FLOPs by the study's rule
    ladder = pd.read_parquet(results / "01_base_models.parquet")
    assert ladder.groupby("model").size().to_dict() == {m: 40 for m in ["d16-l1", "d24-l2", "d32-l2", "d48-l3"]}
    assert (ladder.greedy_prompt_tokens > 0).all() and ladder.greedy_tokens.between(1, 24).all()
    matched = pd.read_parquet(results / "07_flops_matched.parquet")
    assert set(matched.strategy) == {"search", "revisions", "search + revisions"} and set(matched.ratio) == {0.16, 0.79, 22.0}
    # the paper's multipliers ask for more than the tiny budgets, so the largest compute-optimal budget stands in:
    # 4, as search's 8 runs on 5 problems, one per bin, too few for a two-fold choice within any bin
    gens = matched[(matched.matching == "generations (the paper's)") & (matched.strategy == "search")]
    assert set(gens.budget) == {4} and gens.beyond_run.all()
    curves = pd.read_parquet(results / "07_ladder_curves.parquet")
    assert curves.groupby("model").problem_id.nunique().to_dict() == {m: 20 for m in ["d16-l1", "d24-l2", "d32-l2", "d48-l3"]}
    assert curves[curves.model == "d16-l1"].budget.max() == 8 and curves[curves.model == "d48-l3"].budget.max() == 4
    greedy = curves[curves.method == "greedy"].merge(ladder, on=["model", "problem_id"])
    assert (greedy.correct == greedy.greedy_correct).all() and len(greedy) == 4 * 20
    assert (greedy.flops == 2 * greedy.parameters * (greedy.greedy_prompt_tokens + greedy.greedy_tokens)).all()
    for name in ("07_flops_matched", "07_exchange_rate"):
        assert (figures / f"{name}.png").exists()
    summary = json.loads((figures / "07_summary.json").read_text())["summary"]
    assert summary["larger"] == "d48-l3"
    stamp = (results / "07_pool_d48-l3.parquet").stat().st_mtime_ns
    run("07_pretraining_vs_test_time", study / "07b.ipynb")
    assert (results / "07_pool_d48-l3.parquet").stat().st_mtime_ns == stamp  # the pools are read back, not redrawn


def test_every_tiny_figure_draws_every_panel_and_the_series_its_tables_hold(study):
    # what each panel draws is written into the PNG (ttc.report.plots.panels), so the figures are read here
    # without the code that drew them
    from ttc.core.store import figure_metadata
    from ttc.pipelines.verifier_study import AGGREGATION_PANEL, VERIFIER_PANEL

    figures = {p.stem: figure_metadata(p) for p in sorted((study / "figures" / "tiny").glob("*.png"))}
    assert len(figures) == 15
    # the facts figure: one line per ladder size in each panel (the tiny world has letter operators), and the
    # uniform guess's line in the second
    assert [p["lines"] for p in figures["01_facts"][1]] == [4, 5]
    drawn = ("lines", "collections", "patches", "images", "tables")
    for name, (settings, panels) in figures.items():
        assert settings["profile"] == "tiny" and panels, name
        empty = [p["title"] for p in panels if not any(p[k] for k in drawn)]
        assert not empty, f"{name}: empty panels {empty}"
    # Fig. 13-14: one curve per rule of each panel
    assert [p["lines"] for p in figures["03_best_of_n"][1]] == [len(AGGREGATION_PANEL), len(VERIFIER_PANEL)]
    # notebook 04: every method against N and FLOPs, then one panel per oracle bin with the three compared
    results = pd.read_parquet(study / "data" / "tiny" / "results" / "04_search_results.parquet")
    search = figures["04_verifier_search"][1]
    assert [p["lines"] for p in search[:2]] == [results.method.nunique()] * 2
    assert [p["lines"] for p in search[2:]] == [3] * results.bin.nunique()
    # notebook 07: a panel per strategy and matching, a bar per (R, bin)
    assert len(figures["07_flops_matched"][1]) == 6


def test_a_readers_copy_shows_each_bar_at_its_end_and_smaller_figures(study, tmp_path):
    import base64

    import nbformat

    from ttc.report.notebook_pages import WIDGET_VIEW, reader_copy

    executed = study / "04.ipynb"
    before = nbformat.read(executed, as_version=4)
    after = nbformat.read(reader_copy(executed, tmp_path / "04.ipynb"), as_version=4)

    def outputs(nb):
        return [o for c in nb.cells for o in c.get("outputs", [])]

    def image_bytes(nb):
        return sum(len(base64.b64decode(o["data"]["image/png"])) for o in outputs(nb) if "image/png" in o.get("data", {}))

    widgets = sum(WIDGET_VIEW in o.get("data", {}) for o in outputs(before))
    bars = [o["text"] for o in outputs(after) if o.get("output_type") == "stream" and "█" in o.get("text", "")]
    assert widgets > 0 and len(bars) == widgets and "widgets" not in after.metadata
    assert not any(WIDGET_VIEW in o.get("data", {}) for o in outputs(after))
    assert any("100%" in b for b in bars) and not any(" 0%|" in b for b in bars)  # the end of each bar, not its start
    assert 0 < image_bytes(after) < image_bytes(before)


def test_the_tiny_study_is_bit_for_bit_the_golden_record(study):
    # tests/golden/tiny.json: every table's content and every model's weights, by SHA-256, as `make golden`
    # wrote them, perhaps on another processor and at another thread count (the record says which)
    differences = golden.compare("tiny", study / "data")
    assert not differences, golden.report("tiny", study / "data")


def _snapshot(*folders):
    from ttc.core.store import file_sha256

    return {p: file_sha256(p) for folder in folders for p in sorted(folder.rglob("*"))
            if p.is_file() and "variants" not in p.parts and "--" not in p.name}  # a variant's are beside


def test_a_variant_runs_beside_the_study_and_leaves_its_tables_and_figures_byte_identical(study):
    # the user's attempt: `-p n_splits 5` on notebook 05, then `-p seed 1` on notebook 06
    data, figures = study / "data" / "tiny", study / "figures" / "tiny"
    before = _snapshot(data / "results", data / "models", data / "world", data / "verifiers", figures)
    run("05_compute_optimal_search", study / "05-variant.ipynb", n_splits=5)
    assert _snapshot(data / "results", data / "models", data / "world", data / "verifiers", figures) == before
    variant = data / "variants" / "n_splits-5"
    assert (variant / "results" / "05_efficiency.parquet").exists() and not (variant / "results" / "04_search.parquet").exists()
    assert (variant / "notebooks" / "05_compute_optimal_search.artifacts.json").exists()
    assert (figures / "05_compute_optimal_search--n_splits-5.png").stat().st_size > 10_000
    record = json.loads((figures / "05_summary--n_splits-5.json").read_text())
    assert record["variant"] == {"n_splits": 5} and record["settings"]["selection"]["n_splits"] == 5
    # a new seed is a new world and ladder: notebook 06 cannot run before notebook 01 drew them, and says how
    with pytest.raises(pm.PapermillExecutionError,
                       match=r"make reproduce PROFILE=tiny PARAMS=\"-y '\{seed: 1\}'\"` runs it and the notebooks before it"):
        run("06_revisions", study / "06-seed.ipynb", seed=1)
    assert _snapshot(data / "results", data / "models", data / "world", data / "verifiers", figures) == before


def test_another_policy_seed_runs_beside_the_study_on_the_seed_studys_policy(study):
    # `make claims-seeds`' first step: notebook 02 on the policy at training seed 1 (the tiny seed study has it)
    data, figures = study / "data" / "tiny", study / "figures" / "tiny"
    before = _snapshot(data / "results", data / "models", data / "world", figures)
    run("02_difficulty", study / "02-policy-seed.ipynb", policy_seed=1)
    assert _snapshot(data / "results", data / "models", data / "world", figures) == before
    variant = data / "variants" / "policy_seed-1"
    assert (data / "seed_study" / "models" / "d16-l1-seed1" / "model.safetensors").exists()
    pool = json.loads((variant / "results" / "02_pool.parquet.artifact.json").read_text())
    assert pool["settings"]["policy"]["pretrain"]["seed"] == 1  # the pool is the seed-1 policy's
    record = json.loads((figures / "02_summary--policy_seed-1.json").read_text())
    assert record["variant"] == {"policy_seed": 1}
    before_pool = pd.read_parquet(data / "results" / "02_pool.parquet")
    assert not pd.read_parquet(variant / "results" / "02_pool.parquet")["text"].equals(before_pool["text"])


def test_notebook_01_refuses_bad_parameters_before_any_work(study_dirs):
    with pytest.raises(pm.PapermillExecutionError, match="n_test=-5"):
        run("01_base_models", study_dirs / "bad.ipynb", n_test=-5)
    # a typo is refused, with the parameter meant; papermill alone would only warn and run on without it
    with pytest.raises(pm.PapermillExecutionError, match=r"n_pol=4 .* \(did you mean n_pool\?\)"):
        run("01_base_models", study_dirs / "bad.ipynb", n_pol=4)
    with pytest.raises(pm.PapermillExecutionError, match="spans only"):
        run("01_base_models", study_dirs / "bad.ipynb", ladder=["d16-l1", "d24-l2", "d32-l2", "d64-l4"],
            policy="d24-l2")
    assert not (study_dirs / "data" / "tiny" / "models").exists()


def test_a_damaged_upstream_table_is_refused_by_name(study):
    path = study / "data" / "tiny" / "results" / "04_search_results.parquet"
    original = path.read_bytes()
    path.write_bytes(original[:-64])
    try:
        with pytest.raises(pm.PapermillExecutionError, match="04_search_results.parquet is damaged"):
            run("05_compute_optimal_search", study / "05-damaged.ipynb")
    finally:
        path.write_bytes(original)


def test_bad_search_parameters_are_refused_before_any_model_loads(study_dirs):
    for overrides, message in (({"budgets": [0, 4]}, "budgets"), ({"max_rounds": 0}, "max_rounds=0"),
                               ({"search_temperature": -1}, "temperature=-1"), ({"demo_budget": 3}, "demo_budget=3")):
        with pytest.raises(pm.PapermillExecutionError, match=message):
            run("04_verifier_search", study_dirs / "bad.ipynb", **overrides)
    # Refused in the cell that validates the parameters: the next (which loads the models) never ran.
    assert not (study_dirs / "data").exists()


def test_a_notebook_opened_before_its_inputs_exist_says_what_makes_them_in_one_message(study_dirs):
    import nbformat

    with pytest.raises(pm.PapermillExecutionError):
        run("04_verifier_search", study_dirs / "early.ipynb")  # on a fresh clone: notebook 01 never ran
    errors = [o for c in nbformat.read(study_dirs / "early.ipynb", as_version=4).cells
              for o in c.get("outputs", []) if o.output_type == "error"]
    assert len(errors) == 1 and errors[0].ename == "MissingArtifact"
    assert ("run notebook 01 for this profile: `make reproduce PROFILE=tiny` runs it and the notebooks before it"
            in errors[0].evalue)
    # what the reader sees is the message alone, not a traceback through the library
    assert errors[0].traceback == [f"MissingArtifact: {errors[0].evalue}"]


def test_setting_the_profile_in_the_parameters_cell_switches_every_other_setting(study_dirs):
    from ttc.pipelines.parameters import PARAMETERS, profile_params
    from ttc.pipelines.study import Study

    reader = {k: None for k in PARAMETERS} | {"profile": "tiny"}  # the cell as a reader leaves it: None, the profile's
    assert Study.from_namespace(reader).config == Study.from_params(profile_params("tiny")).config
    edited = Study.from_namespace(reader | {"n_pool": 16})  # a value edited by hand wins over the profile's
    assert edited.config.pool.n == 16 and edited.config.world.n_test == profile_params("tiny")["n_test"]
