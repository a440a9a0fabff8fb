"""Collect the pretraining trials into figures/pretrain_trials.json (committed; rendered by ttc.report.findings).

The trials chose the pretraining recipe and the world before the study's models
were trained; they are not part of `make reproduce`. Each ran once on the
2-core machine, from this folder:

    python plateau.py --seed S [--iso 1] [--lr LR] [--curr 0.2] --tokens 1.5e6 --tag TAG   (writes TAG.json)
    python world.py d64-l4 MODULUS SEED [TOKENS current]   (one JSON line; `current`: the profile's levels)
    python evaluate_one.py data/full/models/d64-l4       (the m = 10 line: the study's model at the time)
    python size.py NAME SEED pretrain_tokens=D policy=...  (one JSON line each, into raw/ladder.jsonl: sizes,
                                                           seeds and D in the profile's world, compiled steps)
    python prm.py TOKENS                                   (one JSON line each, into raw/prm.jsonl: the trained
                                                           PRM's LM pretrained further by TOKENS, issue 14)
    python facts.py NAME SEED WORLD [TOKENS [SIZE]]        (one JSON line each, into raw/facts_*.jsonl: a candidate
                                                           world of letter-operator facts screened on the policy,
                                                           issue 32; a later file's line replaces an earlier one
                                                           of the same trial, re-evaluated with more rank bands;
                                                           with `profile: quick` in WORLD, raw/facts_quick.jsonl:
                                                           the quick profile's policy candidates)
    python facts.py NAME SEED '{pretrain_retry_share: ...}'  (into raw/retry.jsonl: retry documents, issue 33)
    python context.py NAME MODEL_DIR ...                   (into raw/context.jsonl: notebook 06's context test of
                                                           each retry trial's model and of the committed policy)

then `python collect.py raw` (raw/ holds the TAG.json files and the JSON lines of world.py and
evaluate_one.py in trials.log, as they came out; lines a script printed as text were copied into trials.log as
JSON, with a "note"; an interrupted trial left no file).
plateau.py's validation loss does not isolate documents, so the trials compare the training loss
(running mean over the batches, each document on its own when --iso 1) and greedy accuracy.
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from ttc.models.pretrain import last_quarter_fall  # noqa: E402
from ttc.models.lm import LADDER  # noqa: E402
from ttc.pipelines.parameters import profile_params  # noqa: E402
LABELS = {"const": "packed rows, documents see each other (before)", "lr6e-3": "the same, peak lr 6e-3 (2x)",
          "curr": "the same, levels unlocked over the first 20% of steps", "iso": "each document attends only to itself"}


def plateau_trials(folder: Path) -> list[dict]:
    out = []
    for path in sorted(folder.glob("*_s[0-9].json")):
        d = json.loads(path.read_text())
        kind, seed = path.stem.rsplit("_s", 1)
        at = lambda t: min(d["train"], key=lambda p: abs(p[0] - t))[1]  # noqa: E731
        out.append({"trial": LABELS[kind], "seed": int(seed), "train_loss_0.5M": at(5e5), "train_loss_1M": at(1e6),
                    "train_loss_1.5M": at(1.5e6), "greedy_1.5M": d["greedy"]["all"], "n_test": d["args"]["n_eval"]})
    return out


def world_trials(folder: Path) -> list[dict]:
    lines = [line for line in (folder / "trials.log").read_text().splitlines() if line.startswith("{")]
    keep = ("name", "modulus", "seed", "tokens", "greedy", "pass1", "below_0.1", "above_0.9", "between", "by_family",
            "last_quarter_fall")
    # the levels of before (1-16 operations / digits) unless the line says otherwise
    out = []
    for line in map(json.loads, lines):
        row = {k: line.get(k) for k in keep} | {"levels": line.get("levels", "1-16 steps")}
        if row["last_quarter_fall"] is None and line.get("val"):  # from the curve world.py printed
            n = len(line["val"])
            row["last_quarter_fall"] = last_quarter_fall([[(i + 1) / n, v] for i, v in enumerate(line["val"])])
        out.append(row)
    return out


def size_trials(folder: Path) -> list[dict]:
    """Sizes x training seeds x D in the profile's world (size.py), with the test results per family and level."""
    keep = ("name", "seed", "tokens", "peak_lr", "train_s", "greedy", "pass1", "below_0.1", "above_0.9", "between",
            "by_family", "by_level", "last_quarter_fall")
    out = []
    for line in map(json.loads, (folder / "ladder.jsonl").read_text().splitlines()):
        out.append({k: line[k] for k in keep} | {"final_val_loss": line["val"][-1], "note": line.get("note", ""),
                                                 "changes": {k: v for k, v in line["changes"].items()
                                                             if k != "pretrain_tokens"}})
    return sorted(out, key=lambda r: (r["tokens"], int(r["name"][1:].split("-")[0]), r["seed"]))


