"""Findings rendered from numbers: each notebook's summary, its closing text, and the README's results.

Each notebook ends by building a small JSON summary of its headline numbers
from its results tables (`summary_NN`), saving it beside its figures
(`save_summary`: `figures/NN_summary.json` for the full profile, committed;
`figures/<profile>/` otherwise) and rendering its findings from it
(`findings_NN`), so that no number in the prose is typed by hand. The
README's claims table (`ttc.report.claims`) and glance, and docs/results.md (every notebook's findings), are
rendered from the committed summaries: `python -m ttc.report.findings readme` rewrites them, and a test fails
when they disagree.

Use: `s = summary_03(...)`; `save_summary(study, "03", s)`; `Markdown(findings_03(s))`.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pandas as pd

from ttc.core.config import ROOT
from ttc.core.store import figures_dir, plain, write_json
from ttc.pipelines.stages import stage_of_path
from ttc.pipelines.study_verifiers import gain_column
from ttc.pipelines.verifier_study import VERIFIERS
from ttc.report.numbers import by_number as _by_number
from ttc.report.numbers import pct as _pct
from ttc.verifiers.spec import PERFECT_CHECKER, VerifierSpec

NOTEBOOKS = ("01", "seed_study", "02", "03", "04", "05", "06", "07")  # in the README's order
README_START, README_END = "<!-- results: rendered by `python -m ttc.report.findings readme` -->", "<!-- results end -->"


def _pts(x: float) -> str:
    return f"{100 * x:+.1f} points"


def _num(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _budget_key(d: dict) -> dict:
    return {str(k): v for k, v in d.items()}



def save_summary(study, number: str, summary: dict) -> dict:
    """`figures/NN_summary.json` (full profile) or `figures/<profile>/NN_summary.json` (a variant's beside it,
    `NN_summary--<variant>.json`), with the profile and every setting the notebook's results depend on beside
    the numbers. Returns the summary as read back from JSON, so that the notebook renders exactly what the
    README will."""
    from ttc.report.plots import figure_name

    stage = stage_of_path(f"results/{number}_summary")
    variant = study.variant(stage)
    record = {"notebook": number, "profile": study.config.profile, "summary": plain(summary),
              "settings": study.for_stage(stage).describe(), **({"variant": variant.values} if variant.name else {})}
    write_json(figures_dir(study.config.profile) / f"{figure_name(study, f'{number}_summary')}.json", record,
               manifest=False)
    return record["summary"]


def load_summaries(folder: Path | None = None, variant: str = "") -> dict[str, dict]:
    """The committed summaries by notebook: the profile's, or a variant's (`NN_summary--<variant>.json`, the
    notebooks the variant reran)."""
    folder = Path(folder) if folder else ROOT / "figures"
    suffix = f"--{variant}" if variant else ""
    return {n: json.loads((folder / f"{n}_summary{suffix}.json").read_text())["summary"]
            for n in NOTEBOOKS if (folder / f"{n}_summary{suffix}.json").exists()}


def load_seed_summaries(folder: Path | None = None) -> dict[int, dict[str, dict]]:
    """The summaries of the policy at the claims' other training seeds (`make claims-seeds`), by seed; a seed
    not run yet is left out."""
    from ttc.report.claims import POLICY_SEEDS

    found = {seed: load_summaries(folder, f"policy_seed-{seed}") for seed in POLICY_SEEDS}
    return {seed: s for seed, s in found.items() if s}


# --------------------------------------------------------------------------
# 01: the ladder


def summary_01(summary: pd.DataFrame, spread: dict, checks: dict, policy: str, tokens: int,
               seed_table: pd.DataFrame | None = None, knowledge: pd.DataFrame | None = None,
               world: str | None = None) -> dict:
    """Notebook 01's summary; `world` the world's description (`ttc.world.synthetic.describe`)."""
    models = [{"name": r["name"], "parameters": int(r["parameters"]), "greedy": float(r["greedy"]),
               "pass1": float(r["pass1"]), "wall_s": float(r["wall_s"]), "final_val_loss": float(r["final_val_loss"]),
               "last_quarter_fall": float(r["last_quarter_fall"]), "policy": r["name"] == policy}
              for _, r in summary.sort_values("parameters").iterrows()]
    seeds = None if seed_table is None else {
        model: [float(v) for v in g.sort_values("seed")["greedy"]] for model, g in seed_table.groupby("model")}
    return {"world": world, "tokens": int(tokens), "policy": policy, "models": models, "policy_spread": spread,
            "span": models[-1]["parameters"] / next(m["parameters"] for m in models if m["policy"]),
            "checks": {name: bool(ok) for name, (ok, _) in checks.items()}, "seed_study": seeds,
            "facts": None if knowledge is None else [
                {"model": r["model"], "facts_shown": int(r["facts_shown"]), "facts_held": float(r["facts_held"]),
                 "bits_per_parameter": float(r["bits_per_parameter"]),
                 "half_held_from": None if pd.isna(r["half_held_from"]) else int(r["half_held_from"])}
                for _, r in knowledge.iterrows()]}


CAPACITY_BITS_PER_PARAMETER = 1.0
"""What language models store at ~100 exposures per fact, and about half of what they store at ~1000
(Allen-Zhu and Li, Physics of Language Models 3.3, arXiv 2404.05405): a size that stores well below it is not
bound by its capacity."""


def findings_facts(facts: list[dict]) -> str:
    """What each size holds of the world's facts, and what binds it, from `summary_01`'s "facts"."""
    each = "; ".join(f"{f['model']} an estimated {f['facts_held']:,.0f} of the {f['facts_shown']:,} facts its training "
                     f"showed ({f['bits_per_parameter']:.2f} bits per parameter), half of those shown "
                     + (f"at least {f['half_held_from']:,} times" if f["half_held_from"] is not None else "in no bin")
                     for f in facts)
    highest = max(f["bits_per_parameter"] for f in facts)
    thresholds = [f["half_held_from"] for f in facts]
    falling = all(t is not None for t in thresholds) and all(b < a for a, b in zip(thresholds, thresholds[1:]))
    verdict = (f"Every size stores at most {highest:.2f} bits per parameter, well below the ~{CAPACITY_BITS_PER_PARAMETER:g} "
               "bit per parameter language models reach at ~100 exposures per fact (Allen-Zhu and Li, arXiv 2404.05405): "
               "what a size holds here is bound by how often it was shown each fact, not by its capacity"
               + ("; a larger size needs fewer exposures to hold one." if falling else ".")
               if highest < CAPACITY_BITS_PER_PARAMETER / 2 else
               f"The largest store is {highest:.2f} bits per parameter, near the ~{CAPACITY_BITS_PER_PARAMETER:g} bit per "
               "parameter language models reach at ~100 exposures per fact (Allen-Zhu and Li, arXiv 2404.05405): "
               "capacity may bind there.")
    return f"Facts held (the letter operators' tables, held: the value at probability >= 1/2 on test problems): {each}. {verdict}"


def findings_01(s: dict) -> str:
    rows = "\n".join(f"| {m['name']}{' (policy)' if m['policy'] else ''} | {m['parameters']:,} | {_pct(m['greedy'])} | "
                     f"{_pct(m['pass1'])} | {m['wall_s']:.0f} s | {m['final_val_loss']:.3g} | "
                     f"{_pct(m['last_quarter_fall'])} |" for m in s["models"])
    largest, sp = s["models"][-1], s["policy_spread"]
    checks = "\n".join(f"- {'holds' if ok else '**does not hold**'}: {name}" for name, ok in s["checks"].items())
    seeds = s.get("seed_study")
    seed_text = ("The seed study has not been run for these models (`make seed-study`)." if not seeds else
                 "Greedy accuracy over training seeds (seed study): " + "; ".join(
                     f"{m} {', '.join(_pct(v) for v in vs)} (range {_pct(max(vs) - min(vs))})" for m, vs in seeds.items())
                 + ".")
    return ((f"The world: {s['world']}\n\n" if s.get("world") else "")
            + f"Pretrained on D = {s['tokens']:,} tokens per model.\n\n"
            "| model | parameters | greedy | pass@1 | pretraining wall time | validation loss | "
            "its fall over the last quarter |\n"
            "| --- | --- | --- | --- | --- | --- | --- |\n" + rows + "\n\n" + checks + "\n\n"
            f"The largest model, {largest['name']}, has {s['span']:.1f}x the policy's parameters. The policy's "
            "pass@1 (from `n_samples_policy` samples a problem; the other sizes' from `n_samples_other`) is below "
            f"0.1 on {_pct(sp['below_0.1'])} of test problems and above 0.9 on "
            f"{_pct(sp['above_0.9'])}. {seed_text}"
            + (f"\n\n{findings_facts(s['facts'])}" if s.get("facts") else ""))


# --------------------------------------------------------------------------
# The pretraining trials (bench/trials/, recorded in figures/pretrain_trials.json)


def load_trials(path: Path | None = None) -> dict | None:
    """The trials that chose the pretraining recipe and the world, or None where none are recorded."""
    path = Path(path) if path else ROOT / "figures" / "pretrain_trials.json"
    return json.loads(path.read_text()) if path.exists() else None


def findings_prm_trials(rows: list[dict]) -> str:
    """The probability PRM against how much further its LM was pretrained (bench/trials/prm.py)."""
    def measures(r: dict) -> str:
        key = next(k for k in r if k.startswith("weighted_minus_majority_n") and k[-3:] not in ("_lo", "_hi"))
        return (f"{r['within_problem_auc']:.3f} | {r['within_problem_auc_majority_wrong']:.3f} | {r['cell_auc']:.3f} | "
                f"{100 * r[key]:+.1f} [{100 * r[key + '_lo']:+.1f}, {100 * r[key + '_hi']:+.1f}]")

    body = "\n".join(f"| {r['continued_tokens']:,} | {kind} | {measures(r[kind])} | {r['lm_s']} + {r['head_s']} |"
                     for r in rows for kind in ("head", "likelihood"))
    return ("The probability PRM (`ttc.verifiers.probability_prm`), its LM the policy pretrained further by a number of tokens, "
            "on notebook 03's verifier-ladder subset; *head*: the PRM, its logistic head fitted to the Monte Carlo "
            "labels; *likelihood*: its LM's bare running-minimum likelihood. Gain: best-of-N weighted minus majority "
            "vote at N = 64, points, 90% interval; cost: seconds of further pretraining + fitting the head on the "
            "2-core machine.\n\n"
            "| more tokens | read as | within AUC | within AUC, majority-wrong | cell AUC | gain | cost (s) |\n"
            "| --- | --- | --- | --- | --- | --- | --- |\n" + body)


def findings_trials(t: dict | None) -> str:
    if not t:
        return "No pretraining trials are recorded (figures/pretrain_trials.json)."
    plateau = "\n".join(f"| {r['trial']} | {r['seed']} | {r['train_loss_0.5M']:.3f} | {r['train_loss_1M']:.3f} | "
                        f"{r['train_loss_1.5M']:.3f} | {_pct(r['greedy_1.5M'])} |" for r in t["plateau"])
    world = "\n".join(f"| {r['name']} | {r['modulus']} | {r['levels']} | {r['seed']} | {r['tokens'] / 1e6:g}M | {_pct(r['greedy'])} | "
                      f"{r['by_family']} | {_pct(r['below_0.1'])} / {_pct(r['above_0.9'])} / {_pct(r['between'])} | "
                      f"{_pct(r.get('last_quarter_fall'))} |" for r in t["world"])
    return ("**Trials behind the recipe** (`bench/trials/`, full-profile data; the plateau and world trials with `d64-l4`, the policy of the time). "
            "First the plateau: constant learning rate, 1.5M tokens, the training loss (running mean) and greedy "
            "accuracy on 200 test problems.\n\n"
            "| trial | seed | loss at 0.5M | at 1M | at 1.5M | greedy at 1.5M |\n| --- | --- | --- | --- | --- | --- |\n"
            + plateau + "\n\nThen the world, with isolated documents and the cosine schedule over D "
            "(greedy on the 500 test problems, pass@1 spread from 16 samples: below 0.1 / above 0.9 / between; "
            "n/a where the trial did not record it).\n\n"
            "| size | modulus | levels | seed | D | greedy | greedy by family | spread | validation-loss fall, last quarter |\n"
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n" + world
            + _size_trials([r for r in t.get("sizes", []) if not variant_of_world(r)])
            + _variant_trials([r for r in t.get("sizes", []) if variant_of_world(r)])
            + _facts_trials(t.get("facts", [])) + _quick_trials(t.get("quick", [])) + _retry_trials(t.get("retry", [])))


def _losses_by_attempts(loss: dict, alone: dict) -> str:
    """Loss per target token by attempts in context (0-4), each count but none with the same targets' loss after the
    question alone in brackets (where recorded): `ttc.methods.revisions.context_losses`."""
    return " / ".join(_num(v, 3) + (f" ({_num(alone[k], 3)})" if k in alone and k != "0" else "")
                      for k, v in _by_number(loss))


def _retry_trials(rows: list[dict]) -> str:
    """Issue 33's retry documents on the policy, with notebook 06's context test (bench/trials/context.py)."""
    if not rows:
        return ""

    def recipe(r: dict) -> str:
        return "; ".join(f"`{k}: {v}`" for k, v in r["recipe"].items()) or "the recipe before: rows of 128, no retries"

    body = "\n".join(f"| {recipe(r)} | {r['seed']} | {r['tokens'] / 1e6:g}M | "
                     + (f"{r['train_s']} s | {_num(r['final_val_loss'], 3)} | {_pct(r['last_quarter_fall'])} | "
                        f"{_pct(r['greedy'])} | " if r["greedy"] is not None else "n/a | n/a | n/a | n/a | ")
                     + f"{_losses_by_attempts(r['loss_by_attempts'], r['loss_alone'])} | {r['paired_ratio_max']:.1f}x |"
                     for r in rows)
    return ("\n\nThen retry documents (`pretrain_retry_share`, `ttc.world.mistakes`): a share of the training "
            "problems written as one to four mistaken attempts, then the worked solution, so that the base has read "
            "attempts before a solution; screened on the policy (`bench/trials/facts.py`, the adopted world), each "
            "with notebook 06's context test (`bench/trials/context.py`) on the held-out revision trajectories of "
            "the study before them: the loss per target token with 0-4 incorrect attempts in context, in brackets "
            "the same targets after the question alone, and the largest ratio of the two.\n\n"
            "| recipe | seed | D | train time | validation loss | its fall, last quarter | greedy | "
            "loss by attempts in context (alone) | largest ratio |\n"
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n" + body)


def _quick_trials(rows: list[dict]) -> str:
    """Candidates for the quick profile's policy (bench/trials/facts.py with `profile: quick`)."""
    if not rows:
        return ""
    body = "\n".join(f"| {r['size']} | {r['operators']} | {r['lr']:g} | {r['step_tokens']:,} | {r['tokens'] / 1e6:g}M | "
                     f"{r['train_s']} s | "
                     f"{r['final_val_loss']:.3f} | {_pct(r['last_quarter_fall'])} | {_pct(r['greedy'])} | "
                     f"{_pct(r['letter_steps_top10'])} |" for r in rows)
    return ("\n\nThen the quick profile's policy (`bench/trials/facts.py` with `profile: quick`: 20,000 training "
            "and 100 test problems, seed 0), looking for a size that learns the world within the quick study's 5 "
            "minutes. Greedy accuracy near 10% is the chance of a right last digit; what learning shows is the "
            "validation loss and the letter steps of the 10 most frequent operators.\n\n"
            "| size | operators | its peak learning rate | tokens a step | D | train time | validation loss | "
            "its fall, last quarter | greedy | top-10 operators' letter steps right |\n"
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
            + body)


