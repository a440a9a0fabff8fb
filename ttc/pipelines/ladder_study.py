"""Notebook 01's pipeline: the world's splits, the pretrained ladder, and its accuracy.

Every artifact records the settings that made it; a rerun with the same
settings skips it, and one with different settings refuses to reuse it
(instead of silently mixing results), naming the directory to remove.

Use: `splits = load_splits(world_config, data_dir)`,
`train_ladder(...)`, `evaluate_ladder(...)`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from ttc.core.compute import Ledger
from ttc.core.store import cached_table, check_artifact, reusable, run_id, write_dir
from ttc.models.evaluate import EvalConfig, evaluate
from ttc.models.lm import Ladder, load_model, model_record, read_meta
from ttc.models.pretrain import STILL_LEARNING, PretrainConfig, pretrain
from ttc.world import synthetic as W


SPLITS = ("train", "val", "test")


def _read_split_files(folder: Path) -> dict[str, list[W.Problem]]:
    return {name: [W.Problem.from_dict(json.loads(line)) for line in (folder / f"{name}.jsonl").open()]
            for name in SPLITS}


def load_splits(config: W.WorldConfig, folder: Path) -> dict[str, list[W.Problem]]:
    """The world's splits, written once to `folder` (`study.path("world")`; JSON lines) and read back after.
    A world made with other settings is refused; a damaged one is made again (it is cheap)."""
    folder = Path(folder)
    settings = {"world": asdict(config)}
    if reusable(folder, settings, "the world's splits"):
        return _read_split_files(folder)
    splits = W.make_splits(config)

    def fill(tmp: Path) -> None:
        for name in SPLITS:
            (tmp / f"{name}.jsonl").write_text("".join(json.dumps(p.to_dict()) + "\n" for p in splits[name]))

    write_dir(folder, fill, settings)
    return splits


def read_splits(folder: Path, config: W.WorldConfig) -> dict[str, list[W.Problem]]:
    """The splits notebook 01 wrote to `folder` with the world `config`, for the notebooks after it."""
    check_artifact(folder, {"world": asdict(config)}, "the world's splits", made_by="notebook 01")
    return _read_split_files(folder)


def policy_dir(models: Path, name: str) -> Path:
    """The directory of the pretrained ladder model `name` in the folder `models`, checked to be there and whole."""
    path = Path(models) / name
    check_artifact(path, what=f"pretrained model {name!r}", made_by="notebook 01")
    return path


def pretrain_on_world(name: str, tokenizer, splits: dict, world_config: W.WorldConfig, config: PretrainConfig,
                      out_dir: Path, progress: bool = True, init_from: Path | None = None) -> dict:
    """One ladder size pretrained on the world's training split, with the world recorded beside it
    (the one place that says what a study model's settings are, for notebook 01 and the seed study).
    pretrain() skips a finished model, and refuses one made with other settings."""
    world = json.loads(json.dumps(asdict(world_config)))  # as JSON reads it back
    return pretrain(name, tokenizer, splits["train"], splits["val"], config, Path(out_dir), progress=progress,
                    extra_meta={"world": world}, init_from=init_from)


def train_ladder(ladder: Ladder, tokenizer, splits: dict, world_config: W.WorldConfig, config: PretrainConfig,
                 models_dir: Path, progress: bool = True) -> pd.DataFrame:
    """Pretrain every size (skipping finished ones); one row per size with N, D, FLOPs and time."""
    rows = []
    for name in ladder.names:
        meta = pretrain_on_world(name, tokenizer, splits, world_config, config, Path(models_dir) / name, progress)
        rows.append({k: meta[k] for k in ("name", "hidden", "layers", "parameters", "tokens", "flops", "wall_s",
                                           "final_val_loss", "last_quarter_fall")} | {"policy": name == ladder.policy})
    return pd.DataFrame(rows)


def warn_still_learning(ladder_table: pd.DataFrame) -> None:
    """Warn, with the number, for every model whose validation loss was still falling at the end."""
    import warnings

    for r in ladder_table.itertuples():
        if r.last_quarter_fall > STILL_LEARNING:
            warnings.warn(f"{r.name} is still learning: its validation loss fell {r.last_quarter_fall:.1%} over the "
                          f"last quarter of training (flat is below {STILL_LEARNING:.0%}); more tokens would change "
                          f"its accuracy", stacklevel=2)


def loss_curves(ladder: Ladder, models_dir: Path) -> pd.DataFrame:
    rows = []
    for name in ladder.names:
        meta = read_meta(Path(models_dir) / name)
        for split, key in (("train", "train_curve"), ("val", "val_curve")):
            rows += [{"model": name, "split": split, "tokens": t, "loss": loss} for t, loss in meta[key]]
    return pd.DataFrame(rows)


def evaluate_model(model_dir: Path, name: str, problems: list[W.Problem], config: EvalConfig, n_samples: int,
                   path: Path) -> pd.DataFrame:
    """Greedy accuracy and sampled pass@1 of one model on `problems`, one row per problem, cached at
    `path` and keyed by the evaluation settings, the problems and the model's own pretraining record."""
    # "greedy_tokens": a table from before the greedy answers' token counts were kept is made again
    settings = {"eval": config, "n_samples": n_samples, "problems": [p.id for p in problems],
                "model": model_record(model_dir), "greedy_tokens": True}

    def build() -> pd.DataFrame:
        model, tokenizer, meta = load_model(model_dir)
        ledger = Ledger()
        table = evaluate(model, tokenizer, problems, n_samples, config, ledger=ledger)
        table.insert(0, "model", name)
        for column, key in (("parameters", "parameters"), ("pretrain_flops", "flops"), ("pretrain_tokens", "tokens")):
            table[column] = meta[key]
        table["eval_generated_tokens"] = ledger.generated_tokens  # the whole evaluation's, per row for tracing
        table["run_id"] = run_id(config, n_samples, settings["problems"], settings["model"])
        return table

    return cached_table(path, settings, build, f"evaluation of {name}")


def evaluate_ladder(ladder: Ladder, problems: list[W.Problem], config: EvalConfig, models_dir: Path,
                    eval_dir: Path, progress: bool = True) -> pd.DataFrame:
    """Greedy accuracy and sampled pass@1 of every size on `problems`, one row per (model, problem);
    each model's table is cached in `eval_dir` (`study.path("results/01_eval")`)."""
    from tqdm.auto import tqdm

    tables = [evaluate_model(Path(models_dir) / name, name, problems, config,
                             config.n_samples_policy if name == ladder.policy else config.n_samples_other,
                             Path(eval_dir) / f"{name}.parquet")
              for name in tqdm(ladder.names, desc="evaluate ladder", disable=not progress)]
    return pd.concat(tables, ignore_index=True)


def pass1_spread(table: pd.DataFrame, low: float = 0.1, high: float = 0.9) -> dict[str, float]:
    """Fractions of problems with pass@1 below `low`, above `high`, and in between."""
    p = table["pass1"]
    return {f"below_{low}": float((p < low).mean()), f"above_{high}": float((p > high).mean()),
            "between": float(((p >= low) & (p <= high)).mean())}


def accuracy_summary(table: pd.DataFrame, ladder_table: pd.DataFrame) -> pd.DataFrame:
    """Per model: greedy accuracy and mean pass@1, with parameters and pretraining FLOPs."""
    acc = table.groupby("model").agg(greedy=("greedy_correct", "mean"), pass1=("pass1", "mean"),
                                     n_problems=("problem_id", "count"), n_samples=("n_samples", "first"))
    out = ladder_table.set_index("name").join(acc).reset_index().rename(columns={"index": "name"})
    return out.sort_values("parameters").reset_index(drop=True)


CEILING = 0.85
"""The largest model's greedy accuracy at most this: the rarest facts keep it off the ceiling, so that notebook 07's
14x comparison has room on both sides."""
POLICY_GREEDY = (0.15, 0.60)
"""The policy's greedy accuracy within this range: problems left for test-time compute to solve, and solved ones."""


def ladder_checks(summary: pd.DataFrame, spread: dict[str, float]) -> dict[str, tuple[bool, str]]:
    """The properties notebook 01 must show, each as (holds, what was measured)."""
    s = summary.sort_values("parameters")
    rising = {col: all(b > a for a, b in zip(s[col], s[col].iloc[1:])) for col in ("greedy", "pass1")}
    largest = s["greedy"].iloc[-1]
    policy = s.loc[s["policy"]].iloc[0] if "policy" in s and s["policy"].any() else s.iloc[0]
    low, high = POLICY_GREEDY
    below, above, between = spread["below_0.1"], spread["above_0.9"], spread["between"]
    return {
        "accuracy rises with size (greedy and pass@1)": (
            all(rising.values()),
            "; ".join(f"{label}: " + " < ".join(f"{n} {v:.1%}" for n, v in zip(s["name"], s[col]))
                      for col, label in (("greedy", "greedy"), ("pass1", "pass@1")))),
        f"every model has flattened (validation loss fell <= {STILL_LEARNING:.0%} over the last quarter)": (
            bool((s["last_quarter_fall"] <= STILL_LEARNING).all()),
            ", ".join(f"{n} {v:.1%}" for n, v in zip(s["name"], s["last_quarter_fall"]))),
        f"largest model not at ceiling (greedy <= {CEILING:.0%})": (largest <= CEILING, f"{s['name'].iloc[-1]}: {largest:.1%}"),
        f"policy greedy between {low:.0%} and {high:.0%}": (low <= policy["greedy"] <= high,
                                                           f"{policy['name']}: {policy['greedy']:.1%}"),
        "policy pass@1 spread (>=15% below 0.1, >=15% above 0.9, >=30% between)": (
            below >= 0.15 and above >= 0.15 and between >= 0.30,
            f"below 0.1: {below:.1%}, above 0.9: {above:.1%}, between: {between:.1%}"),
    }
