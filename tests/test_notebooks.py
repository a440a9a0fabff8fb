"""Each notebook runs end to end at the tiny profile, writes its tables and figures, and a rerun reuses them."""

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


def run(name, out, **overrides):
    params = yaml.safe_load((ROOT / "params" / "tiny.yaml").read_text()) | overrides
    return pm.execute_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"), str(out), parameters=params,
                               kernel_name="python3", cwd=str(ROOT / "notebooks"), progress_bar=False)


def test_notebook_01_base_models(study_dirs):
    run("01_base_models", study_dirs / "run1.ipynb")
    data, figures = study_dirs / "data" / "tiny", study_dirs / "figures" / "tiny"
    assert (figures / "01_base_models.png").stat().st_size > 10_000 and (figures / "01_base_models.pdf").exists()
    assert not (study_dirs / "figures" / "01_base_models.png").exists()  # only the full profile writes there
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
    run("01_base_models", study_dirs / "run2.ipynb")
    assert {p: p.stat().st_mtime_ns for p in (data / "models").glob("*/model.safetensors")} == weights


def test_notebook_01_refuses_bad_parameters_before_any_work(study_dirs):
    with pytest.raises(pm.PapermillExecutionError, match="n_test=-5"):
        run("01_base_models", study_dirs / "bad.ipynb", n_test=-5)
    with pytest.raises(pm.PapermillExecutionError, match="spans only"):
        run("01_base_models", study_dirs / "bad.ipynb", ladder=["d16-l1", "d24-l2", "d32-l2", "d64-l4"],
            policy="d24-l2")
    assert not (study_dirs / "data" / "tiny" / "models").exists()
