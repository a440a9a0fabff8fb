"""What every pretraining trial does after choosing its world and settings: pretrain one size, evaluate it on the
test split (greedy, and pass@1 from 16 samples, as notebook 01 evaluates) and print one JSON line."""
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from ttc.models.evaluate import evaluate  # noqa: E402
from ttc.models.lm import load_model  # noqa: E402
from ttc.pipelines.ladder_study import pass1_spread, pretrain_on_world  # noqa: E402


def run_trial(name: str, seed: int, tokenizer, splits: dict, world, pretrain_config, eval_config, out: Path,
              record: dict, level_metric: str = "pass1") -> dict:
    """Pretrain `name` into `out` (skipped when it is there), evaluate, print and return the result line:
    `record` (what the trial changed) plus the curve, the spread and the accuracy per family and level
    (`level_metric`: the per-problem column averaged per level, pass1 or greedy_correct)."""
    t = time.time()
    meta = pretrain_on_world(name, tokenizer, splits, world, pretrain_config, out, progress=False)
    model, tokenizer, _ = load_model(out)
    tab = evaluate(model, tokenizer, splits["test"], 16, eval_config)
    tab.to_parquet(Path(out) / "test_eval.parquet")  # per problem, for analyses of where a model fails
    res = {"name": name, "seed": seed, **record, "tokens": pretrain_config.tokens, "peak_lr": meta["peak_lr"],
           "train_s": round(meta["wall_s"]), "val": [round(v, 4) for _, v in meta["val_curve"]],
           "last_quarter_fall": round(meta["last_quarter_fall"], 3),
           "greedy": tab.greedy_correct.mean(), "pass1": tab.pass1.mean(), **pass1_spread(tab),
           "by_family": tab.groupby("family").greedy_correct.mean().round(3).to_dict(),
           "by_level": {f"{f}{lv}": v for (f, lv), v in tab.groupby(["family", "level"])[level_metric].mean()
                        .round(2).items()},
           "total_s": round(time.time() - t)}
    print(json.dumps(res), flush=True)
    return res
