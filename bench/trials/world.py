"""A world trial: one ladder size pretrained with the full profile's settings at another modulus, then evaluated."""
import dataclasses, json, sys, time
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
import ttc  # noqa: F401  (first: it pins the instruction set of torch and numpy)
import numpy as np
from ttc.models.evaluate import evaluate
from ttc.models.lm import load_model
from ttc.models.pretrain import pretrain
from ttc.pipelines.ladder_study import pass1_spread
from ttc.pipelines.study import Study, profile_params
from ttc.world import synthetic as W
from ttc.world.tokenizer import build_tokenizer
name, modulus, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tokens = int(float(sys.argv[4])) if len(sys.argv) > 4 else None
# the levels the modulus trials ran with (1-16 steps); `current` as the 5th argument: the profile's own
OPS, DIGITS = (((1, 1), (2, 3), (4, 6), (7, 10), (11, 16)), ((1, 2), (3, 4), (5, 7), (8, 11), (12, 16)))
levels = {} if sys.argv[5:] == ["current"] else {"modchain_ops": OPS, "addition_digits": DIGITS}
st = Study.from_params(profile_params("full") | {"modulus": modulus, **levels})
cfg = st.config
pc = dataclasses.replace(cfg.pretrain, seed=seed, **({"tokens": tokens} if tokens else {}))
tok = build_tokenizer(); splits = W.make_splits(cfg.world)
out = f"models/m{modulus}-{name}-s{seed}-{pc.tokens}"
t = time.time()
meta = pretrain(name, tok, splits["train"], splits["val"], pc, out, progress=False, extra_meta={"world": json.loads(json.dumps(dataclasses.asdict(cfg.world)))})
m, tok, _ = load_model(out)
tab = evaluate(m, tok, splits["test"], 16, cfg.eval)
res = {"levels": "chains 1-26 steps, additions 1-16 digits" if levels == {} else "1-16 steps", "name": name, "modulus": modulus, "seed": seed, "tokens": pc.tokens, "train_s": meta["wall_s"], "val": [round(v, 4) for _, v in meta["val_curve"]],
       "greedy": tab.greedy_correct.mean(), "pass1": tab.pass1.mean(), **pass1_spread(tab),
       "by_family": tab.groupby("family").greedy_correct.mean().round(3).to_dict(),
       "by_level": tab.groupby(["family", "level"]).pass1.mean().round(2).to_dict(), "total_s": time.time() - t}
print(json.dumps({k: (str(v) if isinstance(v, dict) else v) for k, v in res.items()}), flush=True)
