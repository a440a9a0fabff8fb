"""Notebook 01's facts: how often a size was shown each fact of the letter operators' tables, and whether it
holds it, to tell whether what a size knows is bound by its exposures or by its capacity.

A fact is one entry of a letter operator's random table (`ttc.world.facts`). Its *exposures* are the times a
step showing it was in a training batch of the model: the batches are a function of the training seed and the
step alone (`ttc.models.pretrain.batch_rows`), so they are replayed and counted exactly, the same for every
size trained with the same settings. A size *holds* a fact when, reading a test problem's worked solution up
to the fact's value, it gives that value a probability of at least 1/2 (so that greedy decoding writes it);
the log-probability beside it moves smoothly where held / not held jumps.

Per size, facts held against exposures answer the question of what binds: a size limited by exposures holds
every fact shown often enough and none shown less, and more tokens move its threshold; a size limited by
capacity leaves facts it was shown often unheld. The estimated number of facts a size holds, times log2 of the
modulus, is the knowledge it stores, to set against the ~1-2 bits per parameter that language models reach
(Allen-Zhu and Li, arXiv 2404.05405).

Use: `counts = exposures(splits["train"], tokenizer, cfg.pretrain)`,
`fact_table(model_dir, name, splits["test"], counts, path)`, `held_by_exposure(table)`, `knowledge(...)`.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from ttc.core.store import cached_table
from ttc.models.lm import model_record
from ttc.models.pretrain import PretrainConfig, batch_rows, training_documents
from ttc.verifiers.reference import LikelihoodVerifier
from ttc.world import synthetic as W
from ttc.world.facts import OPERATOR_RANK, fact_steps

HELD = math.log(0.5)
"""A fact is held when the model gives its value at least this log-probability: greedy decoding then writes it."""

EXPOSURE_BINS = (0, 1, 4, 16, 64, 256, 1024, 4096, 16384)
"""Left edges of the exposure bins: none, then powers of 4 (the last bin is open)."""


def exposures(train: list[W.Problem], tokenizer, config: PretrainConfig) -> Counter:
    """Times each fact's step was in a training batch of a model pretrained on `train` with `config`."""
    docs = training_documents(train, tokenizer, config)
    plain = [len(d.ids) for d in docs.plain]  # a retry document's attempts show facts too, but wrong and unlearned
    retried = [len(d.ids) for d in docs.retried] if docs.retried is not None else plain
    draws = np.zeros(len(train), dtype=np.int64)
    for step in range(config.steps):
        lengths = retried if config.retries_at(step) else plain
        for row in batch_rows(len(train), lengths.__getitem__, step, config):
            np.add.at(draws, row, 1)
    counts: Counter = Counter()
    for problem, n in zip(train, draws.tolist()):
        for fs in fact_steps(problem) if n else ():
            counts[fs.fact] += n
    return counts


def fact_table(model_dir: Path, name: str, problems: list[W.Problem], counts: Counter, path: Path) -> pd.DataFrame:
    """One row per fact step of `problems`' worked solutions: the fact, its exposures (`counts`), and the
    log-probability the model `name` gives its value after reading the solution up to it; cached at `path`,
    keyed by the model's own record (which holds its pretraining settings, so the exposures too)."""
    settings = {"model": model_record(model_dir), "problems": [p.id for p in problems], "held": HELD}

    def build() -> pd.DataFrame:
        chains = [p for p in problems if fact_steps(p)]
        moduli = {W.FAMILIES["modchain"].parse_question(p.question)[2] for p in chains}
        if len(moduli) > 1:
            raise ValueError(f"fact_table: problems of several moduli {sorted(moduli)}; give one world's problems")
        width = W.FAMILIES["modchain"].width(moduli.pop()) if chains else 1
        # the value's digits are the tokens just before the newline that closes its step
        logps, _ = LikelihoodVerifier.load(model_dir).per_line(
            [W.prompt(p) for p in chains], [list(p.steps) for p in chains],
            lambda per_token, ends: [float(per_token[end - width:end].sum()) for end in ends])
        rows = []
        for problem, per_step in zip(chains, logps):
            for fs in fact_steps(problem):
                logp = per_step[fs.step]
                rows.append({"model": name, "problem_id": problem.id, "op": fs.fact.op, "rank": OPERATOR_RANK[fs.fact.op],
                             "a": fs.fact.a, "b": fs.fact.b, "exposures": counts.get(fs.fact, 0), "logp": logp,
                             "held": logp >= HELD})
        return pd.DataFrame(rows)

    return cached_table(path, settings, build, f"facts held by {name}")


def exposure_bin(exposures: pd.Series) -> pd.Series:
    """The left edge of each count's bin (`EXPOSURE_BINS`)."""
    edges = np.asarray(EXPOSURE_BINS)
    return pd.Series(edges[np.searchsorted(edges, exposures.to_numpy(), side="right") - 1], index=exposures.index)


def held_by_exposure(table: pd.DataFrame) -> pd.DataFrame:
    """Per (model, exposure bin): the share of fact steps held, the mean log-probability of the value, and n."""
    return (table.assign(bin=exposure_bin(table["exposures"]))
            .groupby(["model", "bin"]).agg(held=("held", "mean"), logp=("logp", "mean"), n=("held", "size"))
            .reset_index())


def knowledge(table: pd.DataFrame, counts: Counter, parameters: dict[str, int], modulus: int) -> pd.DataFrame:
    """Per model: the estimated facts it holds among all those its training showed (each shown fact counted
    by the share held in its exposure bin, or in the nearest bin with test fact steps where its own has none),
    their bits (log2 of the modulus each), bits per parameter, and the fewest exposures at which it holds half
    of a bin's facts (None: no bin reaches half)."""
    shown = pd.Series(list(counts.values()), dtype="int64")
    shown_bins = exposure_bin(shown).value_counts()
    position = {b: i for i, b in enumerate(EXPOSURE_BINS)}
    rows = []
    for model, g in held_by_exposure(table).groupby("model"):
        share = g.set_index("bin")["held"]
        nearest = {b: min(share.index, key=lambda x: abs(position[x] - position[b])) for b in shown_bins.index}
        held = float(sum(n * share[nearest[b]] for b, n in shown_bins.items()))
        half = g.loc[g["held"] >= 0.5, "bin"]
        rows.append({"model": model, "parameters": parameters[model], "facts_shown": int(len(shown)),
                     "facts_held": held, "bits": held * math.log2(modulus),
                     "bits_per_parameter": held * math.log2(modulus) / parameters[model],
                     "half_held_from": int(half.min()) if len(half) else None})
    return pd.DataFrame(rows).sort_values("parameters").reset_index(drop=True)


def world_has_facts(config: W.WorldConfig) -> bool:
    """Whether the world has letter operators (facts) at all."""
    return "modchain" in config.families and config.modchain_operators > 0 and config.modchain_operator_share > 0
