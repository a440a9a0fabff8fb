"""One trained model, greedy and 16-sample pass@1 on the full profile's test split, by family and level."""
import sys; sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
import ttc  # noqa: F401  (first: it pins the instruction set of torch and numpy)
import numpy as np
from ttc.models.lm import load_model
from ttc.models.sampling import Sampler
from ttc.pipelines.ladder_study import read_splits
from ttc.pipelines.study import Study, profile_params
from ttc.world import synthetic as W
st = Study.from_params(profile_params("full"))
test = read_splits(st.path("world"), st.config.world)["test"]
m, tok, meta = load_model(sys.argv[1])
g = Sampler(m, tok, batch_size=256, max_new_tokens=192).sample([W.prompt(p) for p in test], n=1, temperature=0.0)
c = [W.grade(p, x[0].text) for p, x in zip(test, g)]
print("greedy", np.mean(c), {f: np.mean([ok for ok, p in zip(c, test) if p.family == f]) for f in ("modchain", "addition")})
import pandas as pd
from ttc.models.evaluate import evaluate, EvalConfig
from ttc.pipelines.ladder_study import pass1_spread
tab = evaluate(m, tok, test, 16, EvalConfig())
print(tab.groupby(["family","level"]).agg(g=("greedy_correct","mean"), p=("pass1","mean")).round(2).T.to_string())
print(pass1_spread(tab))
