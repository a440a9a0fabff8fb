from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM

from ttc.core.config import ConfigError, check_profile
from ttc.models.lm import LADDER, Ladder, build_model, count_parameters, load_model, parameters_of, save_model


def test_study_ladder_spans_14x(tokenizer):
    full = yaml.safe_load((Path(__file__).parents[1] / "params" / "full.yaml").read_text())
    counts = Ladder(names=full["ladder"], policy=full["policy"]).check_span(tokenizer)
    assert max(counts.values()) / counts[full["policy"]] >= 14
    assert list(counts.values()) == sorted(counts.values())


def test_a_ladder_without_a_14x_span_is_refused(tokenizer):
    ladder = Ladder(names=("d48-l3", "d64-l4", "d96-l5", "d128-l6"), policy="d64-l4")
    with pytest.raises(ConfigError, match="spans only"):
        ladder.check_span(tokenizer)


@pytest.mark.parametrize("names, policy, word", [
    (("d64-l4", "d96-l5", "d128-l6", "huge"), "d64-l4", "unknown size"),
    (("d64-l4", "d96-l5"), "d64-l4", "at least 3"),
    (("d64-l4", "d96-l5", "d64-l4"), "d64-l4", "at least 3 distinct"),
    (("d64-l4", "d96-l5", "d128-l6", "d192-l7"), "d16-l1", "not in the ladder"),
    ("d64-l4", "d64-l4", "names"),
])
def test_bad_ladders_are_refused(names, policy, word):
    with pytest.raises(ConfigError, match=word):
        Ladder(names=names, policy=policy)


def test_unknown_profile_is_refused():
    with pytest.raises(ConfigError, match="'huge'.*full, math500, quick, tiny"):
        check_profile("huge")


def test_parameter_count_matches_the_built_model(tokenizer):
    for name in ("d16-l1", "d64-l4"):
        assert parameters_of(LADDER[name], tokenizer) == count_parameters(build_model(LADDER[name], tokenizer))


def test_saved_model_reloads_with_the_same_logits(tokenizer, tmp_path):
    model = build_model(LADDER["d24-l2"], tokenizer, seed=1).eval()
    save_model(model, tokenizer, tmp_path / "m", {"name": "d24-l2"})
    assert (tmp_path / "m" / "model.safetensors").exists()
    assert not list(tmp_path.glob("m/*.bin"))
    x = torch.tensor([tokenizer("Q: 1+2\n1+2+0=3\nA: 3")["input_ids"]])
    # A plain transformers load reads the same weights (its products in torch's order: equal to rounding).
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "m").eval()
    again, tok, meta = load_model(tmp_path / "m")
    with torch.no_grad():
        assert torch.allclose(model(x).logits, reloaded(x).logits, atol=1e-5)
        assert torch.equal(model(x).logits, again(x).logits)
    assert meta == {"name": "d24-l2"} and len(tok) == len(tokenizer)


def test_a_damaged_or_unfinished_model_is_refused_naming_its_folder(tokenizer, tmp_path):
    from ttc.core.store import CorruptArtifact, MissingArtifact

    save_model(build_model(LADDER["d24-l2"], tokenizer, seed=1), tokenizer, tmp_path / "m", {"name": "d24-l2"})
    weights = tmp_path / "m" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-8192:-4096] = bytes(4096)  # 4 KB zeroed inside the weights: it would still load, with other values
    weights.write_bytes(bytes(data))
    with pytest.raises(CorruptArtifact, match=f"{tmp_path / 'm'} is damaged"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / "artifact.json").unlink()
    with pytest.raises(MissingArtifact, match="never finished"):
        load_model(tmp_path / "m")


def test_ladder_checks_on_known_summaries():
    import pandas as pd

    from ttc.pipelines.ladder_study import ladder_checks

    def summary(greedy, pass1, fall=(0.01, 0.02, 0.0, 0.05)):
        return pd.DataFrame({"name": ["a", "b", "c", "d"], "parameters": [4, 1, 2, 3],  # rows out of order
                             "greedy": greedy, "pass1": pass1, "last_quarter_fall": fall})

    spread = {"below_0.1": 0.2, "above_0.9": 0.2, "between": 0.6}
    good = ladder_checks(summary([0.8, 0.2, 0.5, 0.6], [0.8, 0.1, 0.4, 0.5]), spread)
    assert all(ok for ok, _ in good.values())
    dip = ladder_checks(summary([0.9, 0.1, 0.5, 0.4], [0.8, 0.1, 0.4, 0.5]), spread)
    assert not dip["accuracy rises with size (greedy and pass@1)"][0]
    pass1_dip = ladder_checks(summary([0.9, 0.1, 0.5, 0.6], [0.8, 0.1, 0.4, 0.3]), spread)
    assert not pass1_dip["accuracy rises with size (greedy and pass@1)"][0]
    ceiling = ladder_checks(summary([0.86, 0.1, 0.5, 0.6], [0.8, 0.1, 0.4, 0.5]), spread)
    assert not ceiling["largest model not at ceiling (greedy <= 85%)"][0]
    weak = ladder_checks(summary([0.8, 0.05, 0.5, 0.6], [0.8, 0.05, 0.4, 0.5]), spread)  # the smallest is the policy
    assert not weak["policy greedy between 15% and 60%"][0] and "b: 5.0%" in weak["policy greedy between 15% and 60%"][1]
    narrow = ladder_checks(summary([0.9, 0.1, 0.5, 0.6], [0.8, 0.1, 0.4, 0.5]),
                           {"below_0.1": 0.1, "above_0.9": 0.5, "between": 0.4})
    assert not narrow["policy pass@1 spread (>=15% below 0.1, >=15% above 0.9, >=30% between)"][0]
    learning = ladder_checks(summary([0.9, 0.1, 0.5, 0.6], [0.8, 0.1, 0.4, 0.5], fall=(0.01, 0.3, 0.0, 0.05)), spread)
    flat = "every model has flattened (validation loss fell <= 10% over the last quarter)"
    assert not learning[flat][0] and "b 30.0%" in learning[flat][1]
