"""Each notebook runs end to end at the tiny profile, in order, writes its tables and figures, and a rerun reuses them."""

import json

import pandas as pd
import papermill as pm
import pytest
import yaml

from ttc.config import ROOT


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


def run(name, out, **overrides):
    params = yaml.safe_load((ROOT / "params" / "tiny.yaml").read_text()) | overrides
    return pm.execute_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"), str(out), parameters=params,
                               kernel_name="python3", cwd=str(ROOT / "notebooks"), progress_bar=False)


def test_notebook_01_base_models(study):
    run("01_base_models", study / "run1.ipynb")
    data, figures = study / "data" / "tiny", study / "figures" / "tiny"
    assert (figures / "01_base_models.png").stat().st_size > 10_000 and (figures / "01_base_models.pdf").exists()
    assert not (study / "figures" / "01_base_models.png").exists()  # only the full profile writes there
    table = pd.read_parquet(data / "results" / "01_base_models.parquet")
    assert table.groupby("model").size().to_dict() == {m: 40 for m in ["d16-l1", "d24-l2", "d32-l2", "d48-l3"]}
    assert set(table[table.model == "d16-l1"].n_samples) == {4}
    assert table.pass1.between(0, 1).all()
    summary = json.loads((data / "results" / "01_base_models_summary.json").read_text())
    assert summary["settings"]["ladder"]["policy"] == "d16-l1"
    for row in summary["summary"]:
        assert row["flops"] == 6 * row["parameters"] * row["tokens"]

    weights = {p: p.stat().st_mtime_ns for p in (data / "models").glob("*/model.safetensors")}
    assert len(weights) == 4
    run("01_base_models", study / "run2.ipynb")
    assert {p: p.stat().st_mtime_ns for p in (data / "models").glob("*/model.safetensors")} == weights


def test_notebook_02_difficulty(study):
    run("02_difficulty", study / "02.ipynb")
    data = study / "data" / "tiny" / "results"
    pool = pd.read_parquet(data / "02_pool.parquet")
    assert len(pool) == 40 * 8 and pool.groupby("problem_id").size().eq(8).all()
    bins = pd.read_parquet(data / "02_difficulty.parquet")
    assert sorted(bins["bin"].value_counts()) == [8] * 5
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
    curves = pd.read_parquet(data / "results" / "03_best_of_n.parquet")
    assert set(curves.budget) == {1, 2, 4, 8} and curves.accuracy.between(0, 1).all()
    assert set(pd.read_parquet(data / "results" / "03_predicted_difficulty.parquet").predicted_bin) == {1, 2, 3, 4, 5}
    for name in ("03_best_of_n", "03_prm_quality"):
        assert (study / "figures" / "tiny" / f"{name}.png").exists()


def test_notebook_04_verifier_search(study):
    run("04_verifier_search", study / "04.ipynb")
    results = pd.read_parquet(study / "data" / "tiny" / "results" / "04_search_results.parquet")
    sizes = results.groupby(["method", "budget"]).problem_id.nunique()
    assert sizes.xs(4, level="budget").eq(10).all() and sizes.xs(8, level="budget").eq(5).all()
    assert {"beam M=sqrt N", "beam M=4", "lookahead k=1 M=sqrt N", "best-of-N weighted"} <= set(results.method)
    searched = results[results.method.str.startswith(("beam", "lookahead"))]
    assert (searched.generated_tokens > 0).all() and (searched.verifier_tokens > 0).all()
    assert (study / "figures" / "tiny" / "04_verifier_search.png").exists()


def test_notebook_05_compute_optimal_search(study):
    run("05_compute_optimal_search", study / "05.ipynb")
    results = study / "data" / "tiny" / "results"
    policy = pd.read_parquet(results / "05_policy.parquet")
    assert set(policy.bins) == {"oracle", "predicted"} and set(policy.budget) == {4, 8}
    assert not policy.method.isin(["majority vote"]).any()
    ratios = pd.read_parquet(results / "05_efficiency.parquet")
    assert set(ratios.axis) == {"generations", "FLOPs"}
    assert (study / "figures" / "tiny" / "05_compute_optimal_search.png").exists()


def test_notebook_01_refuses_bad_parameters_before_any_work(study_dirs):
    with pytest.raises(pm.PapermillExecutionError, match="n_test=-5"):
        run("01_base_models", study_dirs / "bad.ipynb", n_test=-5)
    with pytest.raises(pm.PapermillExecutionError, match="spans only"):
        run("01_base_models", study_dirs / "bad.ipynb", ladder=["d16-l1", "d24-l2", "d32-l2", "d64-l4"],
            policy="d24-l2")
    assert not (study_dirs / "data" / "tiny" / "models").exists()
