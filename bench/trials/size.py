"""A ladder trial: one size pretrained in the full profile's world with some parameters changed, then evaluated
on the 500 test problems (greedy, and pass@1 from 16 samples), as notebook 01 evaluates.

    python bench/trials/size.py NAME SEED key=value ...   (values in YAML, e.g. pretrain_tokens=8e6 policy=d48-l3)
"""
import dataclasses, re, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import yaml
from ttc.models.lm import LADDER, ModelSize
from ttc.pipelines.study import Study, profile_params
from ttc.world import synthetic as W
from ttc.world.tokenizer import build_tokenizer
from trial import run_trial

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
run_trial(name, seed, tok, splits, cfg.world, pc, cfg.eval, out, {"changes": changes})
