import pytest

from ttc.core.compute import Ledger
from ttc.core.config import ConfigError
from ttc.core.executors import build_in_chunks
from ttc.pipelines.pool import PoolConfig, problem_stats, sample_pool
from ttc.world import synthetic as W


def test_pool_is_one_row_per_sample_and_graded(tiny_model, tokenizer, splits, tmp_path):
    problems = splits["test"][:5]
    ledger = Ledger()
    cfg = PoolConfig(n=6, max_new_tokens=16, problems_per_chunk=2)
    pool = sample_pool(tiny_model, tokenizer, problems, cfg, tmp_path / "pool.parquet", ledger=ledger,
                       progress=False)
    assert len(pool) == 30 and ledger.generations == 30
    assert all(sorted(g) == list(range(6)) for _, g in pool.groupby("problem_id")["sample"])
    by_id = {p.id: p for p in problems}
    assert all(r.correct == W.grade(by_id[r.problem_id], r.text) for r in pool.itertuples())
    assert pool["n_tokens"].sum() == ledger.generated_tokens
    assert (problem_stats(pool)["n"] == 6).all()
    # A rerun reads the pool back; other settings are refused rather than mixed in.
    again = sample_pool(tiny_model, tokenizer, problems, cfg, tmp_path / "pool.parquet", progress=False)
    assert again.equals(pool)
    with pytest.raises(ConfigError, match="other settings"):
        sample_pool(tiny_model, tokenizer, problems, PoolConfig(n=7), tmp_path / "pool.parquet", progress=False)
    with pytest.raises(ConfigError, match="other settings"):  # nor reused for another (or retrained) policy
        sample_pool(tiny_model, tokenizer, problems, cfg, tmp_path / "pool.parquet", progress=False,
                    policy_record={"name": "d24-l2"})


def test_an_interrupted_build_resumes_to_the_same_table(tmp_path):
    import pandas as pd

    def piece(i):
        return pd.DataFrame({"chunk": [i, i], "value": [i * 10, i * 10 + 1]})

    whole = build_in_chunks(tmp_path / "a.parquet", {"x": 1}, 4, piece, progress=False)
    calls = []

    def failing(i):
        calls.append(i)
        if i == 2 and calls.count(2) == 1:
            raise KeyboardInterrupt
        return piece(i)

    with pytest.raises(KeyboardInterrupt):
        build_in_chunks(tmp_path / "b.parquet", {"x": 1}, 4, failing, progress=False)
    resumed = build_in_chunks(tmp_path / "b.parquet", {"x": 1}, 4, failing, progress=False)
    assert resumed.equals(whole) and calls == [0, 1, 2, 2, 3]
    assert not (tmp_path / "b.parquet.partial").exists()
