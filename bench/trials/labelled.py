"""A world trial: the same problems with every operand labelled, so that a step finds its input by content.

The hypothesis (closing note of the convergence issue, second session): the seed lottery is the timing with which
a small model learns to retrieve an operand *by its position* (the k-th operation, the k-th digit from the right),
length by length. Here each operation of a chain and each column of an addition carries a letter, and each step
starts with the letter it reads, so the operand is found by matching the letter:

    Q: 8 a*2 b-8 c+9 (mod 10)      a:8*2=6  b:6-8=8  c:8+9=7
    Q: b4a8+b3a9                   a:8+9+0=17  b:4+3+1=8

Only the text changes; answers, levels and splits are the profile's. Documents run past 256 tokens, so rows are
512 tokens, 2 per step (the same tokens per step). Grading reads the answer line only.

    python labelled.py NAME SEED [TOKENS]   (one JSON line, as size.py's; raw/labelled.jsonl holds them)

Not yet collected into figures/pretrain_trials.json: a hypothesis trial, reported in the issue's closing note,
for the session that adopts or drops the labelled world.
"""
import dataclasses, string, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from ttc.pipelines.study import Study, profile_params
from ttc.world import synthetic as W
from ttc.world.tokenizer import build_tokenizer
from trial import run_trial

L = string.ascii_lowercase


def labelled(p: W.Problem) -> W.Problem:
    if p.family == "modchain":
        head, *ops = p.question.split(" (mod")[0].split(" ")
        mod = " (mod" + p.question.split(" (mod")[1]
        question = " ".join([head] + [L[i] + op for i, op in enumerate(ops)]) + mod
        steps = tuple(f"{L[i]}:{s}" for i, s in enumerate(p.steps))
    else:
        a, b = p.question.split("+")
        n = max(len(a), len(b))
        lab = lambda x: "".join(L[len(x) - 1 - i] + d for i, d in enumerate(x))  # noqa: E731  (a = units)
        question = lab(a) + "+" + lab(b)
        steps = tuple(f"{L[i]}:{s}" if i < n else s for i, s in enumerate(p.steps))
    return dataclasses.replace(p, question=question, steps=steps)


name, seed = sys.argv[1], int(sys.argv[2])
tokens = int(float(sys.argv[3])) if len(sys.argv) > 3 else None
cfg = Study.from_params(profile_params("full")).config
pc = dataclasses.replace(cfg.pretrain, seed=seed, block=512, rows=2, **({"tokens": tokens} if tokens else {}))
tok = build_tokenizer()
splits = {k: [labelled(p) for p in v] for k, v in W.make_splits(cfg.world).items()}
out = Path("models") / f"labelled-{name}-s{seed}-{pc.tokens}"
run_trial(name, seed, tok, splits, cfg.world, pc, cfg.eval, out, {"world": "labelled operands"},
          level_metric="greedy_correct")
