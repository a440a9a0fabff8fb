"""A study's parameters as the user wrote them: profiles as overrides of the full one, named by their files;
what is given always used, equal to a default or not; a name that is not a parameter refused, with a suggestion."""

import pytest
import yaml
from hypothesis import given, strategies as st

from ttc.core.config import ROOT, ConfigError
from ttc.pipelines.parameters import (CELL_HEADER, PARAMETERS, Given, notebook_parameters, parameter_cells,
                                      profile_params, suggest)
from ttc.pipelines.study import Study

# A notebook's own parameters cell as it is committed, and papermill's injected one (its first line exactly
# CELL_HEADER), as IPython's input history `In` holds them.
OWN = CELL_HEADER + ": this notebook's own.\nprofile = \"full\"\nn_splits = None\ndemo_budget = None\nn_boot = None\n"


def injected(**values) -> str:
    return CELL_HEADER + "\n" + "".join(f"{k} = {v!r}\n" for k, v in values.items())


def namespace(own: str = OWN, *later: str, **values) -> dict:
    """A kernel's variables after the parameters cells ran: `values` as they assigned them (None unless given)."""
    cells = [own, injected(**values)] if values else [own]
    ns = {"In": ["", "import pandas as pd", *cells, *later], "profile": "full", "n_splits": None,
          "demo_budget": None, "n_boot": None}
    return ns | values


def test_a_value_given_equal_to_the_full_profiles_default_is_used():
    # the user's attempt: -p demo_budget 16 at the quick profile (whose demo budget is 4; 16 is full's)
    assert profile_params("quick")["demo_budget"] == 4 and profile_params("full")["demo_budget"] == 16
    ns = namespace(profile="quick", demo_budget=16, budgets=[4, 16])
    assert notebook_parameters(ns) == Given("quick", {"demo_budget": 16, "budgets": [4, 16]})
    # -p n_boot 1000 at the tiny profile: 1000 is full's, and it is used
    assert notebook_parameters(namespace(profile="tiny", n_boot=1000)).params()["n_boot"] == 1000


def test_nothing_given_is_the_profile_itself():
    assert notebook_parameters(namespace()) == Given("full", {})
    assert notebook_parameters(namespace(profile="tiny")).params() == profile_params("tiny")


def test_a_value_set_in_the_cell_by_hand_is_used():
    edited = OWN.replace("n_splits = None", "n_splits = 5")
    ns = namespace(edited) | {"n_splits": 5}
    assert notebook_parameters(ns) == Given("full", {"n_splits": 5})


def test_a_typo_is_refused_with_the_name_meant():
    with pytest.raises(ConfigError, match=r"^n_pol=4 .* is not a parameter of the study \(did you mean n_pool\?\)"):
        notebook_parameters(namespace(n_pol=4))  # papermill -p n_pol 4
    typo = OWN + "n_boots = 10\n"
    with pytest.raises(ConfigError, match=r"n_boots=10 .*did you mean n_boot\?"):
        notebook_parameters(namespace(typo) | {"n_boots": 10})  # typed into the cell
    with pytest.raises(ConfigError, match=r"^zzz=1 .* is not a parameter of the study; every parameter"):
        notebook_parameters(namespace(zzz=1))  # nothing close: no suggestion


def test_the_notebooks_own_variables_are_not_parameters():
    # notebook 04 binds `world` (a World), notebook 03 `budgets` (a list) after its parameters cells: those
    # cells are not parameter cells, so they neither count as given nor are refused
    ns = namespace(OWN, "world = object()\nbudgets = [1, 2]\nscratch = 3\n") | {"world": object(), "budgets": [1, 2]}
    assert notebook_parameters(ns) == Given("full", {})


def test_only_the_last_run_of_each_parameters_cell_counts():
    # a reader fixes a typo in the cell and runs it again: the old run stays in IPython's history
    typo, fixed = OWN + "n_boots = 10\n", OWN.replace("n_boot = None", "n_boot = 10")
    assert parameter_cells(["", typo, fixed]) == [fixed]
    assert notebook_parameters({"In": ["", typo, fixed], "n_boots": 10, "n_boot": 10}) == Given("full", {"n_boot": 10})


def test_a_profile_lists_only_what_it_changes_and_is_named_by_its_file():
    full = profile_params("full")
    for name in ("quick", "tiny", "math500"):
        changed = yaml.safe_load((ROOT / "params" / f"{name}.yaml").read_text())
        assert "profile" not in changed and changed and all(full[k] != v for k, v in changed.items()), name
        assert profile_params(name) == full | changed | {"profile": name}


@pytest.fixture
def copied_profile():
    """A copy of the tiny profile under a new name, as a user would save one (removed afterwards)."""
    path = ROOT / "params" / "mytiny_test_copy.yaml"
    path.write_text((ROOT / "params" / "tiny.yaml").read_text() + "n_boot: 40\n")
    yield path
    path.unlink()


def test_a_copied_profile_writes_into_its_own_folders(copied_profile, tmp_path, monkeypatch):
    monkeypatch.setenv("TTC_DATA_ROOT", str(tmp_path))
    study = Study.from_namespace(namespace(profile="mytiny_test_copy"))
    assert study.config.profile == "mytiny_test_copy" and study.data == tmp_path / "mytiny_test_copy"
    assert study.config.search.n_boot == 40 and study.config.world.n_test == profile_params("tiny")["n_test"]


def test_a_profile_that_names_another_or_has_a_typo_is_refused(copied_profile):
    copied_profile.write_text("profile: tiny\nn_boot: 40\n")
    with pytest.raises(ConfigError, match=r"params/mytiny_test_copy.yaml sets profile='tiny': a profile is named by "
                                          r"its file \('mytiny_test_copy'\)"):
        profile_params("mytiny_test_copy")
    copied_profile.write_text("n_bot: 40\n")
    with pytest.raises(ConfigError, match=r"n_bot=40 \(in params/mytiny_test_copy.yaml\) .*did you mean n_boot\?"):
        profile_params("mytiny_test_copy")


@given(st.sampled_from(PARAMETERS), st.integers(min_value=0), st.sampled_from("xq"))
def test_every_parameter_is_suggested_for_itself_and_a_typo_of_it_is_refused(name, position, letter):
    assert suggest(name) == f" (did you mean {name}?)"
    cut = position % len(name)
    typo = name[:cut] + letter + name[cut + 1:]
    if typo in PARAMETERS:
        return
    with pytest.raises(ConfigError, match=rf"^{typo}=1 \(in the parameters cell, or given by papermill -p\)"):
        notebook_parameters({"In": ["", injected(**{typo: 1})], typo: 1})
