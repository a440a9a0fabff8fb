"""The synthetic step-by-step math world that stands in for MATH.

A problem is a question, a worked solution written one step per line, and an
exact final answer on an answer line:

    Q: 12 +05 *07 -03 (mod 23)     <- the prompt the model is given
    12+05=17                       <- steps, one per line
    17*07=04
    04-03=01
    A: 1                           <- the answer line, then end of text

Two families with different error profiles: `modchain` (a chain of modular
operations: errors are wrong table look-ups, more likely with
multiplication) and `addition` (column addition with carries, written digit
by digit: errors are wrong digit retrieval and dropped carries). Each has
difficulty levels 1-5 (the analogue of MATH's hand-labelled levels): more
steps and harder operations. Grading is exact, and `check_steps` says for
every step whether it is right given the question and the steps before it.

The text format itself (prompt, lines, answer line) is `ttc.world.text`'s.

Use: `splits = make_splits(WorldConfig(...))`, then `prompt(problem)`,
`grade(problem, completion)`, `check_steps(problem, steps)`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import random
import re
from dataclasses import dataclass
from typing import Protocol

from ttc.core.config import ConfigError, as_tuple, check_fields, check_range
from ttc.world import text as T

LEVELS = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Problem:
    id: str
    family: str
    level: int
    question: str
    steps: tuple[str, ...]
    answer: str

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "steps": list(self.steps)}

    @classmethod
    def from_dict(cls, d: dict) -> "Problem":
        return cls(**{**d, "steps": tuple(d["steps"])})


# --------------------------------------------------------------------------
# Problems in the study's text format (ttc.world.text)


def prompt(problem: Problem) -> str:
    """The text a policy is given; its completion is the solution."""
    return T.prompt(problem.question)


def document(problem: Problem) -> str:
    """Prompt plus worked solution: one pretraining document (before end-of-text)."""
    return prompt(problem) + T.solution_text(problem.steps, problem.answer)


def grade(problem: Problem, completion: str) -> bool:
    """Exact grading: the extracted answer equals the problem's answer."""
    answer = T.extract_answer(completion)
    return answer is not T.NO_ANSWER and answer == problem.answer


def check_steps(problem: Problem, steps: list[str] | tuple[str, ...]) -> list[bool]:
    """For each step, whether it is right given the question and the steps before it.

    A step that computes correctly from a wrong earlier result counts as right
    here; `on_track` says whether a prefix is still on the way to the answer.
    """
    family = FAMILIES[problem.family]
    parsed = family.parse_question(problem.question)
    return [family.expected_step(parsed, list(steps[:i])) == _normalise(step)
            for i, step in enumerate(steps)]


def on_track(problem: Problem, steps: list[str] | tuple[str, ...]) -> list[bool]:
    """For each step, whether every step up to it is right (the prefix can still reach the answer)."""
    out, ok = [], True
    for right in check_steps(problem, steps):
        ok = ok and right
        out.append(ok)
    return out


def lines_on_track(problem: Problem, lines: list[str] | tuple[str, ...]) -> list[bool]:
    """For each line of a completion (work steps, then the answer line): whether the completion
    is still right up to and including it. The answer line is right when every step before it is
    and its answer is correct; anything after the answer line is not."""
    answer_at = next((i for i, line in enumerate(lines) if T.is_answer_line(line)), len(lines))
    track = on_track(problem, lines[:answer_at])
    if answer_at == len(lines):
        return track
    answered = all(track) and T.extract_answer(lines[answer_at]) == problem.answer
    return track + [answered] + [False] * (len(lines) - answer_at - 1)


def _normalise(step: str) -> str:
    return step.replace(" ", "")


# --------------------------------------------------------------------------
# Families


