"""What a study runs on: the synthetic world with the project's models, or MATH with given ones, never mixed."""

import pytest

from ttc.core.config import ConfigError
from ttc.pipelines.given_models import (PROJECT_PRM, SKIPPED_WITH_GIVEN_MODELS, ModelsConfig, check_notebook,
                                        skip_reason)

GIVEN = dict(world="math500", policy="Qwen/Qwen2.5-1.5B-Instruct", prm="peiyi9979/math-shepherd-mistral-7b-prm")


def test_the_default_is_the_synthetic_world_with_the_projects_models():
    cfg = ModelsConfig()
    assert not cfg.given and cfg.prm == PROJECT_PRM and all(skip_reason(cfg, n) is None for n in SKIPPED_WITH_GIVEN_MODELS)


@pytest.mark.parametrize("fields, message", [
    ({"policy": "Qwen/Qwen2.5-1.5B-Instruct"}, r"policy='Qwen/Qwen2.5-1.5B-Instruct' is not a ladder size"),
    ({"prm": "some/prm"}, r"prm='some/prm': the synthetic world's verifiers are the project's own"),
    ({**GIVEN, "policy": "d32-l2"}, r"policy='d32-l2' is a ladder size, which cannot write MATH's LaTeX"),
    ({**GIVEN, "prm": "project"}, r"prm='project' is trained on the synthetic world"),
    ({"world": "mars"}, r"world='mars'"),
])
def test_models_and_worlds_are_not_mixed(fields, message):
    with pytest.raises(ConfigError, match=message):
        ModelsConfig(**fields)


def test_with_given_models_each_notebook_that_cannot_run_says_why_and_stops_cleanly(capsys):
    cfg = ModelsConfig(**GIVEN)
    assert cfg.given and cfg.prm_config.name == GIVEN["prm"]
    for notebook, why in SKIPPED_WITH_GIVEN_MODELS.items():
        assert why in skip_reason(cfg, notebook)
        with pytest.raises(SystemExit) as stop:
            check_notebook(cfg, notebook)
        assert stop.value.code == 0 and capsys.readouterr().out.startswith(f"Skipped: notebook {notebook} does not run")
    for notebook in ("02", "04", "05"):  # these run on MATH
        assert skip_reason(cfg, notebook) is None
        check_notebook(cfg, notebook)
