"""A trained-PRM trial (issue 14): the probability PRM with its LM pretrained further by TOKENS (0: the policy's LM
as it is), measured on notebook 03's verifier-ladder subset of the full profile, with its head and as its LM's bare
likelihood; prints one JSON line (append it to raw/prm.jsonl; `python collect.py raw` renders them).

    python bench/trials/prm.py TOKENS      (needs the full profile's notebooks 01-03 run: the policy, pool, labels)
"""
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from ttc.core.store import read_table  # noqa: E402
from ttc.models.lm import load_model  # noqa: E402
from ttc.pipelines.ladder_study import pretrain_on_world  # noqa: E402
from ttc.pipelines.study import Study, profile_params  # noqa: E402
from ttc.pipelines.verifier_study import reference_subset, verifier_report  # noqa: E402
from ttc.verifiers.probability_prm import ProbabilityPRM, train_head  # noqa: E402
from ttc.pipelines.problem_sets import label_problems  # noqa: E402
from ttc.pipelines.study_verifiers import prm_lm_pretrain_config  # noqa: E402
from ttc.verifiers.reference import LikelihoodVerifier  # noqa: E402
from ttc.verifiers.trained import score_pool  # noqa: E402

tokens = int(float(sys.argv[1]))
study = Study.from_params(profile_params("full") | {"prm_lm_tokens": tokens})
cfg = study.config
out = Path(__file__).resolve().parent / "models" / f"prm-lm-{tokens}"
policy = study.model_dir(cfg.ladder.policy)
started = time.time()
if tokens:
    _, tokenizer, _ = load_model(policy)
    pretrain_on_world(cfg.ladder.policy, tokenizer, study.splits(), cfg.world, prm_lm_pretrain_config(study),
                      out / "lm", progress=False, init_from=policy)
lm_dir = out / "lm" if tokens else policy
lm_s = time.time() - started
test, pool, difficulty = study.test_problems(), study.read("pool"), study.read("difficulty")
vl = cfg.verifier_ladder
subset = reference_subset(pool, difficulty["bin"], vl.n_problems, vl.n_samples, cfg.seed)
answers = {pid: p.answer for pid, p in test.items()}
# the profile's own labels (this trial varies only the LM, so its study is a variant of notebook 03's)
labels = read_table(Study.from_params(profile_params("full")).path("results/03_prm_labels.parquet"),
                    what="the PRM labels", made_by="notebook 03")
lm = LikelihoodVerifier.load(lm_dir)
head = train_head(lm, labels, {p.id: p for p in label_problems(study)}, cfg.probability_prm, out / "head",
                  {"tokens": tokens})
head_s = time.time() - started - lm_s
line = {"continued_tokens": tokens, "lm_s": round(lm_s), "head_s": round(head_s), "head_val_loss": head["val_loss"]}
for kind, verifier in (("head", ProbabilityPRM(lm, head["weights"], head["bias"])), ("likelihood", lm)):
    scores = score_pool(verifier, kind, subset, test, out / f"{kind}_scores.parquet", settings={"tokens": tokens},
                        progress=False)
    report = verifier_report(scores, subset, answers, vl.budget, cfg.search.n_repeats, cfg.search.n_boot, cfg.seed)
    line[kind] = {k: round(v, 4) if isinstance(v, float) else v for k, v in report.items()}
line["total_s"] = round(time.time() - started)
print(json.dumps(line), flush=True)