class Family(Protocol):
    name: str

    def generate(self, rng: random.Random, level: int, config: "WorldConfig") -> tuple[str, tuple[str, ...], str]:
        """(question, steps, answer) of a fresh problem at this level."""

    def parse_question(self, question: str) -> object: ...

    def expected_step(self, parsed: object, previous: list[str]) -> str | None:
        """The right next step given the question and the steps written so far, or
        None when there is none (the solution is complete, or an earlier step is
        unreadable so nothing can follow from it)."""

    def misstep(self, step: str, parsed: object, rng: random.Random) -> str:
        """`step` (a right one) with a wrong result: the kind of slip a model makes (`ttc.world.mistakes`)."""

    def answer(self, parsed: object, steps: list[str]) -> str:
        """The answer a solution of these (well-formed) steps reaches, right or not."""



OPERATOR_LETTERS = "abcdefghijklmnopqrstuvwxyz"
OPERATOR_NAMES = tuple(OPERATOR_LETTERS) + tuple(a + b for a in OPERATOR_LETTERS for b in OPERATOR_LETTERS)
"""The letter operators' names, most frequent first: the 26 single letters, then the 676 two-letter names, so that
a store of up to 702 tables (70,200 facts at modulus 10) can be asked for, and the first 26 stay what they were."""


@functools.lru_cache(maxsize=None)
def operator_table(letter: str, modulus: int) -> tuple[tuple[int, ...], ...]:
    """The fixed random table of an operator named by one or two letters: `table[a][b]` is `a <letter> b`.

    A table is a constant of the world's definition, as arithmetic is, not of its seed: every world
    seed draws its problems over the same facts, and a question alone determines its answer."""
    rng = random.Random(f"ttc-operator-{letter}-{modulus}")
    # For each right operand b, a -> a <letter> b is a permutation: a chain then loses no information,
    # so its answer stays uniform however long it is (random functions collapse onto a few values).
    columns = [rng.sample(range(modulus), modulus) for _ in range(modulus)]
    return tuple(tuple(columns[b][a] for b in range(modulus)) for a in range(modulus))


@functools.lru_cache(maxsize=8)
def _zipf_cum_weights(n: int, exponent: float) -> tuple[float, ...]:
    """Cumulative Zipf weights of n operators (the i-th 1 / i^exponent), as `random.choices` sums them itself
    from `weights` (so the draws are the same), computed once instead of once per problem."""
    return tuple(itertools.accumulate(1 / (i + 1) ** exponent for i in range(n)))