def _facts_trials(rows: list[dict]) -> str:
    """Issue 32's screening of worlds of letter-operator facts (bench/trials/facts.py)."""
    if not rows:
        return ""

    def world(r: dict) -> str:
        w = r["world"]
        rest = {k: v for k, v in w.items() if k.startswith("pretrain_")}  # a recipe setting tried on that world
        return (f"{w['modchain_operators']} operators, Zipf {w['modchain_operator_zipf']:g}, "
                f"{w['modchain_operator_share']:.0%} of operations" + "".join(f"; `{k}: {v}`" for k, v in rest.items()))

    def bands(r: dict) -> str:
        return " / ".join(f"{band} {_pct(v[0])}" for band, v in r["letter_steps_right_by_rank"].items())

    body = "\n".join(f"| {r['name']} | {world(r)} | {r['size']} | {r['seed']} | {r['tokens'] / 1e6:g}M | {_pct(r['greedy'])} | "
                     f"{_pct(r['below_0.1'])} / {_pct(r['above_0.9'])} / {_pct(r['between'])} | "
                     f"{_pct(r['last_quarter_fall'])} | {bands(r)} |" for r in rows)
    return ("\n\nThen worlds of facts (`bench/trials/facts.py`): one family (`modchain`, chains of 1-2 to 4-6 "
            "operations), the operations of levels 2-5 letter operators with random tables, screened on the policy at "
            "training seeds 0-2 before any ladder (in rows of 256 tokens, 4 a step, as the recipe was then; a row "
            "that sets a recipe setting, `pretrain_...`, ran after the world was adopted, in its rows of 128 tokens, "
            "8 a step); greedy on "
            "the 500 test problems, spread from 16 samples, and the "
            "greedy answers' letter steps right by the operator's frequency rank.\n\n"
            "| candidate | world | size | seed | D | greedy | spread | validation-loss fall, last quarter | "
            "letter steps right by rank |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n" + body
            + "\n\nTheir seed ranges: " + _seed_ranges(rows, lambda r: f"`{r['name']}` {r['size']}") + ".")


