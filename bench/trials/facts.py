"""A world screening trial (issue 32): the policy alone, pretrained at one training seed on a candidate world, then
evaluated; one JSON line. A candidate is a set of world parameters over the full profile's (a YAML mapping).

    python bench/trials/facts.py NAME SEED '{modchain_operators: 702, modchain_operator_share: 1.0}' [TOKENS [SIZE]]

SIZE is a ladder size (default: the policy), to see whether the next size holds more facts at equal D.
The mapping's key `profile` (default full) names the profile the candidate is laid over (the quick world's trials).

Besides greedy and pass@1 (and their spread over problems), it prints what moves smoothly under exact match: the
validation loss, its fall over the last quarter (still learning?), and the greedy accuracy of each letter
operator's steps grouped by the operator's frequency rank (rank bands 1-10, 11-26, 27-100, 101+: which facts a run holds).
"""
import dataclasses, json, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import ttc  # noqa: F401  (first: it pins the instruction set of torch and numpy)
import yaml
from ttc.models.evaluate import evaluate
from ttc.models.lm import load_model
from ttc.models.sampling import Sampler
from ttc.pipelines.ladder_study import pass1_spread, pretrain_on_world
from ttc.pipelines.study import Study, profile_params
from ttc.world import synthetic as W
from ttc.world.tokenizer import build_tokenizer

name, seed, world = sys.argv[1], int(sys.argv[2]), yaml.safe_load(sys.argv[3]) or {}
tokens = int(float(sys.argv[4])) if len(sys.argv) > 4 else None
profile = world.pop("profile", "full")
study = Study.from_params(profile_params(profile) | world)
cfg = study.config
pc = dataclasses.replace(cfg.pretrain, seed=seed, **({"tokens": tokens} if tokens else {}))
tokenizer, splits = build_tokenizer(), W.make_splits(cfg.world)
policy = sys.argv[5] if len(sys.argv) > 5 else cfg.ladder.policy
out = Path(__file__).resolve().parent / "models" / f"facts-{name}-{policy}-s{seed}-{pc.tokens}"
started = time.time()
meta = pretrain_on_world(policy, tokenizer, splits, cfg.world, pc, out, progress=False)
model, tokenizer, _ = load_model(out)
table = evaluate(model, tokenizer, splits["test"], 16, cfg.eval)


BANDS = ((10, "1-10"), (26, "11-26"), (100, "27-100"), (len(W.OPERATOR_NAMES), "101+"))
"""Rank bands of the operators (0-based rank below the bound): 11-26 are the last single letters, 27+ two-letter
names. (The first trials' lines, before this split, have the bands 1-10, 11-100 and 101+.)"""


def band(rank: int) -> str:
    return next(name for bound, name in BANDS if rank < bound)


# per letter-operator step of the greedy answers: right given the steps before it, by the operator's rank band
rank = {op: i for i, op in enumerate(W.OPERATOR_NAMES)}
chains = [p for p in splits["test"] if p.family == "modchain"]
sampler = Sampler(model, tokenizer, batch_size=cfg.eval.batch_size, max_new_tokens=cfg.eval.max_new_tokens)
steps = {name: [0, 0] for _, name in BANDS}
singles = [[0, 0] for _ in range(26)]  # each single letter's steps: where along the ranks facts stop being held
for problem, greedy in zip(chains, sampler.sample([W.prompt(p) for p in chains], n=1, temperature=0.0)):
    lines = [line for line in greedy[0].text.split("\n") if "=" in line]
    _, chain, _ = W.FAMILIES["modchain"].parse_question(problem.question)
    for (op, _), right in zip(chain, W.check_steps(problem, lines)):
        if op in rank:
            steps[band(rank[op])][0] += int(right)
            steps[band(rank[op])][1] += 1
            if rank[op] < 26:
                singles[rank[op]][0] += int(right)
                singles[rank[op]][1] += 1
line = {"name": name, "profile": profile, "world": world, "size": policy, "seed": seed, "tokens": pc.tokens,
        "train_s": round(meta["wall_s"]),
        "final_val_loss": round(meta["final_val_loss"], 4), "last_quarter_fall": round(meta["last_quarter_fall"], 3),
        "greedy": round(float(table.greedy_correct.mean()), 4), "pass1": round(float(table.pass1.mean()), 4),
        **{k: round(v, 3) for k, v in pass1_spread(table).items()},
        "greedy_by_level": table.groupby(["family", "level"]).greedy_correct.mean().round(2).to_dict(),
        "letter_steps_right_by_rank": {b: (round(k / n, 3) if n else None, n) for b, (k, n) in steps.items()},
        "single_letter_steps_right": [round(k / n, 2) if n else None for k, n in singles],
        "total_s": round(time.time() - started)}
print(json.dumps({k: (str(v) if isinstance(v, dict) and k == "greedy_by_level" else v) for k, v in line.items()}),
      flush=True)