class ModChain:
    """Start from a number and apply operations left to right, modulo m.

    Question `12 +05 *07 -03 (mod 23)`; steps `12+05=17`, `17*07=04`, `04-03=01`.
    Numbers are zero-padded to the modulus's width: with every number the same
    width, a small transformer can find the i-th operand by position, as it
    finds the i-th digit in column addition (with mixed widths it did not learn
    to, in our first runs).

    With `WorldConfig.modchain_operators = k > 0`, a share of the operations (levels 2-5) are
    instead letters, each a fixed random table (`operator_table`): `3 +5 a7 *2 (mod 10)`, steps
    `3+5=8`, `8a7=1`, ...; past 26 operators the names have two letters (`qz7`, `OPERATOR_NAMES`).
    Nothing computes a random table; a model knows it only by having
    memorised its facts, as a model of MATH knows identities. Letters are drawn with Zipf
    frequencies (the i-th with weight 1 / i^zipf), so that some facts are seen often and others
    seldom: how many a model has learned depends on its size and tokens, and is an average over
    many facts rather than one skill that a run has or has not found yet.
    """

    name = "modchain"
    _OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}
    _OP = r"[+\-*]|[a-z]{1,2}"  # arithmetic, or a letter operator's name (OPERATOR_NAMES)
    _STEP = re.compile(rf"^([0-9]{{1,12}})({_OP})([0-9]{{1,12}})=([0-9]{{1,12}})$")
    _QUESTION = re.compile(rf"^([0-9]+)((?: (?:{_OP})[0-9]+)+) \(mod ([0-9]+)\)$")
    _OPERATION = re.compile(rf"({_OP})([0-9]+)")

    def generate(self, rng, level, config):
        lo, hi = config.modchain_ops[level - 1]
        n_ops = rng.randint(lo, hi)
        m = config.modulus
        start = rng.randrange(m)
        ops = "+-" if level == 1 else "+-*"
        if config.modchain_operators and level > 1:
            letters = OPERATOR_NAMES[:config.modchain_operators]
            cum_weights = _zipf_cum_weights(len(letters), config.modchain_operator_zipf)
            chain = [(rng.choices(letters, cum_weights=cum_weights)[0] if rng.random() < config.modchain_operator_share
                      else rng.choice(ops), rng.randrange(1, m)) for _ in range(n_ops)]
        else:  # the draws in this order, so that the arithmetic world's problems stay what they were
            chain = [(rng.choice(ops), rng.randrange(1, m)) for _ in range(n_ops)]
        w = self.width(m)
        question = f"{start:0{w}d} " + " ".join(f"{op}{b:0{w}d}" for op, b in chain) + f" (mod {m})"
        steps, value = [], start
        for op, b in chain:
            new = self.apply(op, value, b, m)
            steps.append(f"{value:0{w}d}{op}{b:0{w}d}={new:0{w}d}")
            value = new
        return question, tuple(steps), str(value)

    def apply(self, op: str, a: int, b: int, modulus: int) -> int:
        if op in self._OPS:
            return self._OPS[op](a, b) % modulus
        return operator_table(op, modulus)[a][b]

    @staticmethod
    def width(modulus: int) -> int:
        return len(str(modulus - 1))

    def parse_question(self, question):
        m = self._QUESTION.match(question)
        if not m:
            raise ValueError(f"not a modchain question: {question!r}")
        chain = [(op, int(b)) for op, b in (self._OPERATION.fullmatch(t).groups() for t in m.group(2).split())]
        return int(m.group(1)), chain, int(m.group(3))

    def expected_step(self, parsed, previous):
        start, chain, m = parsed
        i = len(previous)
        if i >= len(chain):
            return None
        if i == 0:
            value = start
        else:
            last = self._STEP.match(_normalise(previous[-1]))
            if not last:
                return None
            value = int(last.group(4))
        op, b = chain[i]
        w = self.width(m)
        if op not in self._OPS and value >= m:  # a table has no row for a number outside the residues
            return None
        return f"{value:0{w}d}{op}{b:0{w}d}={self.apply(op, value, b, m):0{w}d}"

    def misstep(self, step, parsed, rng):
        # a wrong residue of the same width, as a wrong table look-up writes it
        left, right = step.rsplit("=", 1)
        m = parsed[2]
        wrong = rng.choice([v for v in range(m) if v != int(right)])
        return f"{left}={wrong:0{self.width(m)}d}"

    def answer(self, parsed, steps):
        return str(int(steps[-1].rsplit("=", 1)[1])) if steps else str(parsed[0])


