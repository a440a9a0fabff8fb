"""Does a base read its context? (issue 33) Notebook 06's own test on any saved model, before any revision
fine-tuning: the mean loss per target token of the full profile's held-out revision trajectories (the committed
policy's own answers: 0-4 incorrect attempts, then a correct one) by the number of attempts in context. One JSON
line per model: the loss by attempts in context, the same targets' loss after the question alone (`loss_alone`),
and the largest ratio of the two over 1-4 attempts (`paired_ratio_max`; `ratio_max` divides by the loss of the
trajectories without attempts instead, which come from easier problems).

    python bench/trials/context.py NAME MODEL_DIR [NAME MODEL_DIR ...]

Needs the full profile's notebook 06 artifacts (data/full/results/06_revision_data.parquet and the revision
model's record of its held-out problems); the trajectories are rebuilt from them exactly as notebook 06 builds them.
"""
import json, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import ttc  # noqa: F401  (first: it pins the instruction set of torch and numpy)
import pandas as pd
from ttc.methods.revisions import context_losses, training_trajectories
from ttc.models.lm import load_model
from ttc.pipelines.problem_sets import revision_and_orm_problems
from ttc.pipelines.study import Study, profile_params

study = Study.from_params(profile_params("full"))
rc = study.config.revisions
train_problems, orm_problems = revision_and_orm_problems(study)
by_id = {p.id: p for p in train_problems + orm_problems} | study.test_problems()
answers = pd.read_parquet(study.path("results/06_revision_data.parquet"))
held = set(json.loads(study.path("revisions/model/training.json").read_text())["val_problems"])
items = [t for t in training_trajectories(answers, rc) if t.problem_id in held]
pairs = sys.argv[1:]
if not pairs or len(pairs) % 2:
    sys.exit(__doc__)
for name, folder in zip(pairs[::2], pairs[1::2]):
    model, tokenizer, meta = load_model(Path(folder))
    losses = context_losses({name: model}, items, by_id, tokenizer, rc.max_positions)
    by_k = {int(k): float(v) for k, v in zip(losses.attempts_in_context, losses.loss_per_token)}
    alone = {int(k): float(v) for k, v in zip(losses.attempts_in_context, losses.loss_alone)}
    print(json.dumps({"name": name, "model": folder, "config": meta.get("config"), "loss_by_attempts": by_k,
                      "loss_alone": alone, "ratio_max": max(by_k[k] for k in by_k if k) / by_k[0],
                      "paired_ratio_max": max(by_k[k] / alone[k] for k in by_k if k),
                      "trajectories": dict(zip(losses.attempts_in_context.astype(int).astype(str),
                                               losses.trajectories.astype(int)))}), flush=True)