def prm_trials(folder: Path) -> list[dict]:
    """The probability PRM with its LM pretrained further by 0, 2M, 8M tokens (prm.py), on notebook 03's subset."""
    path = folder / "prm.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return sorted(lines, key=lambda r: r["continued_tokens"])


FACTS_FILES = ("facts_A", "facts_B", "facts_C", "facts_C16", "facts_C16_ranks", "facts_lr")
"""The world-screening lines of issue 32, in the order they were written (facts_lr: the adopted world, d48-l3 at
the policy's peak learning rate)."""
WORLD_KEYS = ("modchain_operators", "modchain_operator_zipf", "modchain_operator_share")
"""What a facts trial's world always states: a line that does not set one ran on the full profile's."""


def facts_trials(folder: Path) -> list[dict]:
    """Candidate worlds of letter-operator facts (facts.py): the policy at 3 training seeds, then the next sizes."""
    keep = ("name", "world", "seed", "tokens", "train_s", "greedy", "pass1", "below_0.1", "above_0.9", "between",
            "last_quarter_fall", "final_val_loss", "letter_steps_right_by_rank", "single_letter_steps_right")
    full = profile_params("full")
    trials = {}
    for name in FACTS_FILES:
        for line in map(json.loads, (folder / f"{name}.jsonl").read_text().splitlines()):
            row = {k: line.get(k) for k in keep} | {"size": line.get("size") or "d32-l2"}  # the first lines: the policy
            row["world"] = row["world"] | {k: full[k] for k in WORLD_KEYS if k not in row["world"]}
            trials[(row["name"], row["size"], row["seed"], row["tokens"])] = row
    return sorted(trials.values(), key=lambda r: (r["name"], r["tokens"], int(r["size"][1:].split("-")[0]), r["seed"]))


QUICK_RECIPE_THEN = {"pretrain_block": 128, "pretrain_rows": 8}
"""The recipe's rows when the quick trials ran (issue 32), before issue 33's rows of 256 tokens, 4 a step: a trial's
line states only what it changed."""


def quick_trials(folder: Path) -> list[dict]:
    """The quick profile's policy candidates (facts.py with `profile: quick`), in the order they ran."""
    path = folder / "facts_quick.jsonl"
    out = []
    for line in map(json.loads, path.read_text().splitlines() if path.exists() else []):
        params = profile_params("quick") | QUICK_RECIPE_THEN | line["world"]
        # the peak rate the size trained at: the profile's rate is its policy's, scaled by width (PretrainConfig)
        lr = params["pretrain_lr"] * (LADDER[params["policy"]].hidden / LADDER[line["size"]].hidden) \
            ** params["pretrain_lr_width_power"]
        out.append({"name": line["name"], "size": line["size"], "tokens": line["tokens"], "train_s": line["train_s"],
                    "operators": params["modchain_operators"], "lr": round(lr, 6),
                    "step_tokens": params["pretrain_block"] * params["pretrain_rows"],
                    "greedy": line["greedy"], "final_val_loss": line["final_val_loss"],
                    "last_quarter_fall": line["last_quarter_fall"],
                    "letter_steps_top10": line["letter_steps_right_by_rank"]["1-10"][0]})
    return out


def retry_trials(folder: Path) -> list[dict]:
    """Issue 33's retry documents screened on the policy (facts.py lines in raw/retry.jsonl), each with notebook
    06's context test of its model (context.py lines in raw/context.jsonl, by name; the committed policy's own
    line stands first, for comparison)."""
    path = folder / "retry.jsonl"
    runs = {line["name"]: line for line in map(json.loads, path.read_text().splitlines())} if path.exists() else {}
    context = folder / "context.jsonl"
    out = []
    for line in map(json.loads, context.read_text().splitlines() if context.exists() else []):
        run = runs.get(line["name"]) or line.get("reference", {})  # the committed policy: its study's own numbers
        recipe = {k: v for k, v in run.get("world", {}).items() if k.startswith("pretrain_")}
        out.append({"name": line["name"], "recipe": recipe, "seed": run.get("seed", line["config"]["seed"]),
                    "tokens": line["config"]["tokens"], "train_s": run.get("train_s"), "greedy": run.get("greedy"),
                    "final_val_loss": run.get("final_val_loss"), "last_quarter_fall": run.get("last_quarter_fall"),
                    "loss_by_attempts": line["loss_by_attempts"], "loss_alone": line["loss_alone"],
                    "paired_ratio_max": line["paired_ratio_max"]})
    return sorted(out, key=lambda r: (bool(r["recipe"]), r["name"]))


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    record = {"plateau": plateau_trials(folder), "world": world_trials(folder), "sizes": size_trials(folder),
              "prm": prm_trials(folder), "facts": facts_trials(folder), "quick": quick_trials(folder),
              "retry": retry_trials(folder)}
    (ROOT / "figures" / "pretrain_trials.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {ROOT / 'figures' / 'pretrain_trials.json'}: "
          + " + ".join(f"{len(v)} {k}" for k, v in record.items()) + " trials")