class ColumnAddition:
    """Add two n-digit numbers column by column from the right, carrying.

    Question `4821+3967`; steps `1+7+0=8`, `2+6+0=8`, `8+9+0=17`, `4+3+1=8`;
    answer 8788. Each step is `top digit + bottom digit + carry in = column sum`.
    """

    name = "addition"
    _STEP = re.compile(r"^([0-9])\+([0-9])\+([0-9])=([0-9]{1,2})$")
    _QUESTION = re.compile(r"^([0-9]+)\+([0-9]+)$")

    def generate(self, rng, level, config):
        lo, hi = config.addition_digits[level - 1]
        n = rng.randint(lo, hi)
        a, b = (rng.randrange(10 ** (n - 1) if n > 1 else 0, 10 ** n) for _ in range(2))
        question = f"{a}+{b}"
        steps, carry = [], 0
        for x, y in zip(reversed(str(a)), reversed(str(b))):
            s = int(x) + int(y) + carry
            steps.append(f"{x}+{y}+{carry}={s}")
            carry = s // 10
        return question, tuple(steps), str(a + b)

    def parse_question(self, question):
        m = self._QUESTION.match(question)
        if not m or len(m.group(1)) != len(m.group(2)):
            raise ValueError(f"not an addition question: {question!r}")
        return m.group(1)[::-1], m.group(2)[::-1]

    def expected_step(self, parsed, previous):
        top, bottom = parsed
        i = len(previous)
        if i >= len(top):
            return None
        carry = 0
        if i > 0:
            last = self._STEP.match(_normalise(previous[-1]))
            if not last:
                return None
            carry = int(last.group(4)) // 10
        return f"{top[i]}+{bottom[i]}+{carry}={int(top[i]) + int(bottom[i]) + carry}"

    def misstep(self, step, parsed, rng):
        # a wrong column sum (a digit misread or a carry dropped): any other sum of two digits and a carry
        left, right = step.rsplit("=", 1)
        return f"{left}={rng.choice([v for v in range(20) if v != int(right)])}"

    def answer(self, parsed, steps):
        # the last column's whole sum, then every other column's units digit, from the left
        sums = [int(s.rsplit("=", 1)[1]) for s in steps]
        return str(int(str(sums[-1]) + "".join(str(v % 10) for v in reversed(sums[:-1]))))


FAMILIES: dict[str, Family] = {f.name: f for f in (ModChain(), ColumnAddition())}


# --------------------------------------------------------------------------
# Configuration and splits


def _ranges(value: object) -> object:
    """YAML gives [[1, 1], [2, 2], ...]; keep ((1, 1), (2, 2), ...)."""
    return tuple(tuple(r) if isinstance(r, list) else r for r in value) if isinstance(value, (list, tuple)) else value


@dataclass(frozen=True)
class WorldConfig:
    seed: int = 0
    n_train: int = 50_000
    n_val: int = 500
    n_test: int = 500
    families: tuple[str, ...] = ("modchain", "addition")
    # With m <= 10 every number is one token. Two-digit residues (m = 23, 47) left the policy at chance
    # on modchain after 4M tokens, even at level 1 (closing note of the convergence issue).
    modulus: int = 10
    # Per level 1..5: the (min, max) number of operations / digits. Level 1 is kept easy on purpose:
    # easy problems are the curriculum that lets a small model start learning at all. Length is what
    # makes a problem hard once the step tables are learned: with chains of at most 16 steps, a policy
    # whose documents were isolated solved 88% greedily and the larger sizes near all, so chains now
    # run to 26 steps (~250 tokens with the question, what a 256-token row holds). Additions of up to
    # 20 digits were tried too: at D = 4M the policy had not learned them (36% on addition, 0% beyond
    # 10 digits), so addition keeps its 16 (closing note of the convergence issue).
    modchain_ops: tuple[tuple[int, int], ...] = ((1, 2), (3, 5), (6, 10), (11, 17), (18, 26))
    addition_digits: tuple[tuple[int, int], ...] = ((1, 2), (3, 4), (5, 7), (8, 11), (12, 16))
    # modchain's operators are + - * (level 1: + -). With k = modchain_operators > 0, a share of the
    # operations of levels 2-5 use instead k letter operators with fixed random tables, drawn with
    # Zipf(modchain_operator_zipf) frequencies among themselves (ModChain's docstring says why).
    modchain_operators: int = 0
    modchain_operator_share: float = 0.1
    modchain_operator_zipf: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "families", as_tuple(self.families))
        object.__setattr__(self, "modchain_ops", _ranges(self.modchain_ops))
        object.__setattr__(self, "addition_digits", _ranges(self.addition_digits))
        check_fields(self)
        for name in ("n_train", "n_val", "n_test"):
            check_range(self, name, low=1)
        check_range(self, "seed", low=0)
        check_range(self, "modulus", low=2, high=999)
        check_range(self, "modchain_operators", low=0, high=len(OPERATOR_NAMES))
        check_range(self, "modchain_operator_share", low=0.0, high=1.0)
        check_range(self, "modchain_operator_zipf", low=0.0, high=4.0)
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown or not self.families:
            raise ConfigError(f"WorldConfig.families={self.families!r}: unknown or empty; "
                              f"choose from {sorted(FAMILIES)}")
        for name in ("modchain_ops", "addition_digits"):
            ranges = getattr(self, name)
            if len(ranges) != len(LEVELS) or any(len(r) != 2 or not 1 <= r[0] <= r[1] for r in ranges):
                raise ConfigError(f"WorldConfig.{name}={ranges!r}: give {len(LEVELS)} (min, max) pairs, "
                                  f"one per level, with 1 <= min <= max")


