"""The study config: every notebook parameter validated before any work, each bad value named."""

import pytest

from ttc.core.config import ConfigError
from ttc.pipelines.parameters import PARAMETERS, profile_params
from ttc.pipelines.study import Study, StudyConfig


def params(**overrides):
    return profile_params("tiny") | overrides


def test_every_profile_gives_every_parameter_and_builds():
    for profile in ("full", "quick", "tiny", "math500"):
        p = profile_params(profile)
        assert set(p) == {"profile", *PARAMETERS}
        config = StudyConfig.from_params(p)
        assert config.profile == profile and config.world.seed == config.seed == p["seed"]


@pytest.mark.parametrize("overrides, message", [
    ({"budgets": [0, 4]}, r"budgets=\[0, 4\] must be a non-empty list"),
    ({"budgets": []}, r"budgets=\[\] must be a non-empty list"),
    ({"budgets": 4}, r"budgets=4 must be a list"),
    ({"budgets": [8, 4]}, r"increasing order"),
    ({"budgets": [4, 16]}, r"exceed the pool's 8 samples"),
    ({"search_temperature": -1}, r"temperature=-1 is out of range"),
    ({"max_rounds": 0}, r"max_rounds=0 is out of range"),
    ({"revision_lr": "x"}, r"^revision_lr='x' \(str\) is not allowed; expected float"),
    ({"n_pol": 4}, r"^n_pol=4 \(among the parameters given\) is not a parameter of the study \(did you mean n_pool\?\)"),
    ({"seed": -1}, r"seed=-1 is out of range"),
    ({"demo_budget": 3}, r"demo_budget=3 \(notebook 05's demo\) is not one of the searched budgets=\[4, 8\]"),
    ({"budgets": [2, 3]}, r"demo_budget=\d+ .* budgets=\[2, 3\]: with other budgets, give demo_budget one of them too "
                          r"\(e.g. -y '\{budgets: \[2, 3\], demo_budget: 3\}'\)"),
    ({"budgets": "[4, 8]"}, r"budgets='\[4, 8\]' must be a list, e.g. \[4, 16, 64, 256\] \(papermill's -p passes "
                            r"'\[4, 8\]' as text; -y parses YAML: -y 'budgets: \[4, 8\]'\)"),
    ({"n_search_problems_top": 20}, r"^n_search_problems_top=20 is out of range"),
    ({"n_search_problems": 400}, r"n_search_problems=400 exceeds the 40 test problems"),
    ({"verifier_base": "d64-l4"}, r"verifier_base='d64-l4' is not in the ladder"),
    ({"n_label_problems": 0}, r"n_label_problems=0 is out of range"),
    ({"verifier_lr": 7.0}, r"^verifier_lr=7.0 is out of range"),
    ({"profile": "huge"}, r"profile='huge' is not a known profile; use one of full, math500, quick, tiny"),
    ({"seed_study_policy_seeds": 0}, r"^seed_study_policy_seeds=0 is out of range"),
    ({"axis_budgets": [4, 6]}, r"axis_budgets=\[4, 6\] must be distinct increasing multiples of the beam width 4"),
    ({"axis_verifiers": "PRM"}, r"axis_verifiers='PRM' must be a list"),
    ({"n_axis_problems": 11}, r"n_axis_problems=11 is out of range"),
    ({"prm_lm_tokens": -5}, r"^prm_lm_tokens=-5 is out of range"),
    ({"policy_seed": -1}, r"^policy_seed=-1 must be null \(notebook 01's policy\) or a training seed >= 0"),
    ({"policy_seed": 0}, r"^policy_seed=0 is the study's own training seed \(seed=0\), notebook 01's policy"),
    ({"policy_seed": "1"}, r"^policy_seed='1' \(str\) is not allowed; expected int \| None"),
])
def test_bad_parameters_are_refused_with_their_value(overrides, message):
    with pytest.raises(ConfigError, match=message):
        StudyConfig.from_params(params(**overrides))


def test_a_demo_can_be_skipped_whatever_its_budget():
    assert StudyConfig.from_params(params(demo_problems=0, demo_budget=3)).selection.demo_problems == 0


def test_a_notebook_namespace_overrides_its_profile_and_fills_the_rest_from_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TTC_DATA_ROOT", str(tmp_path))
    study = Study.from_namespace({"profile": "tiny", "n_pool": 16, "n_boot": None, "unrelated": object()})
    assert study.config.pool.n == 16 and study.config.world.n_test == 40 and study.data == tmp_path / "tiny"


def test_reading_before_the_upstream_notebook_ran_names_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TTC_DATA_ROOT", str(tmp_path))
    study = Study.from_params(params())
    with pytest.raises(ConfigError, match="does not exist: run notebook 01 for this profile"):
        study.splits()


def test_every_notebooks_parameters_cell_starts_from_the_profile():
    # A reader who opens a notebook in JupyterLab runs the profile it names, and what they set over it
    import ast
    import json

    from ttc.core.config import ROOT

    full = profile_params("full")
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        cell = next(c for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))
        for node in ast.parse("".join(cell["source"])).body:
            if isinstance(node, ast.Assign):
                name = node.targets[0].id
                assert name in full, f"{path.name}: parameter {name} is in no profile"
                # every value starts as None, the profile's; only the profile is named
                assert ast.literal_eval(node.value) == ("full" if name == "profile" else None), f"{path.name}: {name}"


def test_every_notebook_is_thin_its_assembly_in_tested_pipeline_functions():
    # code lines (not blank, not comments) outside the parameters cell: a notebook reads as the study's steps
    import json

    from ttc.core.config import ROOT

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"
                 and "parameters" not in c.get("metadata", {}).get("tags", [])]
        lines = [line for c in cells for line in "".join(c["source"]).split("\n")
                 if line.strip() and not line.strip().startswith("#")]
        assert len(lines) <= 80, f"{path.name}: {len(lines)} code lines"


def test_no_notebook_binds_a_parameters_name_outside_its_parameters_cell():
    # an import or assignment named like a parameter (`revision_problems`) would replace the value the user gave
    # before `Study.from_namespace` reads it
    import ast
    import json

    from ttc.core.config import ROOT
    from ttc.pipelines.parameters import PARAMETERS

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "code" or "parameters" in cell.get("metadata", {}).get("tags", []):
                continue
            tree = ast.parse("".join(cell["source"]))
            bound = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                     for a in n.names}
            bound |= {t.id for n in ast.walk(tree) if isinstance(n, (ast.Assign, ast.For, ast.comprehension))
                      for target in (n.targets if isinstance(n, ast.Assign) else [n.target])
                      for t in ast.walk(target) if isinstance(t, ast.Name)}
            assert not bound & set(PARAMETERS), f"{path.name} binds {sorted(bound & set(PARAMETERS))}"


def test_papermill_reads_every_parameters_cell_without_a_warning():
    # papermill parses the cell to match what it injects; a line with two '=' (one in its comment) it cannot
    # parse, and says so on every run
    import json

    from ttc.core.config import ROOT

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if "parameters" in cell.get("metadata", {}).get("tags", []):
                lines = "".join(cell["source"]).split("\n")
                assert [line for line in lines if not line.lstrip().startswith("#") and line.count("=") > 1] == [], path.name
