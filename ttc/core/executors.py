"""Where the chunks of a build run: here, one after another (`local`, the default), or as Ray tasks on this
machine or a cluster (`ray`), chosen by one parameter (issue 18). Ray schedules, retries and moves the work;
nothing here is a scheduler.

Every costly step of the study is a chunked build (`build_in_chunks`, below: the pool, the PRM labels, pool
scoring, search, the revision chains, the ladder pools). With `executor: ray` the chunks not yet on disk run as
Ray tasks, each writing its piece through the artifact store where the driver reads it, so:
- the results are the local run's: piece i is a function of (settings, i) alone (its seed is `chunk_seed(seed,
  i)`), whatever ran it and in whatever order the pieces finished;
- a task whose worker dies is retried by Ray (`ray_max_retries`); an interrupted driver resumes from the pieces on
  disk, exactly as locally;
- the compute ledgers the build's closure counts into (the sampler's, the verifier's) gain what the tasks
  counted, so "compute spent" reads the same;
- one progress bar runs over the chunks.

A task receives the build's closure with its models (one copy in Ray's object store, deserialised by each task).
For the project's models that costs milliseconds a chunk (`make bench`); a multi-GB real model would be loaded
once per task, where an actor holding it would pay (not built: see the README's Ray section).

Set-ups (README): one machine (`ray_address: ""` starts a local instance with every core), or a cluster
(`ray_address: auto`, or the head's `HOST:6379`, on a node of it) whose nodes share the filesystem that holds
`data/` and have this project installed. Ray Client addresses (`ray://`) are refused: `ray[client]` is not
installed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ttc.core import determinism
from ttc.core.config import ConfigError, check_fields, check_range
from ttc.core.store import partial_dir, reusable, write_table


_HOST_PORT = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?:\d{1,5}")  # a Ray head's GCS, e.g. head:6379


@dataclass(frozen=True)
class ExecutorConfig:
    executor: Literal["local", "ray"] = "local"
    ray_address: str = ""  # "": start a local Ray instance; else connect from a node ("auto", "HOST:6379")
    ray_task_cpus: float = 1.0  # CPUs (so torch threads) per task
    ray_task_gpus: float = 0.0  # GPUs per task (real models on a GPU cluster: 1)
    ray_max_retries: int = 3  # times Ray reruns a task whose worker died

    def __post_init__(self):
        check_fields(self)
        check_range(self, "ray_task_cpus", 0.0)
        check_range(self, "ray_task_gpus", 0.0)
        check_range(self, "ray_max_retries", 0)
        if self.ray_address and self.ray_address != "auto" and not _HOST_PORT.fullmatch(self.ray_address):
            client = self.ray_address.startswith("ray://")
            raise ConfigError(
                f"ray_address={self.ray_address!r} is not an address this project can connect to: "
                + ("Ray Client (ray://) needs `ray[client]`, which is not installed; run the notebooks on a node of "
                   "the cluster with ray_address='auto' or 'HEAD:6379'" if client else
                   "give '' (a local Ray instance), 'auto' (the cluster this node belongs to) or the head's "
                   "'HOST:PORT' (e.g. 'head:6379')"))
        if self.executor == "local" and self.ray_address:
            raise ConfigError(f"ray_address={self.ray_address!r} is set but executor='local': use executor='ray' to "
                              "run on that cluster, or leave ray_address empty")


_current = ExecutorConfig()


def configure(cfg: ExecutorConfig) -> None:
    """Make `cfg` the executor of every chunked build from now on (a `Study` does this with its settings)."""
    global _current
    _current = cfg


def current() -> ExecutorConfig:
    return _current


@contextlib.contextmanager
def using(cfg: ExecutorConfig):
    """`cfg` as the executor inside the block, the previous one after it."""
    previous = current()
    configure(cfg)
    try:
        yield cfg
    finally:
        configure(previous)


def ensure_ray(cfg: ExecutorConfig):
    """The `ray` module, connected: to the running instance, to `cfg.ray_address`, or to a new local one."""
    try:
        import ray
    except ImportError:
        raise ConfigError("executor='ray' needs Ray: `pip install -r requirements.txt` installs the pinned one") from None
    if not ray.is_initialized():
        # Workers start pinned (ttc.core.determinism), before Ray's own imports load numpy.
        env = {"env_vars": dict(determinism.PINNED_ENV)} if determinism.enabled() else None
        ray.init(address=cfg.ray_address or None, include_dashboard=False, log_to_driver=False,
                 configure_logging=False, runtime_env=env)
    return ray


def ledgers_of(*counters) -> tuple:
    """The ledgers of samplers and verifiers (each once: some share one), for a build's `ledgers`."""
    out = {}
    for c in counters:
        ledger = getattr(c, "ledger", None)
        if ledger is not None:
            out.setdefault(id(ledger), ledger)
    return tuple(out.values())


