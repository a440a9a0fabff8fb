import random

import pytest
from ttc.core.config import ConfigError
from ttc.world import synthetic as W
from ttc.world import text as T


def test_canonical_solutions_grade_and_check(splits):
    for problem in splits["test"] + splits["train"][:200]:
        text = T.solution_text(problem.steps, problem.answer)
        assert W.grade(problem, text)
        assert T.solution_lines(text) == list(problem.steps) + [f"A: {problem.answer}"]
        assert all(W.check_steps(problem, problem.steps))
        assert all(W.on_track(problem, problem.steps))


def test_known_answers():
    config = W.WorldConfig(modulus=23)
    rng = random.Random(0)
    for _ in range(200):
        p = W.generate_problem(rng, "modchain", 3, config)
        start, chain, m = W.FAMILIES["modchain"].parse_question(p.question)
        value = start
        for op, b in chain:
            value = {"+": value + b, "-": value - b, "*": value * b}[op] % m
        assert p.answer == str(value)
        q = W.generate_problem(rng, "addition", 4, config)
        a, b = q.question.split("+")
        assert q.answer == str(int(a) + int(b))


def test_letter_operators_are_fixed_tables_that_the_question_alone_determines():
    table = W.operator_table("c", 10)
    assert table == W.operator_table("c", 10) and table != W.operator_table("d", 10)
    assert all(sorted(table[a][b] for a in range(10)) == list(range(10)) for b in range(10))  # columns permute
    worlds = [W.WorldConfig(seed=s, modchain_operators=5, modchain_operator_share=share) for s, share in ((0, 1.0), (1, 0.3))]
    for config in worlds:
        rng = random.Random(config.seed)
        for _ in range(100):
            p = W.generate_problem(rng, "modchain", 3, config)
            start, chain, m = W.FAMILIES["modchain"].parse_question(p.question)
            value = start
            for op, b in chain:
                assert op in "abcde" + "+-*"
                value = W.operator_table(op, m)[value][b] if op.isalpha() else W.FAMILIES["modchain"].apply(op, value, b, m)
            assert p.answer == str(value) and all(W.check_steps(p, p.steps))
    # a step that writes a number no table has a row for is wrong, and so is everything after it
    p = W.Problem("x", "modchain", 2, "3 a5 b7 (mod 10)", (), "0")
    assert W.check_steps(p, ["3a5=12", "12b7=4"]) == [False, False]


def test_a_store_of_hundreds_of_operators_names_them_with_two_letters_and_grades_them_exactly():
    assert W.OPERATOR_NAMES[:26] == tuple("abcdefghijklmnopqrstuvwxyz") and W.OPERATOR_NAMES[26:28] == ("aa", "ab")
    assert len(set(W.OPERATOR_NAMES)) == 702
    config = W.WorldConfig(modchain_operators=702, modchain_operator_share=1.0, modchain_operator_zipf=0.5)
    rng = random.Random(0)
    seen = set()
    for _ in range(300):
        p = W.generate_problem(rng, "modchain", 2, config)
        start, chain, m = W.FAMILIES["modchain"].parse_question(p.question)
        value = start
        for op, b in chain:
            seen.add(op)
            value = W.operator_table(op, m)[value][b]
        assert p.answer == str(value) and all(W.check_steps(p, p.steps))
        assert W.check_steps(p, [s.replace("=", "=9", 1) for s in p.steps]) == [False] * len(p.steps)
    assert any(len(op) == 2 for op in seen) and any(len(op) == 1 for op in seen)
    assert W.operator_table("qz", 10) != W.operator_table("q", 10)


