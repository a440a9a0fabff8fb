"""The world's facts (letter operators' table entries) and notebook 01's count of how often training showed each."""

from collections import Counter

import pandas as pd
import pytest

from ttc.models.pretrain import PretrainConfig, pack_batch, training_documents
from ttc.pipelines.fact_study import exposures, held_by_exposure, knowledge
from ttc.world import synthetic as W
from ttc.world.facts import Fact, fact_steps
from ttc.world.tokenizer import build_tokenizer

LETTERS = W.WorldConfig(families=("modchain",), modchain_operators=30, modchain_operator_share=0.7,
                        modchain_operator_zipf=1.5, modchain_ops=((1, 2), (2, 3), (2, 4), (3, 5), (4, 6)),
                        n_train=60, n_val=10, n_test=10)


def test_fact_steps_are_the_solutions_letter_steps():
    splits = W.make_splits(LETTERS)
    seen = 0
    for problem in splits["train"]:
        for fs in fact_steps(problem):
            assert fs.value == W.operator_table(fs.fact.op, LETTERS.modulus)[fs.fact.a][fs.fact.b]
            assert problem.steps[fs.step] == f"{fs.fact.a}{fs.fact.op}{fs.fact.b}={fs.value}"
            seen += 1
        letters = sum(any(c.isalpha() for c in step) for step in problem.steps)
        assert letters == len(fact_steps(problem))
    assert seen > 50
    arithmetic = W.make_splits(W.WorldConfig(n_train=20, n_val=5, n_test=5))
    assert not any(fact_steps(p) for p in arithmetic["train"])


@pytest.mark.parametrize("retry_share", [0.0, 0.5])
def test_exposures_count_the_facts_of_the_packed_batches(retry_share):
    """Replayed batches against what the training batches hold: decode each packed row into its documents (with
    retries, from the step they enter, a document's solution is after its attempts: its facts count once)."""
    tokenizer = build_tokenizer()
    train = W.make_splits(LETTERS)["train"]
    config = PretrainConfig(tokens=5 * 4 * 256, rows=4, seed=3, retry_share=retry_share, retry_from=0.4)
    by_question = {p.question: p for p in train}
    docs = training_documents(train, tokenizer, config)
    assert [config.retries_at(step) for step in range(config.steps)] == [False, False] + [bool(retry_share)] * 3
    expected = Counter()
    for step in range(config.steps):
        ids, _ = pack_batch(docs.at(step), step, config, tokenizer.pad_token_id)
        for row in ids.tolist():
            text = tokenizer.decode(row, skip_special_tokens=False)
            for doc in text.split(tokenizer.bos_token)[1:]:
                question = doc.split("\n", 1)[0].removeprefix("Q: ")
                expected.update(fs.fact for fs in fact_steps(by_question[question]))
    counted = exposures(train, tokenizer, config)
    assert counted == expected and sum(counted.values()) > 0


def test_knowledge_from_a_known_table():
    table = pd.DataFrame({"model": "m", "exposures": [0, 0, 5, 5, 100, 100],
                          "held": [False, False, False, True, True, True], "logp": [-3, -2, -1, -0.5, -0.1, 0.0]})
    by_bin = held_by_exposure(table).set_index("bin")
    assert by_bin["held"].to_dict() == {0: 0.0, 4: 0.5, 64: 1.0}
    assert by_bin["n"].to_dict() == {0: 2, 4: 2, 64: 2}
    # shown facts: 3 in the bin [4, 16), 1 in [64, 256), 1 in [1024, 4096) (no test step there: the nearest bin
    # with some, [64, 256), stands for it); a fact never shown is not in the counts
    shown = Counter({Fact("a", 0, i): 5 for i in range(3)} | {Fact("b", 0, 0): 70, Fact("c", 1, 1): 2000})
    k = knowledge(table, shown, {"m": 10}, modulus=4).iloc[0]
    assert k["facts_shown"] == 5 and k["facts_held"] == pytest.approx(3 * 0.5 + 1.0 + 1.0)
    assert k["bits"] == pytest.approx(3.5 * 2) and k["bits_per_parameter"] == pytest.approx(0.7)
    assert k["half_held_from"] == 4


def test_the_world_says_what_it_is():
    text = W.describe(LETTERS)
    assert "30 fixed random tables of 10x10 entries (3,000 facts" in text and "70%" in text
    assert "letter" not in W.describe(W.WorldConfig())
