"""The sample pool: many policy samples per problem, drawn once and reused by every budget.

Best-of-N at N = 1..256, difficulty bins and verifier comparisons all read
this one table (one row per sample: its text, answer, correctness and token
count) and subsample it, so budgets nest and nothing is sampled twice. The
pool is drawn in chunks of problems, each written as it finishes, so an
interrupted run resumes where it stopped; chunk i is seeded by (seed, i)
alone, so a resumed pool equals an uninterrupted one.

Use: `pool = sample_pool(model, tokenizer, problems, PoolConfig(n=512), path)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ttc.core.compute import Ledger
from ttc.core.config import check_fields, check_range
from ttc.core.executors import build_in_chunks, chunk_seed
from ttc.core.executors import ledgers_of
from ttc.models.sampling import Sampler
from ttc.world import synthetic as W
from ttc.world.protocol import SYNTHETIC, World, grading_record


@dataclass(frozen=True)
class PoolConfig:
    n: int = 512  # samples per problem (the paper: 2048)
    temperature: float = 1.0
    max_new_tokens: int = 224
    batch_size: int = 256
    problems_per_chunk: int = 20  # the unit of resumption
    seed: int = 0

    def __post_init__(self):
        check_fields(self)
        check_range(self, "n", 1)
        check_range(self, "temperature", 0.0, 10.0)
        check_range(self, "max_new_tokens", 1)
        check_range(self, "batch_size", 1)
        check_range(self, "problems_per_chunk", 1)


def _sample_chunk(sampler: Sampler, problems: list, cfg: PoolConfig, seed: int, world: World) -> pd.DataFrame:
    samples = sampler.sample([world.prompt(p) for p in problems], n=cfg.n, temperature=cfg.temperature, seed=seed)
    rows = []
    for p, completions in zip(problems, samples):
        for k, c in enumerate(completions):
            answer = world.answer(c.text)
            verdict = world.verdict(p, answer)
            rows.append({"problem_id": p.id, "sample": k, "text": c.text, "answer": answer,
                         "correct": verdict.correct, "n_tokens": c.n_tokens, "stop": c.stop,
                         **grading_record(world, verdict)})
    return pd.DataFrame(rows)


def pool_settings(cfg: PoolConfig, problems: list[W.Problem], policy_record: dict | None) -> dict:
    """What a pool is made of: its config, its problems and the policy that drew it."""
    return {"pool": cfg, "problems": [p.id for p in problems], "policy": policy_record}


def sample_pool(model, tokenizer, problems: list, cfg: PoolConfig, path: Path,
                ledger: Ledger | None = None, progress: bool = True, policy_record: dict | None = None,
                world: World = SYNTHETIC) -> pd.DataFrame:
    """The pool for `problems` at `path` (parquet), sampled now unless it is there with the same settings.

    `policy_record` (`ttc.models.lm.model_record` of the policy) joins those settings,
    so that a pool is never reused for a retrained policy. `world` (`ttc.world.protocol`) prompts and grades.
    """
    sampler = Sampler(model, tokenizer, batch_size=cfg.batch_size, max_new_tokens=cfg.max_new_tokens,
                      ledger=ledger)
    chunks = [problems[i:i + cfg.problems_per_chunk] for i in range(0, len(problems), cfg.problems_per_chunk)]

    def make_chunk(i: int) -> pd.DataFrame:
        return _sample_chunk(sampler, chunks[i], cfg, seed=chunk_seed(cfg.seed, i), world=world)

    return build_in_chunks(path, pool_settings(cfg, problems, policy_record), len(chunks), make_chunk,
                           desc=f"pool: {cfg.n} samples x {len(problems)} problems", progress=progress,
                           ledgers=ledgers_of(sampler))


def problem_stats(pool: pd.DataFrame) -> pd.DataFrame:
    """Per problem: samples, correct samples and pass@1."""
    stats = pool.groupby("problem_id", sort=False).agg(n=("correct", "size"), c=("correct", "sum"))
    stats["pass1"] = stats["c"] / stats["n"]
    return stats


def difficulty_table(pool: pd.DataFrame, problems: dict[str, W.Problem], seed: int = 0) -> pd.DataFrame:
    """Per problem: pass@1 over the pool, its family and nominal level, and its oracle difficulty
    bin (5 quantile bins of pass@1, bin 1 the easiest; ties ordered at random, seeded)."""
    from ttc.methods.analysis import difficulty_bins

    stats = problem_stats(pool)
    stats["family"] = [problems[i].family for i in stats.index]
    stats["level"] = [problems[i].level for i in stats.index]
    stats["bin"] = difficulty_bins(stats["pass1"], seed=seed)
    return stats
