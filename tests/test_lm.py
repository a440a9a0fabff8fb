import pytest
import torch
from transformers import AutoModelForCausalLM

from ttc.config import ConfigError, check_profile
from ttc.lm import LADDER, Ladder, build_model, count_parameters, load_model, parameters_of, save_model


def test_study_ladder_spans_14x(tokenizer):
    counts = Ladder(names=("d64-l4", "d96-l5", "d128-l6", "d192-l7"), policy="d64-l4").check_span(tokenizer)
    assert counts["d192-l7"] / counts["d64-l4"] >= 14
    assert list(counts.values()) == sorted(counts.values())


def test_a_ladder_without_a_14x_span_is_refused(tokenizer):
    ladder = Ladder(names=("d48-l3", "d64-l4", "d96-l5", "d128-l6"), policy="d64-l4")
    with pytest.raises(ConfigError, match="spans only"):
        ladder.check_span(tokenizer)


@pytest.mark.parametrize("names, policy, word", [
    (("d64-l4", "d96-l5", "d128-l6", "huge"), "d64-l4", "unknown size"),
    (("d64-l4", "d96-l5", "d128-l6"), "d64-l4", "at least 4"),
    (("d64-l4", "d96-l5", "d128-l6", "d192-l7"), "d16-l1", "not in the ladder"),
    ("d64-l4", "d64-l4", "names"),
])
def test_bad_ladders_are_refused(names, policy, word):
    with pytest.raises(ConfigError, match=word):
        Ladder(names=names, policy=policy)


def test_unknown_profile_is_refused():
    with pytest.raises(ConfigError, match="'huge'.*full, quick, tiny"):
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
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "m").eval()
    with torch.no_grad():
        assert torch.equal(model(x).logits, reloaded(x).logits)
    again, tok, meta = load_model(tmp_path / "m")
    assert meta == {"name": "d24-l2"} and len(tok) == len(tokenizer)