def _seed_ranges(rows: list[dict], label) -> str:
    """Max minus min greedy accuracy over the seeds of each (label(row), D) with more than one seed."""
    groups = {}
    for r in rows:
        groups.setdefault((label(r), r["tokens"]), []).append(r["greedy"])
    return "; ".join(f"{what} at {tokens / 1e6:g}M: {(max(v) - min(v)) * 100:.1f} points over {len(v)} seeds"
                     for (what, tokens), v in groups.items() if len(v) > 1) or "none"


# The changes a size trial may make and still run in the profile's world with its model shapes.
_LADDER_CHANGES = {"policy", "ladder", "verifier_base"}


def variant_of_world(row: dict) -> str:
    """What a size trial changed beyond D and the ladder ('' for none): another world, or another model shape."""
    changes = {k: v for k, v in row.get("changes", {}).items() if k not in _LADDER_CHANGES}
    shape = ["4 heads of 8 dimensions"] if row["name"].endswith("-h4") else []
    note = [f"({row['note']})"] if row.get("note") else []
    return ", ".join(shape + [f"{k} = {v}" for k, v in sorted(changes.items())] + note)


def _levels(r: dict) -> str:
    families = sorted({key.rstrip("12345") for key in r["by_level"]})
    return " / ".join(f"{f} " + " ".join(f"{r['by_level'][f'{f}{level}']:.2f}" for level in range(1, 6))
                      for f in families)


def _variant_trials(rows: list[dict]) -> str:
    if not rows:
        return ""
    body = "\n".join(f"| {r['name']} | {variant_of_world(r)} | {r['seed']} | {r['tokens'] / 1e6:g}M | "
                     f"{_pct(r['greedy'])} | {' / '.join(f'{f} {_pct(v)}' for f, v in sorted(r['by_family'].items()))} | "
                     f"{_levels(r)} | "
                     f"{_pct(r['below_0.1'])} / {_pct(r['above_0.9'])} / {_pct(r['between'])} | "
                     f"{r['final_val_loss']:.3g} |" for r in sorted(rows, key=lambda r: (variant_of_world(r), r['name'], r['seed'])))
    return ("\n\nThen the world and the model's shape, changed one at a time (`bench/trials/size.py` with `families`, "
            "`modchain_operators` or a `dH-lL-hN` size): greedy on the test problems; spread below 0.1 / above 0.9 / "
            "between from 16 samples.\n\n"
            "| size | changed | training seed | D | greedy | greedy by family | pass@1 by level 1-5 | spread | "
            "final validation loss |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n" + body
            + "\n\nTheir seed gaps: " + _seed_ranges(rows, lambda r: f"`{r['name']}` with {variant_of_world(r)}") + ".")


def _size_trials(rows: list[dict]) -> str:
    if not rows:
        return ""
    def family(r: dict) -> str:
        return " / ".join(f"{_pct(r['by_family'][f])}" for f in ("addition", "modchain"))

    def by_level(r: dict, f: str) -> str:
        return " ".join(f"{r['by_level'][f'{f}{level}']:.2f}" for level in range(1, 6))

    body = "\n".join(f"| {r['name']} | {r['seed']} | {r['tokens'] / 1e6:g}M | {r['peak_lr']:.2g} | {_pct(r['greedy'])} | "
                     f"{family(r)} | {by_level(r, 'addition')} | {by_level(r, 'modchain')} | {_pct(r['below_0.1'])} / "
                     f"{_pct(r['above_0.9'])} / {_pct(r['between'])} | {r['final_val_loss']:.3g} | "
                     f"{_pct(r['last_quarter_fall'])} | {r['train_s'] / 60:.1f} |" for r in rows)
    return ("\n\nThen sizes, training seeds and D in the world of the time (chains to 26 steps, additions to 16 "
            "digits; compiled training steps; `bench/trials/size.py`). Greedy on the 500 test problems; mean pass@1 "
            "by level 1-5 from 16 samples; spread below 0.1 / above 0.9 / between.\n\n"
            "| size | training seed | D | peak lr | greedy | greedy, addition / modchain | pass@1 by level, addition | "
            "by level, modchain | spread | final validation loss | its fall, last quarter | training min |\n"
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n" + body
            + "\n\nThe seed gap, max - min greedy over the training seeds tried, per size and D: "
            + "; ".join(f"`{name}` at {tokens / 1e6:g}M: {gap * 100:.1f} points over {n} seeds"
                        for (name, tokens), (gap, n) in seed_gaps(rows).items()) + ".")


def seed_gaps(rows: list[dict]) -> dict[tuple[str, int], tuple[float, int]]:
    """(size, D) -> (max - min greedy accuracy, number of seeds), where more than one seed was trained."""
    groups: dict[tuple[str, int], list[float]] = {}
    for r in rows:
        groups.setdefault((r["name"], r["tokens"]), []).append(r["greedy"])
    return {k: (max(v) - min(v), len(v)) for k, v in groups.items() if len(v) > 1}


# --------------------------------------------------------------------------
# The seed study (notebooks/seed_study.ipynb)


def summary_seed_study(table: pd.DataFrame, checks: dict, policy: str) -> dict:
    runs = [{"model": r["model"], "seed": int(r["seed"]), "greedy": float(r["greedy"]), "pass1": float(r["pass1"]),
             "below_0.1": float(r["below_0.1"]), "above_0.9": float(r["above_0.9"]), "between": float(r["between"]),
             "final_val_loss": float(r["final_val_loss"]), "last_quarter_fall": float(r["last_quarter_fall"]),
             "wall_s": float(r["wall_s"])} for _, r in table.iterrows()]
    return {"policy": policy, "runs": runs, "checks": {name: bool(ok) for name, (ok, _) in checks.items()},
            "pretrain_wall_s": float(table["wall_s"].sum())}


def findings_seed_study(s: dict) -> str:
    rows = "\n".join(f"| {r['model']}{' (policy)' if r['model'] == s['policy'] else ''} | {r['seed']} | "
                     f"{r['final_val_loss']:.3g} | {_pct(r['last_quarter_fall'])} | {_pct(r['greedy'])} | "
                     f"{_pct(r['pass1'])} | {_pct(r['below_0.1'])} | {_pct(r['above_0.9'])} |" for r in s["runs"])
    checks = "\n".join(f"- {'holds' if ok else '**does not hold**'}: {name}" for name, ok in s["checks"].items())
    return ("| model | training seed | validation loss | its fall over the last quarter | greedy | pass@1 | "
            "pass@1 < 0.1 | pass@1 > 0.9 |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n" + rows + "\n\n"
            + checks + "\n\nPass@1 and its spread are from `n_samples_other` samples a problem for every model and "
            "seed, so the policy's at its study seed differ a little from notebook 01's, which gives the policy "
            f"`n_samples_policy`. Pretraining these models took {s['pretrain_wall_s'] / 60:.0f} minutes in all.")


# --------------------------------------------------------------------------
# 02: the pool and difficulty


def summary_02(pool: pd.DataFrame, stats: pd.DataFrame, cov: pd.DataFrame) -> dict:
    bins = stats.groupby("bin")["pass1"].agg(["min", "mean", "max"])
    gain = cov.pivot(index="k", columns="bin", values="pass_at_k")
    return {"problems": int(stats.shape[0]), "samples_per_problem": int(stats["n"].iloc[0]),
            "correct": float(pool.correct.mean()), "mean_tokens": float(pool.n_tokens.mean()),
            "distinct_texts": int(pool.drop_duplicates(["problem_id", "text"]).shape[0]),
            "bins": {str(b): {k: float(v) for k, v in r.items()} for b, r in bins.iterrows()},
            "never_solved": int((stats["c"] == 0).sum()),
            "below_0.1": float((stats.pass1 < 0.1).mean()), "above_0.9": float((stats.pass1 > 0.9).mean()),
            "coverage_k": int(gain.index.max()),
            "coverage_first": {str(b): float(v) for b, v in gain.iloc[0].items()},
            "coverage_last": {str(b): float(v) for b, v in gain.iloc[-1].items()}}


