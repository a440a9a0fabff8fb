from hypothesis import given
from hypothesis import strategies as st
from transformers import AutoTokenizer

from ttc.world import synthetic as W
from ttc.world.tokenizer import CHARACTERS, newline_id


def test_documents_round_trip_one_token_per_character(tokenizer, splits):
    for p in splits["test"]:
        text = W.document(p)
        ids = tokenizer(text)["input_ids"]
        assert ids[0] == tokenizer.bos_token_id and len(ids) == len(text) + 1
        assert tokenizer.decode(ids, skip_special_tokens=True) == text


@given(st.text(alphabet=CHARACTERS))
def test_any_world_text_round_trips(tokenizer, text):
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert len(ids) == len(text)
    assert tokenizer.decode(ids) == text


def test_newline_is_one_token(tokenizer):
    nl = newline_id(tokenizer)
    assert tokenizer.encode("1+1=2\n", add_special_tokens=False)[-1] == nl


def test_saved_tokenizer_loads_with_autotokenizer(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    text = "Q: 12 +05 (mod 13)\n12+05=04\nA: 4"
    assert loaded(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert (loaded.pad_token_id, loaded.eos_token_id) == (tokenizer.pad_token_id, tokenizer.eos_token_id)
