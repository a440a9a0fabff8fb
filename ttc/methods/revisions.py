"""Revisions (Sec. 6, App. H-K): revision trajectories, the revision model's fine-tuning examples, chains of
revisions at inference, the staircase of chains that serves every split of a budget, and hierarchical selection.

- **Trajectories**, as the paper builds them: for every correct answer a policy wrote to a training problem,
  0-4 incorrect answers of the *same* problem (the count drawn uniformly, capped by how many exist), the one
  closest to the correct answer by character edit distance (`rapidfuzz`'s Levenshtein) last and the others in
  random order, then the correct answer as the target. No correct answer is ever in the context.
- **Fine-tuning examples**: the context (`ttc.world.text.attempts_context`) and the target attempt, the loss on the
  target's tokens (and the end-of-text after it) only, for `ttc.models.finetune`'s loop with the LM head.
- **Chains**: attempt t is written after the question and the `CONTEXT_ATTEMPTS` most recent attempts; the
  chain's answer at step t is that attempt's. Every attempt goes through the sampler and is billed its real
  tokens (a long context costs prompt tokens), per problem.
- **The staircase**: one set of chains per problem (one of length N, one of N/2, two of N/4, four of N/8, ...)
  holds every split of a budget N into chains x length with nested budgets: a chain's first L attempts are the
  chain of length L.
- **Hierarchical best-of-N weighted**: within each chain, the answer with the largest summed score (and that
  sum as the chain's weight); then across chains, the answer with the largest summed chain weight.

- **The ORM of revision outputs**, as the paper's: the revision model's own attempts at other training problems,
  graded, each read after its chain's history (`orm_examples`, `train_revision_orm`).

Use: `trajectories(answers_by_problem, rng)`; `sft_examples(trajectories, problems, tokenizer)`;
`sample_chains(sampler, problems, lengths, temperature, seed)` (one row per attempt); `staircase(64)`;
`split(chains, 4, 16)`; `hierarchical_weighted(chains_answers, chains_scores)`;
`score_attempts(verifier, attempts, problems, with_history)`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz.distance import Levenshtein
from transformers import AutoTokenizer

from ttc.core.compute import processing_flops
from ttc.core.config import ConfigError, check_fields, check_range
from ttc.core.executors import build_in_chunks, chunk_seed
from ttc.core.executors import ledgers_of
from ttc.core.ordered import ordered
from ttc.models.finetune import Example, FinetuneConfig, load_base, token_loss, train_and_save, value_loss
from ttc.verifiers.selection import majority, weighted
from ttc.verifiers.spec import REVISION_ORM  # noqa: F401 (its selector name; importers read it here too)
from ttc.world import synthetic as W
from ttc.world import text as T

MAX_INCORRECT = 4
"""The most incorrect attempts before the target in a trajectory (the paper's 0-4)."""
CONTEXT_ATTEMPTS = 4
"""Attempts a chain keeps in context at inference (the paper: the 4 most recent)."""


@dataclass(frozen=True)
class Trajectory:
    problem_id: str
    context: tuple[str, ...]  # earlier (incorrect) attempts, oldest first
    target: str  # the correct attempt the model learns to write after them


def trajectories(answers: dict[str, list[tuple[str, bool]]], rng: np.random.Generator,
                 max_incorrect: int = MAX_INCORRECT) -> list[Trajectory]:
    """One trajectory per correct answer: `answers[problem_id]` is that problem's sampled (text, correct)."""
    out = []
    for pid in sorted(answers):
        texts = answers[pid]
        wrong = [t for t, ok in texts if not ok]
        for target in (t for t, ok in texts if ok):
            k = int(rng.integers(0, min(max_incorrect, len(wrong)) + 1))
            if k == 0:
                out.append(Trajectory(pid, (), target))
                continue
            chosen = [wrong[i] for i in rng.choice(len(wrong), size=k, replace=False)]
            # the closest to the target last (ties: the first drawn), the others in their random order
            closest = min(range(k), key=lambda i: Levenshtein.distance(chosen[i], target))
            out.append(Trajectory(pid, tuple(chosen[:closest] + chosen[closest + 1:] + [chosen[closest]]), target))
    return out


def revision_prompt(problem: W.Problem, attempts: list[str] | tuple[str, ...]) -> str:
    """What the revision model is given: the question and the `CONTEXT_ATTEMPTS` most recent attempts."""
    return T.attempts_context(problem.question, list(attempts)[-CONTEXT_ATTEMPTS:] if attempts else [])


def sft_examples(items: list[Trajectory], problems: dict[str, W.Problem], tokenizer,
                 max_positions: int) -> list[Example]:
    """`ttc.models.finetune` examples of the trajectories: the loss on the target attempt's tokens and the end-of-text
    after it, never on the question or the earlier attempts."""
    out = []
    for tr in items:
        context = tokenizer(revision_prompt(problems[tr.problem_id], tr.context))["input_ids"]
        target = tokenizer(tr.target.rstrip("\n"), add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids = context + target
        if len(ids) > max_positions:
            raise ConfigError(f"a revision trajectory of problem {tr.problem_id} is {len(ids)} tokens, more than the "
                              f"model's {max_positions} positions; extend max_position_embeddings")
        # the output at position p predicts token p + 1: positions len(context) - 1 .. len(ids) - 2
        out.append(Example(tr.problem_id, tuple(ids), tuple(range(len(context) - 1, len(ids) - 1)), tuple(target)))
    return out


ATTEMPT_COLUMNS = ("problem_id", "chain", "step", "text", "answer", "correct", "prompt_tokens", "generated_tokens",
                   "flops")
"""One row per attempt of a chain: its text and grade, and what writing it cost (its prompt holds the question and
the chain's most recent attempts)."""


def sample_chains(sampler, problems: list[W.Problem], lengths: list[int], temperature: float, seed: int,
                  max_new_tokens: int = 224) -> pd.DataFrame:
    """For every problem, one chain per entry of `lengths` (that many attempts each): attempt t is sampled after
    the question and the chain's most recent attempts. One row per attempt (`ATTEMPT_COLUMNS`), billed its
    prompt and generated tokens at 2N FLOPs each."""
    chains = {p.id: [[] for _ in lengths] for p in problems}
    out = []
    for t in range(max(lengths, default=0)):
        rows = [(p, c) for p in problems for c, n in enumerate(lengths) if n > t]
        outs = sampler.sample([revision_prompt(p, chains[p.id][c]) for p, c in rows], n=1, temperature=temperature,
                              seed=chunk_seed(seed, t), max_new_tokens=max_new_tokens)
        for (p, c), (completion,) in zip(rows, outs):
            text = completion.text.rstrip("\n")
            chains[p.id][c].append(text)
            answer = T.extract_answer(text)
            out.append((p.id, c, t, text, answer, answer is not None and answer == p.answer, completion.prompt_tokens,
                        completion.n_tokens,
                        processing_flops(sampler.n_parameters, completion.prompt_tokens + completion.n_tokens)))
    return pd.DataFrame(out, columns=list(ATTEMPT_COLUMNS))


def chains_of(attempts: pd.DataFrame) -> dict[str, list[pd.DataFrame]]:
    """Per problem, its chains in chain order, each its attempts in step order."""
    ordered = attempts.sort_values(["problem_id", "chain", "step"])
    return {pid: [c for _, c in g.groupby("chain", sort=True)] for pid, g in ordered.groupby("problem_id", sort=True)}


def histories(attempts: pd.DataFrame, problems: dict[str, W.Problem]) -> list[str]:
    """Per attempt (in `attempts`' row order), the prompt it was written after: the question and the chain's
    most recent earlier attempts (what a verifier with the revision history in context reads)."""
    out = pd.Series(index=attempts.index, dtype=object)
    for (pid, _), g in attempts.sort_values("step").groupby(["problem_id", "chain"], sort=False):
        texts = g["text"].tolist()
        for i, row in enumerate(g.index):
            out[row] = revision_prompt(problems[pid], texts[:i])
    return out.tolist()


def build_chains(sampler, problems: list[W.Problem], lengths: list[int], temperature: float, seed: int, path,
                 settings: dict, problems_per_chunk: int, max_new_tokens: int = 224, what: str = "revision chains",
                 progress: bool = True) -> pd.DataFrame:
    """`sample_chains` of `problems`, cached at `path` and built in resumable chunks of problems (each seeded by
    (seed, chunk))."""
    chunks = [problems[i:i + problems_per_chunk] for i in range(0, len(problems), problems_per_chunk)]
    return build_in_chunks(path, settings | {"problems": [p.id for p in problems], "lengths": list(lengths)},
                           len(chunks), lambda i: sample_chains(sampler, chunks[i], lengths, temperature,
                                                                chunk_seed(seed, i), max_new_tokens),
                           desc=what, progress=progress, ledgers=ledgers_of(sampler))


def staircase(budget: int) -> list[int]:
    """Chain lengths that hold every split of `budget` (a power of two) into chains x length, nested: one chain
    of length N, one of N/2, two of N/4, four of N/8, ..., N/2 of length 1."""
    if budget < 1 or budget & (budget - 1):
        raise ConfigError(f"budget={budget} must be a power of two (1, 2, 4, ...) for the staircase of chains")
    lengths, length, count = [budget], budget // 2, 1
    while length >= 1:
        lengths += [length] * count
        length, count = length // 2, count * 2
    return lengths


def split(chains: list[list], n_chains: int, length: int, replicate: int = 0) -> list[list]:
    """The `replicate`-th group of `n_chains` chains of at least `length` attempts (in staircase order), each cut
    to its first `length`: replicate 0 is the first `n_chains` such chains, replicate 1 the next, ..."""
    long_enough = [c for c in chains if len(c) >= length]
    if len(long_enough) < n_chains * (replicate + 1):
        raise ConfigError(f"{n_chains} chains of length {length} (replicate {replicate}) are asked for, but only "
                          f"{len(long_enough)} chains are that long")
    return [c[:length] for c in long_enough[replicate * n_chains:(replicate + 1) * n_chains]]


def replicates(chains: list[list], n_chains: int, length: int) -> int:
    """How many disjoint groups of `n_chains` chains of `length` the chains hold (in a staircase of budget N,
    N / budget for every split of a budget)."""
    return sum(len(c) >= length for c in chains) // n_chains


def splits_of(budget: int) -> list[tuple[int, int]]:
    """Every (chains, length) with chains x length = budget, from all parallel to all sequential."""
    return [(budget // length, length) for length in (2 ** k for k in range(int(math.log2(budget)) + 1))]


def hierarchical_weighted(answers: list[list[str | None]], scores: list[list[float]]) -> str | None:
    """Best-of-N weighted within each chain (the answer with the largest summed score, weighted by that sum),
    then across chains (the answer with the largest summed chain weight)."""
    picks, weights = [], []
    for chain_answers, chain_scores in zip(answers, scores, strict=True):
        pick = weighted(chain_answers, chain_scores)
        if pick is not None:
            picks.append(pick)
            weights.append(sum(s for a, s in zip(chain_answers, chain_scores) if a == pick))
    return weighted(picks, weights) if picks else None


def flat_majority(answers: list[list[str | None]]) -> str | None:
    """Majority vote over every answer of every chain (the paper's majority for revisions)."""
    return majority([a for chain in answers for a in chain])


def revised_away(chains: list[list[bool]]) -> dict[str, float]:
    """Of consecutive attempt pairs along chains: the share of correct answers whose next attempt is incorrect,
    and of incorrect answers whose next is correct (the paper: ~38% of correct answers get revised away)."""
    flips = defaultdict(int)
    for chain in chains:
        for a, b in zip(chain, chain[1:]):
            flips[(a, b)] += 1
    right, wrong = flips[(True, True)] + flips[(True, False)], flips[(False, False)] + flips[(False, True)]
    return {"correct_to_incorrect": flips[(True, False)] / right if right else float("nan"),
            "incorrect_to_correct": flips[(False, True)] / wrong if wrong else float("nan")}


def after_incorrect(chains: list[list[tuple[bool, str | None]]]) -> dict[str, float]:
    """What a chain does after a context of only incorrect attempts (the `CONTEXT_ATTEMPTS` most recent): of the
    attempts written after one, the share correct, against the first attempts of the same problems' chains (which
    read no attempt: what an attempt that ignored its context would score, weighed the same), and the share that
    repeats an answer of its context. A reviser that learns from its mistakes beats its first attempts there and
    seldom repeats one. `chains`: per problem, its chains, each a list of (correct, answer) in step order."""
    hits, first, repeats = [], [], []
    for problem_chains in chains:
        first_rate = float(np.mean([chain[0][0] for chain in problem_chains if chain]))
        for chain in problem_chains:
            for t in range(1, len(chain)):
                context = chain[max(0, t - CONTEXT_ATTEMPTS):t]
                if not any(ok for ok, _ in context):
                    ok, answer = chain[t]
                    hits.append(ok)
                    first.append(first_rate)
                    repeats.append(answer is not None and answer in {a for _, a in context})
    mean = (lambda xs: float(np.mean(xs)) if xs else float("nan"))  # noqa: E731
    return {"after_incorrect_attempts": len(hits), "after_incorrect_correct": mean(hits),
            "after_incorrect_first": mean(first), "after_incorrect_repeats": mean(repeats)}


# --------------------------------------------------------------------------
# The revision model: its data, and its fine-tuning from the policy's checkpoint


@dataclass(frozen=True)
class RevisionConfig:
    n_problems: int = 2000  # training problems the policy answers (disjoint from validation and test)
    n_samples: int = 64  # answers per problem (the paper's 64)
    temperature: float = 1.2  # higher than the pool's 1.0, for varied incorrect attempts
    max_trajectories: int = 8000  # of all correct answers' trajectories, a random subset is trained on
    max_positions: int = 1024  # the revision model's positions (RoPE extends the policy's 512)
    lr: float = 1e-3
    batch_size: int = 32
    max_epochs: int = 4
    evals_per_epoch: int = 4
    patience: int = 2  # evaluations without a new low of the validation loss before stopping
    max_new_tokens: int = 224
    batch_size_sampling: int = 256
    problems_per_chunk: int = 250  # the unit of resumption of the answers
    # the ORM of revision outputs: trained on the revision model's own chains of other training problems
    orm_problems: int = 150
    orm_chains: int = 4  # chains per problem
    orm_length: int = 4  # attempts per chain
    # the chains on test problems: one staircase of chains per problem, for every split of `budget`
    budget: int = 64
    n_test_problems: int = 100  # notebook 04's search problems (an equal share of each oracle bin), the first of them
    chain_temperature: float = 1.0
    chain_problems_per_chunk: int = 25
    verifier: str = "adopted"  # the selector of Figs. 6-8: "revision ORM", a verifier of notebook 03's ladder, or its adopted one
    seed: int = 0

    def __post_init__(self):
        check_fields(self)
        for name in ("n_problems", "n_samples", "max_trajectories", "batch_size", "max_epochs", "evals_per_epoch",
                     "patience", "max_new_tokens", "batch_size_sampling", "problems_per_chunk", "orm_problems",
                     "orm_chains", "orm_length", "n_test_problems", "chain_problems_per_chunk"):
            check_range(self, name, 1)
        check_range(self, "temperature", 0.0, 10.0)
        check_range(self, "chain_temperature", 0.0, 10.0)
        staircase(self.budget)  # a power of two
        check_range(self, "max_positions", 64, 8192)
        check_range(self, "lr", 1e-7, 1.0)

    def finetune_config(self):
        return FinetuneConfig(lr=self.lr, batch_size=self.batch_size, max_epochs=self.max_epochs,
                              evals_per_epoch=self.evals_per_epoch, patience=self.patience, seed=self.seed)


def sample_answers(sampler, problems: list[W.Problem], cfg: RevisionConfig, path, settings: dict,
                   progress: bool = True):
    """`cfg.n_samples` answers per problem at `cfg.temperature`, graded: one row per answer (problem_id, sample,
    text, correct), cached at `path` and built in resumable chunks of problems."""
    chunks = [problems[i:i + cfg.problems_per_chunk] for i in range(0, len(problems), cfg.problems_per_chunk)]

    def make_chunk(i: int) -> pd.DataFrame:
        outs = sampler.sample([W.prompt(p) for p in chunks[i]], n=cfg.n_samples, temperature=cfg.temperature,
                              seed=chunk_seed(cfg.seed, i), max_new_tokens=cfg.max_new_tokens)
        return pd.DataFrame([{"problem_id": p.id, "sample": s, "text": c.text, "correct": W.grade(p, c.text)}
                             for p, row in zip(chunks[i], outs) for s, c in enumerate(row)])

    return build_in_chunks(path, settings | {"problems": [p.id for p in problems]}, len(chunks), make_chunk,
                           desc=f"revision data: {cfg.n_samples} answers per problem", progress=progress,
                           ledgers=ledgers_of(sampler))


def training_trajectories(answers, cfg: RevisionConfig) -> list[Trajectory]:
    """The trajectories of `sample_answers`' table, a random `cfg.max_trajectories` of them (seeded)."""
    by_problem: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for pid, text, ok in zip(answers["problem_id"], answers["text"], answers["correct"]):
        by_problem[pid].append((text, bool(ok)))
    rng = np.random.default_rng(cfg.seed)
    items = trajectories(dict(by_problem), rng)
    if len(items) > cfg.max_trajectories:
        items = [items[i] for i in sorted(rng.choice(len(items), size=cfg.max_trajectories, replace=False))]
    return items


def load_revision_model(path):
    """(model, tokenizer) of a trained revision model (or any fine-tuned LM `train_and_save` wrote);
    safetensors only."""
    from transformers import AutoModelForCausalLM

    from ttc.core.store import check_artifact

    check_artifact(Path(path), what="revision model", made_by="notebook 06")
    model = ordered(AutoModelForCausalLM.from_pretrained(path, use_safetensors=True)).eval()
    return model, AutoTokenizer.from_pretrained(path)


def train_revision_model(items: list[Trajectory], problems: dict[str, W.Problem], base_dir, cfg: RevisionConfig,
                         out_dir, settings: dict, progress: bool = True) -> dict:
    """Fine-tune the policy's checkpoint on the trajectories (the loss on each target attempt only), keeping the
    weights of the lowest validation loss on held-out problems: the checkpoint just before the validation loss
    rises, evaluated `evals_per_epoch` times an epoch, training stopped `patience` evaluations after it."""
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    return train_and_save(out_dir, settings,
                          lambda: load_base(base_dir, "lm", seed=cfg.seed, max_positions=cfg.max_positions), tokenizer,
                          lambda: sft_examples(items, problems, tokenizer, cfg.max_positions), token_loss,
                          cfg.finetune_config(), what="revision model", extra={"trajectories": len(items)},
                          progress=progress)


# --------------------------------------------------------------------------
# The ORM of revision outputs: the revision model's attempts, graded, with the revision history in context

def orm_examples(attempts: pd.DataFrame, problems: dict[str, W.Problem], tokenizer, max_positions: int) -> list[Example]:
    """`ttc.models.finetune` examples for an ORM of revision outputs: each attempt after its chain's history (question
    and most recent earlier attempts), the attempt's grade the target at the end of each of its lines (the ORM's
    label, as in notebook 03). Attempts without lines are left out."""
    from ttc.verifiers.trained import encode

    out = []
    for prompt, r in zip(histories(attempts, problems), attempts.itertuples()):
        lines = T.solution_lines(r.text)
        if not lines:
            continue
        ids, ends = encode(tokenizer, prompt, lines)
        if len(ids) > max_positions:
            raise ConfigError(f"an attempt of problem {r.problem_id} with its history is {len(ids)} tokens, more "
                              f"than the ORM's {max_positions} positions; raise revision_max_positions")
        out.append(Example(r.problem_id, tuple(ids), tuple(ends), (float(r.correct),) * len(ends)))
    return out


def train_revision_orm(attempts: pd.DataFrame, problems: dict[str, W.Problem], base_dir, verifier_cfg,
                       max_positions: int, out_dir, settings: dict, progress: bool = True) -> dict:
    """The ORM of revision outputs: notebook 03's ORM recipe (`verifier_cfg`, a value head on the verifier base)
    at the revision model's positions, trained on graded revision attempts with their history in context."""
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    return train_and_save(out_dir, settings,
                          lambda: load_base(base_dir, "value", seed=verifier_cfg.seed, dropout=verifier_cfg.dropout,
                                            max_positions=max_positions), tokenizer,
                          lambda: orm_examples(attempts, problems, tokenizer, max_positions), value_loss,
                          verifier_cfg.finetune_config(), what=REVISION_ORM, extra={"attempts": len(attempts)},
                          progress=progress)


def score_attempts(verifier, attempts: pd.DataFrame, problems: dict[str, W.Problem], with_history: bool) -> pd.DataFrame:
    """Per attempt: the verifier's score of its last line (0 without lines), and the tokens it read for it
    (`verifier_tokens`, with their FLOPs). `with_history`: the verifier reads the attempt after its chain's
    history, as the revision ORM is trained; otherwise after the question alone, as notebook 03's verifiers are."""
    prompts = histories(attempts, problems) if with_history else [W.prompt(problems[p]) for p in attempts["problem_id"]]
    lines = [T.solution_lines(t) for t in attempts["text"]]
    scores, counted = verifier.score_and_count(prompts, lines)
    # A repeated (prompt, attempt) is read once, and counted once; but any split of the budget may hold either
    # copy, so each attempt is billed what reading it costs.
    tokens = pd.Series(counted).groupby([pd.Series(prompts), attempts["text"].reset_index(drop=True)]).transform("max")
    tokens = tokens.astype(int).tolist()
    return pd.DataFrame({"problem_id": attempts["problem_id"].to_numpy(), "chain": attempts["chain"].to_numpy(),
                         "step": attempts["step"].to_numpy(), "score": [s[-1] if s else 0.0 for s in scores],
                         "verifier_tokens": tokens,
                         "verifier_flops": [processing_flops(verifier.n_parameters, n) for n in tokens]})


def context_losses(models: dict[str, object], items: list[Trajectory], problems: dict[str, W.Problem], tokenizer,
                   max_positions: int, per_count: int = 200) -> pd.DataFrame:
    """Does a model use its context? Per model and number of incorrect attempts in context (0-4): the mean loss
    per target token on up to `per_count` of `items` (held-out problems' trajectories), and on the same targets
    after the question alone (`loss_alone`). A model that revises writes the target at least as well after
    attempts as without them; one that the attempts confuse does worse. Compare a count's loss with its own
    `loss_alone`, not with the count of none: trajectories without attempts come mostly from problems the
    policy never answered wrong (`trajectories` draws none when there is no incorrect answer), easier ones."""
    from ttc.models.finetune import mean_loss

    rows = []
    for k in range(MAX_INCORRECT + 1):
        chosen = [t for t in items if len(t.context) == k][:per_count]
        examples = sft_examples(chosen, problems, tokenizer, max_positions)
        alone = sft_examples([Trajectory(t.problem_id, (), t.target) for t in chosen], problems, tokenizer,
                             max_positions) if k else examples  # with no attempts, the same examples
        for name, model in models.items():
            loss = mean_loss(model, examples, token_loss, tokenizer.pad_token_id, False, 32) if examples else float("nan")
            loss_alone = (mean_loss(model, alone, token_loss, tokenizer.pad_token_id, False, 32) if alone else
                          float("nan")) if k else loss
            rows.append({"model": name, "attempts_in_context": k, "loss_per_token": loss, "loss_alone": loss_alone,
                         "trajectories": len(examples)})
    return pd.DataFrame(rows)
