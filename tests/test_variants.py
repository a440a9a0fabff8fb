"""Variants: a run with other parameters keeps each changed stage's artifacts beside the profile's, never over them."""

import json

import pytest

from ttc.core.config import ConfigError
from ttc.pipelines import variants as V
from ttc.pipelines.parameters import PARAMETERS, profile_params
from ttc.pipelines.stages import NEUTRAL, STAGES, Variant, closure, stage_of_path, upstream, variant
from ttc.pipelines.study import Study


@pytest.fixture
def roots(tmp_path, monkeypatch):
    monkeypatch.setenv("TTC_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("TTC_FIGURES_ROOT", str(tmp_path / "figures"))
    return tmp_path


def test_every_parameter_is_some_stages_or_changes_where_a_build_runs_only():
    owned = {k for s in STAGES.values() for k in s.keys}
    assert sorted(set(PARAMETERS) - owned - set(NEUTRAL)) == []
    assert not owned & set(NEUTRAL) and set(NEUTRAL) <= set(PARAMETERS) and owned <= set(PARAMETERS)


def test_a_stage_depends_on_its_own_parameters_and_on_those_of_every_stage_it_reads():
    assert {"demo_budget", "n_splits", "budgets", "n_pool", "verifier_lr", "seed", "policy"} <= closure("05")
    assert not {"revision_budget", "exchange_ratios", "seed_study_policy_seeds", "executor"} & closure("05")
    assert "demo_budget" not in closure("06") and "revision_budget" in closure("07")
    assert upstream("07") == ["01", "02", "03", "04", "06", "07"]
    assert upstream("seed_study") == ["01", "seed_study"]


def test_a_variant_is_named_by_what_differs_among_what_its_stage_depends_on():
    full = profile_params("full")
    given = full | {"demo_budget": 4, "executor": "ray"}
    assert variant("05", given, full).name == "demo_budget-4"
    assert variant("04", given, full).name == "" and variant("07", given, full) == Variant({})
    assert {variant(s, full | {"seed": 1}, full).name for s in STAGES} == {"seed-1"}
    assert variant("01", full | {"ladder": ["d32-l2", "d48-l3"]}, full).name == "ladder-d32.l2_d48.l3"
    assert variant("01", full | {"seed": 0}, full).name == ""  # given, but the profile's own value
    long = variant("04", full | {"axis_verifiers": ["PRM"] * 40}, full).name
    assert len(long) <= 80 and long.startswith("axis_verifiers-")
    # a different long value gets another name
    assert variant("04", full | {"axis_verifiers": ["ORM"] * 40}, full).name != long


@pytest.mark.parametrize("path, stage", [("results/04_search.parquet", "04"), ("results/01_eval/d16-l1.parquet", "01"),
                                         ("world", "01"), ("models/d32-l2", "01"), ("verifiers/prm", "03"),
                                         ("revisions/orm", "06"), ("results/seed_study/x.parquet", "seed_study"),
                                         ("seed_study/models/a", "seed_study"), ("results/07_pool_x.parquet", "07")])
def test_an_artifacts_stage_is_read_off_its_path(path, stage):
    assert stage_of_path(path) == stage


def test_a_path_of_no_stage_is_refused():
    with pytest.raises(ConfigError, match="'cache/x' is no stage's artifact"):
        stage_of_path("cache/x")


def test_a_variants_artifacts_live_in_its_folder_and_the_rest_are_the_profiles(roots):
    study = Study.from_params(profile_params("tiny") | {"n_splits": 5})
    data = roots / "data" / "tiny"
    assert study.path("results/04_search_results.parquet") == data / "results" / "04_search_results.parquet"
    assert study.path("results/05_efficiency.parquet") == data / "variants" / "n_splits-5" / "results" / "05_efficiency.parquet"
    # notebook 06 uses n_splits too; the variant's folder says what differs, whole
    assert study.path("results/06_efficiency.parquet").parent.parent.name == "n_splits-5"
    assert json.loads((data / "variants" / "n_splits-5" / "variant.json").read_text()) == {"differs": {"n_splits": 5}}
    # what the notebook's summary records: its own settings, not what another stage was given
    given = Study.from_params(profile_params("tiny") | {"n_splits": 5, "demo_problems": 0})
    assert given.for_stage("04").describe() == Study.from_params(profile_params("tiny")).describe()
    assert given.for_stage("05").describe()["selection"]["n_splits"] == 5


def test_papermills_arguments_are_read_as_papermill_reads_them():
    args = ["-p", "demo_budget", "16", "-r", "policy", "d16-l1", "-y", "{n_splits: 5, budgets: [4, 16]}",
            "-p", "search_temperature", "0.5", "-p", "prm_trust_remote_code", "True"]
    assert V.papermill_parameters(args) == {"demo_budget": 16, "policy": "d16-l1", "n_splits": 5, "budgets": [4, 16],
                                            "search_temperature": 0.5, "prm_trust_remote_code": True}
    with pytest.raises(ConfigError, match="PARAMS: cannot read '--cwd'"):
        V.papermill_parameters(["--cwd", "x"])
    with pytest.raises(ConfigError, match="-p needs a name and a value"):
        V.papermill_parameters(["-p", "seed"])


def test_a_parameters_file_that_is_not_yaml_is_named_with_its_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: 1\nbudgets: [4, 16\nn_pool: 8\n")
    with pytest.raises(ConfigError, match=f"PARAMS: -f the file '{bad}' is not YAML at line 3, column 7"):
        V.papermill_parameters(["-f", str(bad)])
    with pytest.raises(ConfigError, match="PARAMS: -y '{a: \\[1' is not YAML at line 1"):
        V.papermill_parameters(["-y", "{a: [1"])
    with pytest.raises(ConfigError, match="-f the file '.*absent.yaml' cannot be read \\(No such file"):
        V.papermill_parameters(["-f", str(tmp_path / "absent.yaml")])


def test_make_reruns_only_the_notebooks_a_variant_changes_each_in_its_folder(roots):
    import yaml

    rules = V.rules("quick", "reproduce", ["-p", "demo_budget", "16", "-p", "executor", "ray"], roots)
    targets = rules.splitlines()[0].removeprefix("notebooks: ").split()
    assert [t.split("/")[2] for t in targets] == ["notebooks"] * 4 + ["variants"] + ["notebooks"] * 2
    assert targets[4] == "$(DATA)/$(PROFILE)/variants/demo_budget-16/notebooks/05_compute_optimal_search.ipynb"
    # each after the notebooks it reads (notebook 06 after 04, not after 05)
    assert f"{targets[4]}: {targets[3]}" in rules and f"{targets[5]}: {targets[3]}" in rules
    # each notebook is given what its results depend on, and where builds run: a notebook the variant leaves as
    # the profile's would run (if it had to) as the profile's
    assert f"{targets[4]}: NOTEBOOK_PARAMS = -f {roots}/05_compute_optimal_search.yaml" in rules
    assert yaml.safe_load((roots / "05_compute_optimal_search.yaml").read_text()) == {"demo_budget": 16,
                                                                                    "executor": "ray"}
    assert yaml.safe_load((roots / "04_verifier_search.yaml").read_text()) == {"executor": "ray"}
    assert all("/variants/seed-1/" in t for t in V.rules("quick", "reproduce", ["-p", "seed", "1"], roots).split()[1:8])
    assert "variants" not in V.rules("quick", "reproduce", [], roots)


def test_a_typo_in_params_is_refused_before_any_notebook_runs(capsys):
    assert V.main(["rules", "quick", "reproduce", "/nonexistent", "--", "-p", "n_pol", "4"]) == 2
    assert "n_pol=4 (given in PARAMS) is not a parameter of the study (did you mean n_pool?)" in capsys.readouterr().err
    assert V.main(["rules", "quick", "reproduce", "/nonexistent", "--", "-p", "n_pool", "-3"]) == 2
    assert "n_pool=-3" in capsys.readouterr().err


def test_variants_on_disk_are_listed_and_one_is_removed_with_its_figures(roots, capsys):
    study = Study.from_params(profile_params("tiny") | {"n_splits": 5})
    table = study.path("results/05_efficiency.parquet")
    table.parent.mkdir(parents=True)
    table.write_bytes(b"x" * 10)
    figures = roots / "figures" / "tiny"
    figures.mkdir(parents=True)
    (figures / "05_compute_optimal_search--n_splits-5.png").write_bytes(b"png")
    (figures / "05_compute_optimal_search.png").write_bytes(b"the profile's")
    found = V.variants_on_disk("tiny")
    assert list(found) == ["n_splits-5"] and found["n_splits-5"]["differs"] == {"n_splits": 5}
    assert V.main(["list", "tiny"]) == 0 and "n_splits-5" in capsys.readouterr().out
    with pytest.raises(ConfigError, match=r"VARIANT='seed-1' is not a variant of the tiny profile on disk: one of \['n_splits-5'\]"):
        V.remove("tiny", "seed-1")
    V.remove("tiny", "n_splits-5")
    assert V.variants_on_disk("tiny") == {} and [p.name for p in figures.iterdir()] == ["05_compute_optimal_search.png"]


@pytest.mark.parametrize("damage", [b"", b"[1, 2]", b'{"differs": "n_splits"}', b"{not json", None])
def test_a_variant_whose_record_is_damaged_or_missing_is_listed_as_unknown(roots, capsys, damage):
    study = Study.from_params(profile_params("tiny") | {"n_splits": 5})
    record = study.path("results/05_efficiency.parquet").parents[1] / "variant.json"
    assert record.exists()
    if damage is None:
        record.unlink()
    else:
        record.write_bytes(damage)
    assert V.variants_on_disk("tiny")["n_splits-5"]["differs"] is None
    assert V.main(["list", "tiny"]) == 0
    assert "n_splits-5\n    differs: unknown (its variant.json is missing or damaged)" in capsys.readouterr().out


def test_a_variants_figures_are_named_by_what_differs(roots):
    from ttc.report.plots import figure_name

    study = Study.from_params(profile_params("tiny") | {"n_splits": 5})
    assert figure_name(study, "05_compute_optimal_search") == "05_compute_optimal_search--n_splits-5"
    assert figure_name(study, "04_verifier_search") == "04_verifier_search"