def problem_id(family: str, question: str) -> str:
    return f"{family}-{hashlib.sha1(question.encode()).hexdigest()[:12]}"


def generate_problem(rng: random.Random, family: str, level: int, config: WorldConfig) -> Problem:
    question, steps, answer = FAMILIES[family].generate(rng, level, config)
    return Problem(problem_id(family, question), family, level, question, steps, answer)


def _draw(config: WorldConfig, n: int, rng: random.Random, exclude: set[str], unique: bool) -> list[Problem]:
    """n problems spread evenly over (family, level) cells, none whose question is in `exclude`."""
    cells = [(f, lv) for f in config.families for lv in LEVELS]
    out: list[Problem] = []
    seen = set(exclude)
    for i in range(n):
        family, level = cells[i % len(cells)]
        for _ in range(10_000):
            p = generate_problem(rng, family, level, config)
            if p.question not in seen:
                break
        else:
            raise ConfigError(f"could not draw enough distinct {family} level-{level} problems; "
                              f"lower n_test/n_val or widen the level's ranges")
        if unique:
            seen.add(p.question)
        out.append(p)
    rng.shuffle(out)
    return out


def make_splits(config: WorldConfig) -> dict[str, list[Problem]]:
    """Seeded train / val / test splits; no test or val question appears in train.

    Test and val questions are distinct (within and across the two); train
    may repeat a question (as a corpus repeats easy facts) but never one held out.
    """
    test = _draw(config, config.n_test, random.Random(f"{config.seed}-test"), set(), unique=True)
    val = _draw(config, config.n_val, random.Random(f"{config.seed}-val"), {p.question for p in test}, unique=True)
    held_out = {p.question for p in test} | {p.question for p in val}
    train = _draw(config, config.n_train, random.Random(f"{config.seed}-train"), held_out, unique=False)
    return {"train": train, "val": val, "test": test}


def describe(config: WorldConfig) -> str:
    """The world in a few sentences, from its settings (notebook 01 renders it)."""
    def spans(ranges) -> str:
        return ", ".join(f"{lo}-{hi}" if lo != hi else f"{lo}" for lo, hi in ranges)

    parts = []
    if "modchain" in config.families:
        text = (f"`modchain`: a start value and a chain of operations modulo {config.modulus}, one step per operation "
                f"({spans(config.modchain_ops)} operations at levels 1-5); level 1 uses + and -")
        k, share = config.modchain_operators, config.modchain_operator_share
        if k and share:
            facts = k * config.modulus ** 2
            text += (f", and at levels 2-5 {share:.0%} of the operations are letter operators instead of + - *: {k} "
                     f"fixed random tables of {config.modulus}x{config.modulus} entries ({facts:,} facts that nothing "
                     f"computes, only memory holds), the i-th drawn with weight 1/i^{config.modchain_operator_zipf:g}")
        else:
            text += ", + - * at levels 2-5"
        parts.append(text + ".")
    if "addition" in config.families:
        parts.append(f"`addition`: column addition with carries, one step per column "
                     f"({spans(config.addition_digits)} digits at levels 1-5).")
    return (f"{len(config.families)} problem {'family' if len(config.families) == 1 else 'families'}, "
            f"{config.n_train:,} training, {config.n_val:,} validation and {config.n_test:,} test problems. "
            + " ".join(parts))
