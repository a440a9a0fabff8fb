"""A ladder trial: one size pretrained in the full profile's world with some parameters changed, then evaluated
on the 500 test problems (greedy, and pass@1 from 16 samples), as notebook 01 evaluates.

    python bench/trials/size.py NAME SEED key=value ...   (values in YAML, e.g. pretrain_tokens=8e6 policy=d48-l3)
"""
import dataclasses, json, re, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import yaml
from ttc import world as W
from ttc.study import Study, profile_params
from ttc.ladder_study import pass1_spread, pretrain_on_world
from ttc.tokenizer import build_tokenizer
from ttc.evaluate import evaluate
from ttc.lm import LADDER, ModelSize, load_model

name, seed = sys.argv[1], int(sys.argv[2])
# a size with another head count, named dH-lL-hN (e.g. d32-l2-h4: 4 heads of 8 dimensions), for head trials
if name not in LADDER and (match := re.fullmatch(r"d(\d+)-l(\d+)-h(\d+)", name)):
    hidden, layers, heads = map(int, match.groups())
    LADDER[name] = ModelSize(name, hidden, layers, heads, 4 * hidden)
changes = {k: yaml.safe_load(v) for k, v in (a.split("=", 1) for a in sys.argv[3:])}
if "pretrain_tokens" in changes:
    changes["pretrain_tokens"] = int(float(changes["pretrain_tokens"]))
cfg = Study.from_params(profile_params("full") | changes).config
pc = dataclasses.replace(cfg.pretrain, seed=seed)
tok = build_tokenizer(); splits = W.make_splits(cfg.world)
out = Path("models") / ("-".join(f"{k}{v}" for k, v in sorted(changes.items())) + f"-{name}-s{seed}")
t = time.time()
meta = pretrain_on_world(name, tok, splits, cfg.world, pc, out, progress=False)
m, tok, _ = load_model(out)
tab = evaluate(m, tok, splits["test"], 16, cfg.eval)
tab.to_parquet(out / "test_eval.parquet")  # per problem, for analyses of where a model fails
res = {"name": name, "seed": seed, "changes": changes, "tokens": pc.tokens, "peak_lr": meta["peak_lr"],
       "train_s": round(meta["wall_s"]), "val": [round(v, 4) for _, v in meta["val_curve"]],
       "last_quarter_fall": round(meta["last_quarter_fall"], 3),
       "greedy": tab.greedy_correct.mean(), "pass1": tab.pass1.mean(), **pass1_spread(tab),
       "by_family": tab.groupby("family").greedy_correct.mean().round(3).to_dict(),
       "by_level": {f"{f}{l}": v for (f, l), v in tab.groupby(["family", "level"]).pass1.mean().round(2).items()},
       "total_s": round(time.time() - t)}
print(json.dumps(res), flush=True)