def findings_02(s: dict) -> str:
    bins = "\n".join(f"| {b} | {r['min']:.2f} | {r['mean']:.2f} | {r['max']:.2f} | {s['coverage_first'][b]:.2f} | "
                     f"{s['coverage_last'][b]:.2f} |" for b, r in _by_number(s["bins"]))
    return (f"The pool: {s['problems']:,} test problems x {s['samples_per_problem']} samples, "
            f"{_pct(s['correct'])} correct, {s['mean_tokens']:.1f} tokens on average, "
            f"{s['distinct_texts']:,} distinct (problem, solution) texts. {s['never_solved']} problems were never "
            f"solved; {_pct(s['below_0.1'])} have pass@1 below 0.1 and {_pct(s['above_0.9'])} above 0.9.\n\n"
            f"| oracle bin | pass@1 min | mean | max | coverage at k = 1 | at k = {s['coverage_k']} |\n"
            "| --- | --- | --- | --- | --- | --- |\n" + bins)


# --------------------------------------------------------------------------
# 03: verifiers


def summary_03(labels: pd.DataFrame, metas: dict, aucs: dict, within: dict, within_by_bin: pd.DataFrame,
               curves: pd.DataFrame, agreement: float, budgets: list[int], verifier_ladder: dict | None = None) -> dict:
    """Notebook 03's summary; `verifier_ladder` is `summary_verifier_ladder`'s, merged in."""
    inner = labels[labels.step < labels.n_lines - 1]
    at = curves.set_index(["method", "budget"])["accuracy"]
    n = 64 if 64 in budgets else budgets[-1]
    return {"labelled_problems": int(labels.problem_id.nunique()),
            "labelled_solutions": int(labels.groupby(["problem_id", "solution"]).ngroups),
            "labelled_lines": int(len(labels)),
            "mc_label_on_track": float(inner[inner.on_track].mc_label.mean()),
            "mc_label_off_track": float(inner[~inner.on_track].mc_label.mean()),
            "training": {k: {"best_val_loss": float(m["best_val_loss"]), "best_step": int(m["best_step"]),
                             "steps": int(m["steps"])} for k, m in metas.items()},
            "auc": {f"{name} {kind}": float(v) for (name, kind), v in aucs.items()},
            "within_auc": {name: float(w.mean()) for name, w in within.items()},
            "within_auc_by_bin": {name: {str(b): float(v) for b, v in col.dropna().items()}
                                  for name, col in within_by_bin.items()},
            "n": n, "accuracy_at_n": {m: float(at[(m, n)]) for m in curves.method.unique()},
            "accuracy_at_1": {m: float(at[(m, 1)]) for m in curves.method.unique()},
            "max_budget": int(budgets[-1]),
            "accuracy_at_max": {m: float(at[(m, budgets[-1])]) for m in curves.method.unique()},
            "bins_agree": float(agreement)} | (verifier_ladder or {})


_LADDER_FIELDS = ("within_problem_auc", "within_problem_auc_majority_wrong", "cell_auc")


def _none_if_nan(x) -> float | None:
    """A number for a summary: JSON has no NaN."""
    return None if pd.isna(x) else float(x)


def summary_verifier_ladder(table: pd.DataFrame, budget: int, adopted: str, trained_prm: str, base: str) -> dict:
    """Notebook 03's verifier ladder for its summary: every verifier's measures (NaN as None), which is
    adopted for search, and which trained PRM is the best (with the checkpoint it was trained from)."""
    gain = gain_column(budget)
    return {"verifiers": {name: {**{f: _none_if_nan(r[f]) for f in _LADDER_FIELDS},
                                 **{f"{gain}{tail}": _none_if_nan(r[f"{gain}{tail}"]) for tail in ("", "_lo", "_hi")},
                                 "parameters": int(r["parameters"]), "oracle": bool(r["oracle"])}
                          for name, r in table.iterrows()},
            "verifier_gain_budget": int(budget), "adopted": adopted,
            "trained_prm": trained_prm, "trained_prm_base": base,
            "n_reference_problems": int(table["n_problems"].iloc[0]),
            "n_majority_wrong": int(table["n_majority_wrong"].iloc[0])}


def findings_verifier_ladder(s: dict) -> str:
    n = s["verifier_gain_budget"]
    key = gain_column(n)

    def row(name: str, v: dict) -> str:
        auc = " | ".join("n/a" if v[f] is None else f"{v[f]:.3f}" for f in _LADDER_FIELDS)
        gain = ("n/a" if v[key] is None else
                f"{_pts(v[key])} [{_pts(v[key + '_lo'])}, {_pts(v[key + '_hi'])}]")
        size = "none (the world's truth)" if v["oracle"] else f"{v['parameters']:,}"
        return f"| {name} | {size} | {auc} | {gain} |"

    # trained verifiers, then the likelihood ladder by size, then the checkers by noise
    order = sorted(s["verifiers"].items(), key=lambda kv: (kv[1]["oracle"], VerifierSpec.parse(kv[0]).kind == "likelihood",
                                                           kv[1]["parameters"], kv[0] != PERFECT_CHECKER, kv[0]))
    rows = "\n".join(row(name, v) for name, v in order)
    paper = VERIFIERS["prm"]  # the paper's recipe

    def _cell(name: str) -> str:
        value = s["verifiers"].get(name, {}).get("cell_auc")
        return "n/a" if value is None else f"{value:.3f}"

    adopted = s["verifiers"][s["adopted"]]
    gain = adopted[key]
    if gain is not None and gain > 0:
        verdict = (f"{s['adopted']}, the cheapest verifier (scoring FLOPs per token) whose gain over majority vote is "
                   f"at least 90% of the best one's: {_pts(gain)} at N = {n}")
    else:
        verdict = (f"{s['adopted']}, though no verifier a user could have gains over majority vote here "
                   f"({'n/a' if gain is None else _pts(gain)} at N = {n}); it is the least bad")
    return (f"- **The verifier ladder** ({s['n_reference_problems']} test problems, {s['n_majority_wrong']} of them "
            f"majority-wrong; best-of-N weighted minus majority vote at N = {n}, 90% interval):\n\n"
            "| verifier | parameters it reads with | within AUC | within AUC, majority-wrong | cell AUC | "
            "weighted minus majority |\n| --- | --- | --- | --- | --- | --- |\n" + rows
            + f"\n\n- **Adopted for search**: {verdict}.\n- **The best trained PRM** by cell AUC: {s['trained_prm']}, "
            f"trained from `{s['trained_prm_base']}`, cell AUC {_cell(s['trained_prm'])}"
            + ("" if s["trained_prm"] == paper else
               f"; the paper's recipe (row {paper}, a value head on the same Monte Carlo labels) reaches {_cell(paper)}")
            + ".")


def findings_03(s: dict) -> str:
    a, n = s["accuracy_at_n"], s["n"]
    prm, major, orm = a["PRM last, weighted"], a["majority vote"], a["ORM, weighted"]
    bins = ", ".join(f"{v:.2f} (bin {b})" for b, v in _by_number(s["within_auc_by_bin"]["PRM"]))

    def verdict(diff: float) -> str:
        return "ahead" if diff > 0.01 else "behind" if diff < -0.01 else "level"

    return (f"- **Labels**: {s['labelled_problems']} training problems, {s['labelled_solutions']:,} solutions, "
            f"{s['labelled_lines']:,} labelled lines; the mean Monte Carlo label is {s['mc_label_on_track']:.3f} on "
            f"lines truly on track and {s['mc_label_off_track']:.3f} on lines off track.\n"
            f"- **Across problems**: PRM step AUC {s['auc']['PRM step']:.3f} (ORM {s['auc']['ORM step']:.3f}); "
            f"final-answer AUC over all pool samples {s['auc']['PRM final']:.3f} (ORM {s['auc']['ORM final']:.3f}). "
            f"Predicted difficulty bins agree with the oracle bins on {_pct(s['bins_agree'])} of problems.\n"
            f"- **Within a problem** (what selection needs): mean AUC of the PRM's final score among one problem's own "
            f"samples {s['within_auc']['PRM']:.3f} ({bins}); ORM {s['within_auc']['ORM']:.3f}.\n"
            f"- **Best-of-N at N = {n}**: PRM-weighted {_pct(prm)} against majority vote {_pct(major)} "
            f"({verdict(prm - major)}, {_pts(prm - major)}), against ORM-weighted {_pct(orm)} "
            f"({verdict(prm - orm)}); step aggregation last / min / prod: {_pct(prm)} / "
            f"{_pct(a['PRM min, weighted'])} / {_pct(a['PRM prod, weighted'])}. Plain best-of-N (the single "
            f"highest score) goes from {_pct(s['accuracy_at_1']['PRM last, best-of-N'])} at N = 1 to "
            f"{_pct(s['accuracy_at_max']['PRM last, best-of-N'])} at N = {s['max_budget']}."
            + (f"\n{findings_verifier_ladder(s)}" if "verifiers" in s else ""))