def _ledger_values(ledgers) -> list[dict]:
    return [dataclasses.asdict(ledger) for ledger in ledgers]


def _run_piece(payload, i: int, piece: str, settings: dict) -> list[dict]:
    """A Ray task: piece i of a build, written where the driver reads it; returns what it added to the
    closure's ledgers (this task's copies of them)."""
    make_chunk, ledgers = payload
    before = _ledger_values(ledgers)
    write_table(Path(piece), make_chunk(i), settings)
    return [{k: v - b[k] for k, v in a.items()} for a, b in zip(_ledger_values(ledgers), before)]


def run_on_ray(cfg: ExecutorConfig, todo: list[int], make_chunk: Callable, pieces: dict[int, Path],
               settings: Callable[[int], dict], ledgers: tuple, bar) -> None:
    """Pieces `todo` of a build as Ray tasks, each written to `pieces[i]` with `settings(i)`; `bar` (a tqdm)
    advances as they finish; the ledgers gain what the tasks spent. A task that raises stops the build (the
    finished pieces stay on disk for the rerun)."""
    from ttc.core.compute import Ledger

    ray = ensure_ray(cfg)
    task = ray.remote(_run_piece).options(num_cpus=cfg.ray_task_cpus, num_gpus=cfg.ray_task_gpus,
                                          max_retries=cfg.ray_max_retries)
    payload = ray.put((make_chunk, tuple(ledgers)))  # one copy of the closure and its models, shared by the tasks
    running = [task.remote(payload, i, str(pieces[i]), settings(i)) for i in todo]
    try:
        while running:
            done, running = ray.wait(running, num_returns=1)
            for spent in ray.get(done):
                for ledger, delta in zip(ledgers, spent):
                    ledger += Ledger(**delta)
                bar.update(1)
    except BaseException:
        for ref in running:  # an error or an interrupt: the other tasks stop; their pieces are redone on rerun
            ray.cancel(ref, force=True)
        raise


# --------------------------------------------------------------------------
# Chunked builds


def chunk_seed(seed: int, chunk: int) -> int:
    """The seed of piece `chunk` of a chunked computation: a function of (seed, chunk) alone."""
    return int(np.random.SeedSequence([seed, chunk]).generate_state(1)[0])


def build_in_chunks(path: Path, settings: dict, n_chunks: int, make_chunk: Callable[[int], pd.DataFrame],
                    desc: str = "", progress: bool = True, ledgers: tuple = ()) -> pd.DataFrame:
    """The table at `path`, built as `n_chunks` pieces `make_chunk(i)` unless it is there.

    Each piece is written as it finishes, so an interrupted build resumes
    with the next piece; `settings` (everything that affects the table) is
    recorded with the table, so nothing made with other settings is reused.
    Piece i must be a function of the settings and i alone (seeded by `chunk_seed`): the pieces not on disk run
    here in order, or as Ray tasks in any order (`ttc.core.executors`, the study's `executor` parameter), with the
    same table. `ledgers` are the compute ledgers `make_chunk` counts into: a remote piece's count is added to
    them, so they read the same either way.
    """
    path = Path(path)
    if reusable(path, settings, "table"):
        return pd.read_parquet(path)
    partial = partial_dir(path, settings)
    pieces = {i: partial / f"chunk-{i:05d}.parquet" for i in range(n_chunks)}
    todo = [i for i in range(n_chunks) if not reusable(pieces[i], settings | {"chunk": i}, "piece")]
    executor = current()
    with tqdm(total=n_chunks, initial=n_chunks - len(todo), desc=desc, disable=not progress, unit="chunk") as bar:
        if executor.executor == "ray" and todo:
            run_on_ray(executor, todo, make_chunk, pieces, lambda i: settings | {"chunk": i}, ledgers, bar)
        else:
            for i in todo:
                write_table(pieces[i], make_chunk(i), settings | {"chunk": i})
                bar.update(1)
    table = pd.concat([pd.read_parquet(pieces[i]) for i in range(n_chunks)], ignore_index=True)
    write_table(path, table, settings)
    shutil.rmtree(partial.parent, ignore_errors=True)
    return table