def test_letter_operators_follow_their_zipf_frequencies():
    config = W.WorldConfig(modchain_operators=4, modchain_operator_share=0.25, modchain_operator_zipf=1.0)
    rng = random.Random(0)
    counts = {op: 0 for op in "abcd+-*"}
    for _ in range(2000):
        for op, _ in W.FAMILIES["modchain"].parse_question(W.generate_problem(rng, "modchain", 3, config).question)[1]:
            counts[op] += 1
    total = sum(counts.values())
    letters = sum(counts[op] for op in "abcd")
    assert abs(letters / total - 0.25) < 0.02
    for i, op in enumerate("abcd"):  # weight 1 / (i + 1) of H_4 = 25 / 12
        assert abs(counts[op] / letters - (12 / 25) / (i + 1)) < 0.03
    # level 1 stays + and - only: the easy start that lets a small model begin learning
    for _ in range(200):
        ops = W.FAMILIES["modchain"].parse_question(W.generate_problem(rng, "modchain", 1, config).question)[1]
        assert all(op in "+-" for op, _ in ops)


def test_worked_example_from_the_docstring():
    p = W.Problem("x", "modchain", 2, "12 +05 *07 -03 (mod 23)", ("12+05=17", "17*07=04", "04-03=01"), "1")
    assert all(W.check_steps(p, p.steps))
    assert W.grade(p, "12+05=17\n17*07=04\n04-03=01\nA: 1")
    assert W.grade(p, "A: 01")  # the answer is compared as a number
    assert not W.grade(p, "A: 2")


def test_a_wrong_step_is_caught_and_its_consequences_are_off_track():
    p = W.Problem("x", "addition", 2, "4821+3967", ("1+7+0=8", "2+6+0=8", "8+9+0=17", "4+3+1=8"), "8788")
    # The third step drops nothing but miscomputes; the fourth then carries correctly from it.
    steps = ["1+7+0=8", "2+6+0=8", "8+9+0=7", "4+3+0=7"]
    assert W.check_steps(p, steps) == [True, True, False, True]
    assert W.on_track(p, steps) == [True, True, False, False]
    # Extra steps past the last column are never right; nor are unreadable ones.
    assert W.check_steps(p, list(p.steps) + ["0+0+0=0"])[-1] is False
    assert W.check_steps(p, ["garbage", "2+6+0=8"]) == [False, False]


def test_splits_are_seeded_disjoint_and_balanced():
    config = W.WorldConfig(n_train=3000, n_val=100, n_test=200, seed=3)
    a, b = W.make_splits(config), W.make_splits(config)
    assert [p.id for p in a["test"]] == [p.id for p in b["test"]]
    assert [p.id for p in a["train"]] == [p.id for p in b["train"]]
    test_q = {p.question for p in a["test"]}
    val_q = {p.question for p in a["val"]}
    assert len(test_q) == 200 and len(val_q) == 100 and not test_q & val_q
    assert not {p.question for p in a["train"]} & (test_q | val_q)
    cells = {(p.family, p.level) for p in a["test"]}
    assert len(cells) == 10
    other = W.make_splits(W.WorldConfig(n_train=3000, n_val=100, n_test=200, seed=4))
    assert [p.id for p in other["test"]] != [p.id for p in a["test"]]


def test_levels_make_problems_longer():
    config = W.WorldConfig()
    rng = random.Random(1)
    for family in W.FAMILIES:
        lengths = [sum(len(W.generate_problem(rng, family, lv, config).steps) for _ in range(50)) for lv in W.LEVELS]
        assert lengths == sorted(lengths) and lengths[0] < lengths[-1]


@pytest.mark.parametrize("kwargs, word", [
    ({"n_test": -5}, "n_test"), ({"n_train": 0}, "n_train"), ({"n_val": 1.5}, "n_val"),
    ({"families": ("modchain", "calculus")}, "families"), ({"modulus": 1}, "modulus"),
    ({"seed": -1}, "seed"), ({"modchain_ops": ((1, 1),)}, "modchain_ops"), ({"addition_digits": ((3, 2),) * 5}, "addition_digits"),
    ({"modchain_operators": 703}, "modchain_operators"), ({"modchain_operator_zipf": -1.0}, "modchain_operator_zipf"),
])
def test_bad_world_settings_name_the_value(kwargs, word):
    with pytest.raises(ConfigError, match=word):
        W.WorldConfig(**kwargs)