# --------------------------------------------------------------------------
# 04: search


def summary_04(results: pd.DataFrame, by_bin: pd.DataFrame, verifier: str, axis: pd.DataFrame | None,
               given_prm: bool = False) -> dict:
    """Notebook 04: the grid's accuracy with `verifier`, beam minus best-of-N by bin, and the search
    against verifier quality (`ttc.pipelines.search_vs_verifier.with_quality`'s table; None where it was not run)."""
    acc = results.groupby(["method", "budget"])["correct"].mean().unstack("budget")
    problems = results.groupby("budget")["problem_id"].nunique()
    gap = by_bin.pivot_table(index=["bin", "budget"], columns="method", values="accuracy")
    beam_gap = (gap["beam M=sqrt N"] - gap["best-of-N weighted"]).unstack("budget")
    versus = {name: {"quality": {q: _none_if_nan(g[q].iloc[0]) for q in _LADDER_FIELDS},
                     "by_budget": {str(int(r.budget)): {"beam": r.beam, "best_of_n": r.best_of_n,
                                                        "beam_minus_best_of_n": r.beam_minus_best_of_n,
                                                        "lo": r.lo, "hi": r.hi, "n_problems": int(r.n_problems)}
                                   for r in g.itertuples()}}
              for name, g in axis.groupby("verifier", sort=False)} if axis is not None else {}
    return {"verifier": verifier, "given_prm": given_prm,
            "accuracy": {m: _budget_key(r.dropna().to_dict()) for m, r in acc.iterrows()},
            "saturated_bins": saturated_bins(results) if "bin" in results else None,
            "problems": _budget_key(problems.to_dict()),
            "beam_minus_best_of_n_by_bin": {str(b): _budget_key(r.dropna().to_dict()) for b, r in beam_gap.iterrows()},
            "beam_minus_best_of_n": versus}


def saturated_bins(results: pd.DataFrame) -> list[str]:
    """The oracle bins where every method answers every problem right at every budget: there the grid cannot tell
    one method from another (the world of before had three such bins of five)."""
    lowest = results.groupby(["bin", "method", "budget"])["correct"].mean().groupby("bin").min()
    return [str(b) for b, v in lowest.items() if v >= 1.0]


def findings_saturated_bins(bins: list[str] | None) -> str:
    if bins is None:
        return ""
    if not bins:
        return "- No oracle bin has every method at 100% at every budget: every bin can tell the methods apart.\n"
    return (f"- Oracle bin{'s' if len(bins) > 1 else ''} {', '.join(bins)}: every method answers every problem at "
            "every budget there, so those problems cannot tell the methods apart.\n")


def findings_04(s: dict) -> str:
    acc = s["accuracy"]
    budgets = [b for b, _ in _by_number(s["problems"])]
    order = ["best-of-N weighted", "majority vote"] + sorted(m for m in acc if m not in ("best-of-N weighted",
                                                                                          "majority vote"))
    rows = "\n".join(f"| {m} | " + " | ".join(_pct(acc[m].get(b)) if b in acc[m] else "-" for b in budgets) + " |"
                     for m in order)
    bon, beam = acc["best-of-N weighted"], acc["beam M=sqrt N"]
    ahead = [b for b in budgets if b in beam and beam[b] > bon[b]]
    best_search = {b: max(((acc[m][b], m) for m in order if m != "majority vote" and b in acc[m]), key=lambda x: x[0])
                   for b in budgets}
    chosen = ("the given PRM" if s.get("given_prm")
              else "notebook 03's adopted verifier unless `search_verifier` says otherwise")
    return (f"The grid searches with **{s['verifier']}** ({chosen}).\n\n"
            "| accuracy | " + " | ".join(f"N = {b}" for b in budgets) + " |\n| --- |" + " --- |" * len(budgets) +
            "\n" + rows + "\n\n" + "Problems per budget: " + ", ".join(f"{s['problems'][b]} at {b}" for b in budgets) +
            ".\n\n" + "- Beam search (M = sqrt N) against best-of-N weighted: "
            + ", ".join(f"{_pts(beam[b] - bon[b])} at N = {b}" for b in budgets if b in beam) + "; "
            + (f"ahead at N = {', '.join(ahead)}." if ahead else "behind or level at every budget.") + "\n"
            + "- Best strategy per budget: " + ", ".join(f"{m} ({_pct(v)}) at N = {b}" for b, (v, m) in
                                                     best_search.items()) + ".\n"
            + findings_saturated_bins(s.get("saturated_bins"))
            + findings_verifier_axis(s["beam_minus_best_of_n"]))


def findings_verifier_axis(versus: dict) -> str:
    """The search against verifier quality: beam search (M = 4) minus best-of-N per verifier and budget."""
    if not versus:
        return "- **Search against verifier quality**: not run."
    budgets = sorted({int(b) for v in versus.values() for b in v["by_budget"]})

    def cell(v: dict, b: int) -> str:
        r = v["by_budget"].get(str(b))
        return "-" if r is None else f"{100 * r['beam_minus_best_of_n']:+.1f} [{100 * r['lo']:+.1f}, {100 * r['hi']:+.1f}]"

    def auc(x) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    # best to worst by cell AUC, then within AUC (a summary's keys come back in name order)
    def quality(item) -> tuple:
        q = item[1]["quality"]
        return tuple(-(q[k] if q[k] is not None else -1.0) for k in ("cell_auc", "within_problem_auc")) + (item[0],)

    versus = dict(sorted(versus.items(), key=quality))
    rows = "\n".join(f"| {name} | {auc(v['quality']['within_problem_auc'])} | {auc(v['quality']['cell_auc'])} | "
                     + " | ".join(cell(v, b) for b in budgets) + " |" for name, v in versus.items())
    ahead = [name for name, v in versus.items()
             if any(r["lo"] > 0 for r in v["by_budget"].values())]
    behind = [name for name, v in versus.items()
              if any(r["hi"] < 0 for r in v["by_budget"].values())]
    return ("- **Search against verifier quality** (beam search M = 4 minus best-of-N weighted, in points, same problems, "
            "90% interval; verifiers from the best to the worst by cell AUC):\n\n"
            "| verifier | within AUC | cell AUC | " + " | ".join(f"N = {b}" for b in budgets) + " |\n| --- | --- | --- |"
            + " --- |" * len(budgets) + "\n" + rows + "\n\n"
            + f"  Beam search is ahead of best-of-N, beyond its interval, at some budget with: "
            f"{', '.join(ahead) if ahead else 'no verifier'}; behind it with: {', '.join(behind) if behind else 'no verifier'}.")


# --------------------------------------------------------------------------
# 05: compute-optimal


def _accuracy_by_method(curves: pd.DataFrame | None) -> dict:
    """method -> budget -> accuracy, of a `curve_with_intervals` table by method and budget."""
    if curves is None:
        return {}
    acc = curves.pivot(index="budget", columns="method", values="accuracy")
    return {m: _budget_key(acc[m].dropna().to_dict()) for m in acc.columns}


def _efficiency(ratios: pd.DataFrame) -> dict:
    """compared curve -> reference budget -> the budget it needs to match the reference, and the ratio
    (`ttc.methods.compute_optimal.efficiency_table`, generations)."""
    gens = ratios[ratios.axis == "generations"]
    return {label: {str(int(r.reference_budget)): {"matching_budget": _none_if_nan(r.matching_budget),
                                                   "ratio": _none_if_nan(r.ratio)}
                    for r in g.itertuples()} for label, g in gens.groupby("compared")}


def _efficiency_lines(efficiency: dict, reference: str, paper: str) -> list[str]:
    from ttc.methods.compute_optimal import BOUND_NOTE, matched_in_table

    lines = []
    for label, eff in efficiency.items():
        budgets = [float(b) for b, _ in _by_number(eff)]  # the curves share the reference's budgets
        matches = {b: matched_in_table(math.nan if e["matching_budget"] is None else e["matching_budget"], budgets)
                   for b, e in _by_number(eff)}
        parts = [f"{b}: {m.describe(float(b))}" for b, m in matches.items()]
        if any(m.bound for m in matches.values()):
            parts[-1] += f" ({BOUND_NOTE})"
        lines.append(f"- Budget {label} needs to match {reference} at each of its budgets: " + "; ".join(parts)
                     + f" (the paper: {paper}).")
    return lines


