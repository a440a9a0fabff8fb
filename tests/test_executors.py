"""Chunked builds on Ray (issue 18): on a local Ray instance started here (2 CPUs), a build gives the local
build's table and ledger whatever order its chunks finish in; a worker killed mid-build is retried and the
build completes; a build interrupted after some chunks resumes without recomputing them."""

import os
import sys
from pathlib import Path

import pandas as pd
import pytest

from ttc.core import executors
from ttc.core.compute import Ledger
from ttc.core.config import ConfigError
from ttc.core.executors import ExecutorConfig
from ttc.core.executors import build_in_chunks, chunk_seed
from ttc.pipelines.pool import PoolConfig, sample_pool

RAY = ExecutorConfig(executor="ray")


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray")
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def pool_in(folder: Path, model, tokenizer, problems, executor: ExecutorConfig):
    ledger = Ledger()
    with executors.using(executor):
        table = sample_pool(model, tokenizer, problems, PoolConfig(n=4, max_new_tokens=24, problems_per_chunk=5),
                            folder / "pool.parquet", ledger=ledger, progress=False)
    return table, ledger


def test_a_pool_built_on_ray_equals_the_local_one_and_counts_the_same_compute(tmp_path, ray_instance, tiny_model,
                                                                             tokenizer, splits):
    local, local_ledger = pool_in(tmp_path / "local", tiny_model, tokenizer, splits["test"], ExecutorConfig())
    remote, remote_ledger = pool_in(tmp_path / "ray", tiny_model, tokenizer, splits["test"], RAY)
    assert len(local) == 4 * len(splits["test"]) and local_ledger.generations == len(local)
    pd.testing.assert_frame_equal(local, remote)
    assert remote_ledger == local_ledger  # the tasks' compute reached the driver's ledger


def numbers(i: int) -> pd.DataFrame:
    """A chunk that is a function of its index alone, like the study's (seeded by chunk_seed)."""
    return pd.DataFrame({"chunk": [i] * 3, "value": [chunk_seed(0, i) % 1000 + k for k in range(3)]})


def dies_once(marks: Path, victim: int):
    """make_chunk that kills its worker process the first time it computes chunk `victim`."""
    def make_chunk(i: int) -> pd.DataFrame:
        if i == victim and not (marks / "died").exists():
            (marks / "died").touch()
            os._exit(1)  # the worker dies: no exception, no cleanup
        return numbers(i)
    return make_chunk


def counted(marks: Path, fail_at: int | None = None):
    """make_chunk that leaves a mark per chunk it computes, and raises at chunk `fail_at`."""
    def make_chunk(i: int) -> pd.DataFrame:
        if i == fail_at:
            raise RuntimeError(f"chunk {i} fails on purpose")
        (marks / f"computed-{i}").touch()
        return numbers(i)
    return make_chunk


def test_a_killed_worker_is_retried_and_the_build_completes(tmp_path, ray_instance):
    expected = build_in_chunks(tmp_path / "local.parquet", {"x": 1}, 6, numbers, progress=False)
    with executors.using(RAY):
        table = build_in_chunks(tmp_path / "ray.parquet", {"x": 1}, 6, dies_once(tmp_path, 2), progress=False)
    assert (tmp_path / "died").exists()  # it did die once
    pd.testing.assert_frame_equal(table, expected)


def test_an_interrupted_build_resumes_without_recomputing_its_finished_chunks(tmp_path, ray_instance):
    marks = tmp_path / "marks"
    marks.mkdir()
    path, settings = tmp_path / "t.parquet", {"x": 2}
    with executors.using(RAY), pytest.raises(Exception, match="chunk 5 fails on purpose"):
        build_in_chunks(path, settings, 8, counted(marks, fail_at=5), progress=False)
    finished = {p.name.removeprefix("computed-") for p in marks.iterdir()}
    pieces = sorted(path.parent.glob("t.parquet.partial/*/chunk-*.parquet"))
    assert not path.exists() and len(pieces) >= 1 and "5" not in finished
    for p in marks.iterdir():
        p.unlink()
    with executors.using(RAY):
        table = build_in_chunks(path, settings, 8, counted(marks), progress=False)
    recomputed = {int(p.name.removeprefix("computed-")) for p in marks.iterdir()}
    on_disk_before = {int(p.name.removeprefix("chunk-").removesuffix(".parquet")) for p in pieces}
    assert recomputed == set(range(8)) - on_disk_before  # the finished pieces were read back, not redone
    pd.testing.assert_frame_equal(table, pd.concat([numbers(i) for i in range(8)], ignore_index=True))


def test_the_executor_is_a_study_parameter(tmp_path, monkeypatch):
    from ttc.pipelines.study import Study, profile_params

    monkeypatch.setenv("TTC_DATA_ROOT", str(tmp_path))
    with executors.using(ExecutorConfig()):
        Study.from_params(profile_params("tiny") | {"executor": "ray", "ray_address": "auto"})
        assert executors.current() == ExecutorConfig(executor="ray", ray_address="auto")
    with pytest.raises(ConfigError, match="executor='mpi'"):
        ExecutorConfig(executor="mpi")
    with pytest.raises(ConfigError, match="ray_address='auto' is set but executor='local'"):
        ExecutorConfig(ray_address="auto")


@pytest.mark.parametrize("address, says", [
    ("garbage", r"give '' \(a local Ray instance\), 'auto'"),
    ("head:", "give ''"),
    ("http://head:6379", "give ''"),
    ("ray://127.0.0.1:1", r"Ray Client \(ray://\) needs `ray\[client\]`, which is not installed"),
])
def test_a_ray_address_is_checked_before_any_work(tmp_path, monkeypatch, address, says):
    from ttc.pipelines.study import Study, profile_params

    monkeypatch.setenv("TTC_DATA_ROOT", str(tmp_path))
    with pytest.raises(ConfigError, match=f"ray_address={address!r} is not an address .*{says}"):
        Study.from_params(profile_params("tiny") | {"executor": "ray", "ray_address": address})
    for fine in ("", "auto", "head:6379", "10.0.0.2:6379", "node-1.cluster.local:6379"):
        assert ExecutorConfig(executor="ray", ray_address=fine).ray_address == fine