def summary_05(curves: pd.DataFrame, ratios: pd.DataFrame, chosen: pd.DataFrame, demo: dict | None) -> dict:
    gens = ratios[ratios.axis == "generations"]
    return {"accuracy": _accuracy_by_method(curves), "efficiency": _efficiency(ratios),
            "reference_accuracy": _budget_key(gens.drop_duplicates("reference_budget")
                                              .set_index("reference_budget")["reference_accuracy"].to_dict()),
            "chosen_oracle": {str(b): _budget_key(g.set_index("budget")["method"].to_dict())
                              for b, g in chosen[chosen.bins == "oracle"].groupby("bin")},
            "demo": demo}


def findings_05(s: dict) -> str:
    from ttc.methods.compute_optimal import LEVELS

    acc = s["accuracy"]
    opt, bon = acc["compute-optimal (oracle bins)"], acc["best-of-N weighted"]
    budgets = [b for b, _ in _by_number(bon)]
    lines = ["- Compute-optimal (oracle bins) minus best-of-N weighted at equal budget: "
             + ", ".join(f"{_pts(opt[b] - bon[b])} at N = {b}" for b in budgets if b in opt) + "."]
    lines += _efficiency_lines(s["efficiency"], "best-of-N weighted", "about 4x less")
    levels = acc.get(next(iter(LEVELS)))
    if levels:
        lines.append("- The choice within the model's oracle bins minus the same choice within nominal levels (the "
                     "paper finds the model's own bins predict the value of test-time compute better than MATH's "
                     "levels, Sec. 3.2): "
                     + ", ".join(f"{_pts(opt[b] - levels[b])} at N = {b}" for b in budgets if b in opt and b in levels)
                     + " points.")
    picks = "; ".join(f"bin {b}: " + ", ".join(f"{m} at {n}" for n, m in _by_number(by)) for b, by in
                      _by_number(s["chosen_oracle"]))
    lines.append(f"- Chosen per oracle bin (on all problems): {picks}.")
    d = s["demo"]
    if d:
        lines.append(f"- The policy demo on {d['problems']} held-out test problems at budget {d['budget']}: "
                     f"{_pct(d['accuracy'])} correct; the predicted bin matched the oracle bin for "
                     f"{_pct(d['bins_match'], 0)}; estimating the bin added {_pct(d['estimate_share'], 0)} to the FLOPs.")
    return "\n".join(lines)


def summary_06(data: dict, record: dict, losses: pd.DataFrame, steps: pd.DataFrame, flip_rates: dict,
               versus: pd.DataFrame, quality: pd.DataFrame, best_ratios: pd.DataFrame, curves: pd.DataFrame,
               ratios: pd.DataFrame, together: pd.DataFrame | None, chain_cost: dict, selector: str,
               policy_pass1: float, budget: int) -> dict:
    by_step = steps.set_index("step")["accuracy"]
    marks = sorted({1, 2, 4, *[2 ** k for k in range(3, 12)]} & set(by_step.index.astype(int)))

    return {"budget": budget, "selector": selector, "policy_pass1": policy_pass1, "data": data,
            "revision_model": {"best_val_loss": record["best_val_loss"], "best_step": record["best_step"],
                               "steps": record["steps"]},
            **{key: {m: {str(int(k)): _none_if_nan(v) for k, v in g.set_index("attempts_in_context")[column].items()}
                     for m, g in losses.groupby("model")}
               for key, column in (("context_loss", "loss_per_token"), ("context_loss_alone", "loss_alone"))},
            "pass1_by_step": {str(k): float(by_step[k]) for k in marks},
            "pass1_late": float(by_step[by_step.index > by_step.index.max() / 2].mean()),
            "flips": {k: _none_if_nan(v) for k, v in flip_rates.items()},
            "versus": _accuracy_by_method(versus),
            "selectors": {r["selector"]: {k: (_none_if_nan(v) if isinstance(v, float) else v) for k, v in r.items()
                                          if k != "selector"} for r in quality.to_dict("records")},
            "best_ratio": {r["bin"]: {k: v for k, v in r.items() if k != "bin"} for r in best_ratios.to_dict("records")},
            "compute_optimal": _accuracy_by_method(curves), "efficiency": _efficiency(ratios),
            "together": _accuracy_by_method(together), "chain_cost": chain_cost}


def findings_06(s: dict) -> str:
    n, sel = s["budget"], s["selector"]
    steps = s["pass1_by_step"]
    lines = [f"- Pass@1 along the chain: {_pct(steps['1'])} at the first attempt, "
             + ", ".join(f"{_pct(v)} at attempt {k}" for k, v in _by_number(steps) if k != "1")
             + f"; {_pct(s['pass1_late'])} over the chain's second half; the policy's own pass@1 on these problems "
               f"{_pct(s['policy_pass1'])}. "
             + ("It rises along the chain, as in the paper." if s["pass1_late"] > steps["1"] else
                "It does not rise along the chain, unlike the paper's.")]
    f = s["flips"]
    lines.append(f"- Between consecutive attempts, {_pct(f['correct_to_incorrect'], 0)} of correct answers are revised "
                 f"into incorrect ones (the paper: about 38%) and {_pct(f['incorrect_to_correct'], 0)} of incorrect "
                 "ones into correct.")
    if f.get("after_incorrect_attempts"):
        better = f["after_incorrect_correct"] > f["after_incorrect_first"]
        lines.append(f"- After a context of only incorrect attempts ({int(f['after_incorrect_attempts']):,} attempts), the next "
                     f"is correct {_pct(f['after_incorrect_correct'])} of the time, against {_pct(f['after_incorrect_first'])} "
                     f"for the same problems' first attempts, and repeats an answer of its context "
                     f"{_pct(f['after_incorrect_repeats'], 0)} of the time: "
                     + ("the incorrect attempts help it." if better else
                        "the chain does not learn from its incorrect attempts; it is drawn back to them."))
    loss, alone = s["context_loss"], s.get("context_loss_alone", {})
    if "revision model" in loss and "policy" in loss:
        lines.append("- Loss per target token on held-out trajectories by incorrect attempts in context (0 to 4; in "
                     "brackets the same targets after the question alone): the policy "
                     + _losses_by_attempts(loss["policy"], alone.get("policy", {})) + "; the revision model "
                     + _losses_by_attempts(loss["revision model"], alone.get("revision model", {})) + ".")
        ratios = [loss["policy"][k] / alone["policy"][k] for k in loss["policy"]
                  if k != "0" and alone.get("policy", {}).get(k) and loss["policy"][k] is not None]
        if ratios:
            lines.append(f"- With attempts in context the policy's loss on a target is at most {max(ratios):.1f}x its "
                         "loss on the same target after the question alone.")
    v = s["versus"]
    seq, par = v.get(f"sequential, {sel}", {}), v.get(f"parallel, {sel}", {})
    mseq, mpar = v.get("sequential, majority vote", {}), v.get("parallel, majority vote", {})
    k = str(n)
    if k in seq and k in par:
        verdict = "beats" if seq[k] > par[k] else "does not beat"
        lines.append(f"- Sequential {verdict} parallel at budget {n}: one chain {_pct(seq[k])} vs {n} independent "
                     f"attempts {_pct(par[k])} with {sel} (majority vote: {_pct(mseq.get(k))} vs {_pct(mpar.get(k))}).")
    ratios = s["best_ratio"]
    per_bin = "; ".join(f"bin {b}: 2^{r['best_log2_ratio']} ({_pct(r['best_accuracy'])}, parallel "
                        f"{_pct(r['parallel_accuracy'])}, sequential {_pct(r['sequential_accuracy'])})"
                        for b, r in sorted(ratios.items()) if b != "all")
    interior = [b for b, r in sorted(ratios.items()) if b != "all" and r["interior"]]
    lines.append(f"- The best sequential-to-parallel ratio at budget {n}: overall 2^{ratios['all']['best_log2_ratio']}; "
                 f"{per_bin}. An interior optimum (better than both all parallel and one chain) in "
                 + (", ".join(f"bin {b}" for b in interior) if interior else "no bin")
                 + ". The paper: easy bins best fully sequential, harder bins an interior optimum.")
    lines += _efficiency_lines(s["efficiency"], "parallel best-of-N", "up to 4x less")
    sels = s["selectors"]
    ranked = sorted(sels.items(), key=lambda kv: -kv[1]["best_split_accuracy"])
    lines.append(f"- Selecting the revision model's attempts at budget {n} (best split; within-problem AUC): "
                 + "; ".join(f"{name} {_pct(q['best_split_accuracy'])}"
                             + (f" (AUC {q['within_problem_auc']:.3f})" if q.get("within_problem_auc") is not None else "")
                             for name, q in ranked) + ".")
    t = s["together"]
    if t:
        both, rev = t.get("compute-optimal, search + revisions (oracle bins)", {}), t.get("compute-optimal, revisions (oracle bins)", {})
        bon = t.get("search: best-of-N weighted (the policy)", {})
        common = [b for b, _ in _by_number(both)]
        lines.append("- Compute-optimal over search and revisions together (oracle bins) vs revisions alone vs the "
                     "policy's best-of-N weighted: " + "; ".join(f"N = {b}: {_pct(both[b])} / {_pct(rev.get(b))} / "
                                                              f"{_pct(bon.get(b))}" for b in common) + ".")
    c = s["chain_cost"]
    lines.append(f"- FLOPs at budget {n}: one chain {c['sequential_flops']:.3g}, {n} independent attempts "
                 f"{c['parallel_flops']:.3g} ({c['sequential_flops'] / c['parallel_flops']:.2f}x: a revision reads its "
                 "context).")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# 07: pretraining against test-time compute


def summary_07(comparison: pd.DataFrame, fig1: pd.DataFrame, fit: dict, reaches: pd.DataFrame, cheapest: pd.DataFrame,
               facts: pd.DataFrame, points: pd.DataFrame, m: float, larger: str, verifiers: dict,
               verifier_flops: dict) -> dict:
    from ttc.methods.exchange import JONES_EXCHANGE_RATE

    matched = {}
    for (strategy, matching, r), g in comparison.groupby(["strategy", "matching", "ratio"], sort=False):
        by = g.set_index("bin")
        matched.setdefault(strategy, {}).setdefault(matching, {})[str(r)] = {
            "target": float(by["target"].iloc[0]), "budget": int(by["budget"].iloc[0]),
            "beyond_run": bool(by["beyond_run"].iloc[0]), "below_run": bool(by["below_run"].iloc[0]),
            "bins": {b: {"accuracy": row.accuracy, "larger_accuracy": row.larger_accuracy, "points": row.points,
                         "relative": _none_if_nan(row.relative), "n_problems": int(row.n_problems)}
                     for b, row in by.iterrows()}}
    best = points.loc[points.groupby("model", sort=False)["accuracy"].idxmax()].set_index("model")
    greedy_here = points[points.method == "greedy"].set_index("model")["accuracy"]  # on the exchange's problems
    ladder = {name: {"parameters": int(r.parameters), "pretrain_flops": float(r.pretrain_flops), "greedy": float(r.greedy),
                     "query_flops": float(r.query_flops), "exchange_greedy": float(greedy_here[name]),
                     "best_accuracy": float(best.loc[name, "accuracy"]),
                     "best_strategy": f"{best.loc[name, 'method']} at {int(best.loc[name, 'budget'])}",
                     "best_flops": float(best.loc[name, "flops"])}
              for name, r in facts.iterrows() if name in best.index}
    reached = reaches.groupby("model", sort=False)["reached"].sum().to_dict()
    return {"larger": larger, "m": m, "verifiers": verifiers, "verifier_pretrain_flops": verifier_flops,
            "ladder": ladder, "matched": matched,
            "fig1": [{k: (_none_if_nan(v) if isinstance(v, float) else v) for k, v in row.items()}
                     for row in fig1.to_dict("records")],
            "exchange": {k: (_none_if_nan(v) if isinstance(v, float) else v) for k, v in fit.items()}
            | {"jones": JONES_EXCHANGE_RATE},
            "targets": sorted(float(t) for t in reaches.target.unique()), "targets_reached": reached,
            "cheapest": {str(r): {f"{t:.3f}": {"model": row.model, "bounded": bool(row.bounded)}
                                  for t, row in g.set_index("target").iterrows()} for r, g in cheapest.groupby("ratio")}}


def _signed(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f}%"


def findings_07(s: dict) -> str:
    from ttc.pipelines.exchange_study import GENERATIONS, LEDGER, LEDGER_VERIFIER

    larger, lines = s["larger"], []

    def compared(by_ratio: dict) -> str:
        return ", ".join(f"{v['budget']}" + ("*" if v["beyond_run"] else "") + ("'" if v["below_run"] else "")
                         for _, v in _by_number(by_ratio))

    ratios = [r for r, _ in _by_number(next(iter(s["matched"].values()))[GENERATIONS])]
    gens = ", ".join(f"{_num(v['target'], 1)}" for _, v in _by_number(next(iter(s["matched"].values()))[GENERATIONS]))
    lines.append(f"- Against {larger} ({s['m']:.1f}x the policy's parameters), the paper's multiplier allows {gens} "
                 f"generations at R = {', '.join(ratios)}. Budgets compared at those R (* the target lies beyond every "
                 "budget run, the largest stands in; ' below every budget run): "
                 + "; ".join(f"{strategy}: in generations {compared(m[GENERATIONS])}, in ledger FLOPs "
                             f"{compared(m[LEDGER])}, with the verifier's pretraining {compared(m[LEDGER_VERIFIER])}"
                             for strategy, m in s["matched"].items()) + ".")
    unaffordable = [(strategy, r) for strategy, m in s["matched"].items()
                    for r, v in _by_number(m[LEDGER_VERIFIER]) if v["target"] <= 0]
    if unaffordable:
        names = sorted({strategy for strategy, _ in unaffordable})
        lines.append("- With the verifier's pretraining counted, the policy's side has spent more than "
                     f"{larger}'s whole life costs before answering anything ("
                     + "; ".join(f"{n}: verifier pretraining {s['verifier_pretrain_flops'][n]:.3g} FLOPs, R = "
                                 + ", ".join(r for k, r in unaffordable if k == n) for n in names)
                     + f"; {larger}'s pretraining {s['ladder'][larger]['pretrain_flops']:.3g}): no test-time budget "
                     "matches there, and the smallest run stands in (').")

    def paper(v) -> str:
        return "–" if v is None else f"{v:+.1f}%"

    table = ["| strategy | R | budget (generations) | easy: ours (paper) | medium: ours (paper) | hard: ours (paper) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for row in s["fig1"]:
        table.append(f"| {row['strategy']} | {row['ratio']:g} | {row['budget']}{'*' if row['beyond_run'] else ''} | "
                     + " | ".join(f"{_signed(None if row[f'{g} (ours)'] is None else row[f'{g} (ours)'] / 100)} "
                                  f"({paper(row[f'{g} (paper)'])})" for g in ("easy", "medium", "hard")) + " |")
    lines.append("- Fig. 1's table: the relative change of accuracy from test-time compute instead of the larger model's "
                 "greedy answer, matched in generations (easy / medium / hard = oracle bins 1-2 / 3-4 / 5; n/a where "
                 "the larger model answers none correctly):\n\n" + "\n".join(table) + "\n")
    wins, ties, cells = [], [], 0
    for strategy, by_matching in s["matched"].items():
        for r, v in _by_number(by_matching[GENERATIONS]):
            for b, cell in v["bins"].items():
                if not b.isdigit():
                    continue
                cells += 1
                if cell["points"] > 0:
                    wins.append(f"{strategy}, R = {r}, bin {b} ({_pts(cell['points'])})")
                elif cell["points"] == 0:
                    ties.append(f"{strategy}, R = {r}, bin {b}")
    lines.append(f"- Per oracle bin (matched in generations), test-time compute beats {larger} in {len(wins)} of "
                 f"{cells} (strategy, R, bin) cells" + (": " + "; ".join(wins) if wins else "")
                 + f"; ties in {len(ties)}; {larger}'s pretraining wins the other {cells - len(wins) - len(ties)}. "
                 "The paper: test-time compute wins on easy and medium questions at low inference load (R << 1), "
                 "pretraining on the hardest questions and under heavy load.")
    ex = s["exchange"]
    if ex["slope"] is not None:
        trade = (f"10x more pretraining replaces {ex['rate']:.3g}x the test-time FLOPs" if ex["slope"] < 0 else
                 f"10x more pretraining does not save test-time FLOPs at equal accuracy: it multiplies them by "
                 f"{1 / ex['rate']:.3g}")
        lines.append(f"- The exchange rate over the ladder: at equal accuracy, log test-time FLOPs against log "
                     f"pretraining FLOPs has the pooled slope {ex['slope']:.2f} (90% over resampled problems: "
                     f"{_num(ex['slope_lo'])} to {_num(ex['slope_hi'])}), from {ex['points']} points at "
                     f"{ex['targets_fitted']} of {len(s['targets'])} accuracy targets (the models measured there: "
                     f"{' and '.join(ex['models'])}): {trade} (Jones, Hex: 10x more training replaces {ex['jones']:g}x "
                     "the test-time compute). Measured only where two models reach a target between strategies they "
                     "ran.")
    else:
        lines.append(f"- No exchange rate: no accuracy target is reached by two ladder models between strategies they "
                     f"ran (Jones, Hex: {ex['jones']:g}x).")
    ladder = s["ladder"]
    names = list(ladder)
    pairs = []
    for small, big in zip(names, names[1:]):
        a, b = ladder[small], ladder[big]
        pairs.append(f"{small}'s best {_pct(a['best_accuracy'])} ({a['best_strategy']}) against {big}'s greedy "
                     f"{_pct(b['exchange_greedy'])}" + (" (never matched)" if a["best_accuracy"] < b["exchange_greedy"]
                                                         else ""))
    lines.append("- Each ladder model's best strategy run against the next larger model's greedy answer, on the "
                 "exchange's problems: "
                 + "; ".join(pairs) + ". Where a model's best stays below the next one's greedy accuracy, no "
                 "test-time compute it ran replaces that model's pretraining.")
    picks = []
    for r, by_target in _by_number(s["cheapest"]):
        models = list(dict.fromkeys(v["model"] for v in by_target.values()))
        counts = {name: sum(v["model"] == name for v in by_target.values()) for name in models}
        picks.append(f"R = {r}: " + ", ".join(f"{name} ({n} target{'s' if n != 1 else ''})" for name, n in counts.items()))
    if picks and s["targets"]:
        lines.append("- The cheapest model per accuracy target, pretraining amortised over its lifetime's queries: "
                     + "; ".join(picks) + ".")
    lines.append("- Greedy accuracy of the ladder: "
                 + ", ".join(f"{name} {_pct(v['greedy'])}" for name, v in ladder.items()) + ".")
    return "\n".join(lines)


FINDINGS = {"01": findings_01, "02": findings_02, "03": findings_03, "04": findings_04, "05": findings_05,
            "06": findings_06, "07": findings_07, "seed_study": findings_seed_study}


def readme_results(summaries: dict[str, dict], trials: dict | None = None) -> str:
    """docs/results.md's results section: each notebook's findings, rendered from its committed summary."""
    titles = {"01": "01, the ladder", "02": "02, difficulty", "03": "03, verifiers", "04": "04, search",
              "05": "05, compute-optimal search", "06": "06, revisions",
              "07": "07, pretraining vs test-time compute", "seed_study": "the seed study (make seed-study)"}
    parts = [f"## {titles[n]}\n\n{FINDINGS[n](s)}" for n, s in summaries.items()]
    if trials and trials.get("prm") and "03" in summaries:
        parts.insert(list(summaries).index("03") + 1,
                     f"## the trained PRM's recipe (bench/trials/prm.py)\n\n{findings_prm_trials(trials['prm'])}")
    if trials is not None:
        parts.insert(min(1, len(parts)), f"## the pretraining recipe\n\n{findings_trials(trials)}")
    return "\n\n".join(parts)


def readme_glance(summaries: dict[str, dict]) -> str:
    """The README's few numbers of scale: the ladder, the world, the problems, the seeds (from the summaries)."""
    lines = []
    one = summaries.get("01")
    if one:
        models = ", ".join(f"{m['name']} ({m['parameters']:,} parameters{', the policy' if m['policy'] else ''}: "
                           f"greedy {_pct(m['greedy'])})" for m in one["models"])
        lines.append(f"- **The ladder**: {models}; the largest has {one['span']:.1f}x the policy's parameters; each "
                     f"pretrained on {one['tokens']:,} tokens.")
        lines.append(f"- **The world**: {one['world'].split('. ')[0]}.")
    two = summaries.get("02")
    if two:
        lines.append(f"- **Difficulty**: {two['problems']} test problems in five oracle bins by the policy's pass@1 "
                     f"from {two['samples_per_problem']} samples each.")
    four = summaries.get("04")
    if four:
        budgets = [b for b, _ in _by_number(four["problems"])]
        lines.append(f"- **Search**: budgets {', '.join(budgets)} generations, on "
                     + ", ".join(f"{four['problems'][b]}" for b in budgets) + " problems.")
    # the seed study of these very models (notebook 01 records it only when its settings are the ladder's)
    seeds = (one or {}).get("seed_study") or {}
    policy = seeds.get(one["policy"]) if one else None
    if policy:
        lines.append(f"- **Training seeds**: the policy's greedy accuracy is {_pct(min(policy))}-{_pct(max(policy))} "
                     f"over {len(policy)} training seeds (the seed study).")
    else:
        lines.append("- **Training seeds**: the seed study has not been run for these models.")
    return "\n".join(lines)


def readme_costs(timings: dict) -> str:
    """The glance's line on what the two commands cost, from `make timings`' record (docs/timings.json); each
    machine named once, after the commands measured on it."""
    names = {"setup": "the virtual environment (`make setup`, from nothing)",
             "reproduce": "`make reproduce` (the full study, from nothing)", "test": "`make test`"}
    disk = {"reproduce": "data", "setup": "disk"}  # what the folder measured holds: the study's data, the packages
    done = {k: v for k, v in timings.items() if k in names and v["status"] == 0}
    if not done:
        return "- **Time**: not measured yet on a committed record (`make timings`)."

    def on(m: dict) -> str:
        return (f"on {m['processor']} with {m['cores']} cores and {m['memory_gb']:.0f} GB of memory, "
                f"Python {m['python']}")

    by_machine: dict[str, list[str]] = {}
    for k in (k for k in names if k in done):
        v = done[k]
        by_machine.setdefault(on(v["machine"]), []).append(
            f"{names[k]} {v['seconds'] / 60:.0f} min (peak memory {v['peak_memory_gb']:.1f} GB"
            + (f", {disk.get(k, 'disk')} {v['data_gb']:.2f} GB" if v.get("data_gb") else "") + ")")
    missing = [names[k] for k in names if k not in done]
    return ("- **Time**: " + "; ".join(f"{'; '.join(parts)}, {machine}" for machine, parts in by_machine.items())
            + (f"; {', '.join(missing)} not measured yet (`make timings`)" if missing else "") + ".")


def rendered_block(name: str) -> tuple[str, str]:
    """The markers between which `make readme` writes block `name` of a page."""
    if name == "results":
        return README_START, README_END
    return f"<!-- {name}: rendered by `make readme` -->", f"<!-- {name} end -->"


def render_blocks(text: str, blocks: dict[str, str], page: str = "README.md") -> str:
    """`text` with each block (between its markers) replaced by its rendering."""
    for name, content in blocks.items():
        start, end = rendered_block(name)
        if start not in text or end not in text:
            raise ValueError(f"{page} has no {name} section: add the lines {start!r} and {end!r}")
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{content}\n{end}{tail}"
    return text


def render_readme(readme: str, summaries: dict[str, dict], trials: dict | None = None) -> str:
    """The README with its claims table and its glance rendered from `summaries`."""
    from ttc.report.claims import claims_table

    from ttc.report import timings

    glance = readme_glance(summaries) + "\n" + readme_costs(timings.load())
    return render_blocks(readme, {"claims": claims_table(summaries, load_seed_summaries()), "glance": glance})


def render_results_page(page: str, summaries: dict[str, dict], trials: dict | None = None) -> str:
    """docs/results.md with its results section (between its two markers) rendered from `summaries`."""
    return render_blocks(page, {"results": readme_results(summaries, trials)}, "docs/results.md")


PAGES = {"README.md": render_readme, "docs/results.md": render_results_page}
"""The pages `make readme` renders, each from the committed summaries and trials."""


def main(argv: list[str]) -> int:
    if argv != ["readme"]:
        print("usage: python -m ttc.report.findings readme   (renders README.md and docs/results.md from "
              "figures/NN_summary.json)", file=sys.stderr)
        return 2
    summaries, trials = load_summaries(), load_trials()
    for name, render in PAGES.items():
        path = ROOT / name
        path.write_text(render(path.read_text(), summaries, trials))
        print(f"rendered {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
