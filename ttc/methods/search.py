"""Search against a process reward model: best-of-N weighted, beam search, lookahead search (Sec. 5.2).

Every method has one signature, `fn(problems, sampler, verifier, config, world) -> DataFrame`
(one row per problem: the chosen answer, the final candidates with their
scores, and the compute spent on that problem), and is registered by name in
`METHODS`. The world (`ttc.world.protocol`: the synthetic one by default, or MATH) says
how a problem is prompted, how steps split and render, when a solution is done
and how its answer is read and graded; the sampler must stop steps at its separator. Problems move through search together, one round at a time, so
that every round is one batched sampler call and one batched verifier call.

Budgets are in the paper's unit, generations: best-of-N and beam search with
N beams cost N; lookahead with k steps costs N x (k+1). The exact compute
(prompt tokens, generated tokens, verifier tokens, FLOPs) is counted per
problem beside it, lookahead rollouts included.

Use: `run_search(problems, sampler, verifier, SearchConfig("beam", budget=16, beam_width=4))`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
import pandas as pd

from ttc.core.compute import Ledger, processing_flops
from ttc.core.config import ConfigError, check_fields, check_range
from ttc.core.executors import build_in_chunks, chunk_seed
from ttc.core.executors import ledgers_of
from ttc.models.sampling import Sampler
from ttc.verifiers.scorer import Scorer
from ttc.verifiers.selection import select
from ttc.world import synthetic as W
from ttc.world.protocol import SYNTHETIC, World, grading_record
from ttc.world.text import solution_lines


PAV_ALPHA = 1.0
"""The weight of the prover's advantage in process-advantage beam search (Setlur et al. 2024's alpha)."""
PAV_PROVER_K = 4
"""The prover of process-advantage beam search: best-of-K of the policy, K about 4 as in Setlur et al. 2024."""


def prover_value(q: float, k: int = PAV_PROVER_K) -> float:
    """The value under a best-of-K prover of a prefix whose value under the policy is `q`: one of K
    independent completions reaches the answer (the analytic best-of-K of Setlur et al. 2024)."""
    if q >= 1.0:
        return 1.0
    return -math.expm1(k * math.log1p(-q))  # 1 - (1 - q)^k without cancellation for small q


def process_advantage(q_child: float, q_parent: float, alpha: float = PAV_ALPHA, k: int = PAV_PROVER_K) -> float:
    """A candidate step's search score, Q(s, a) + alpha (Q_prover(s, a) - Q_prover(s)): its value plus
    the progress it makes under the prover, so that a step that moves a weak prefix forward beats one
    that leaves a strong prefix where it was."""
    return q_child + alpha * (prover_value(q_child, k) - prover_value(q_parent, k))


@dataclass(frozen=True)
class SearchConfig:
    method: Literal["best_of_n", "beam", "lookahead", "dvts", "pav"]
    budget: int  # generations (the paper's unit)
    beam_width: int = 0  # M; 0 means sqrt(N) (the paper's other setting): the largest divisor of N up to sqrt(N)
    lookahead: int = 0  # k: greedy steps rolled out before scoring a candidate (0 for beam search)
    max_rounds: int = 40
    temperature: float = 1.0
    max_new_tokens: int = 224  # the longest solution, in tokens
    seed: int = 0

    def __post_init__(self):
        check_fields(self)
        check_range(self, "budget", 1)
        check_range(self, "beam_width", 0)
        check_range(self, "lookahead", 0)
        check_range(self, "max_rounds", 1)
        check_range(self, "temperature", 0.0, 10.0)
        check_range(self, "max_new_tokens", 1)
        if self.method in ("beam", "dvts", "pav") and self.lookahead:
            raise ConfigError(f"method={self.method!r} has lookahead=0 by definition, got lookahead={self.lookahead}; "
                              "use method='lookahead'")
        if self.method == "lookahead" and not self.lookahead:
            raise ConfigError("method='lookahead' needs lookahead >= 1 (lookahead=0 is method='beam')")
        if self.method == "best_of_n" and (self.lookahead or self.beam_width):
            raise ConfigError("method='best_of_n' takes neither beam_width nor lookahead")
        if self.method != "best_of_n":
            n, m = self.n_beams, self.width
            if self.budget % (self.lookahead + 1) or n % m or m > n:
                raise ConfigError(f"budget={self.budget} with lookahead={self.lookahead} gives N={n} beams, which "
                                  f"beam width M={m} must divide (and N/M >= 1); choose budgets with "
                                  "N = budget/(lookahead+1) a multiple of M")

    @property
    def diverse(self) -> bool:
        """DVTS: N/M independent subtrees, each kept to its own best candidate (search-and-learn)."""
        return self.method == "dvts"

    @property
    def n_beams(self) -> int:
        """N: beams (or samples) kept in flight; lookahead's rollouts take the rest of the budget."""
        return self.budget // (self.lookahead + 1)

    @property
    def width(self) -> int:
        """M: continuations sampled from each kept beam. With beam_width 0 it is sqrt(N), or for N
        not a square the largest divisor of N below sqrt(N) (N = 8 gives M = 2), so N/M is whole."""
        if self.beam_width:
            return self.beam_width
        return max(m for m in range(1, math.isqrt(self.n_beams) + 1) if self.n_beams % m == 0)

    @property
    def strategy(self) -> dict:
        """The fields that name this configuration as a strategy (the budget aside)."""
        return {"search": self.method, "m_setting": self.beam_width, "lookahead": self.lookahead}

    @property
    def name(self) -> str:
        return strategy_label(**self.strategy)


STRATEGY = ("search", "m_setting", "lookahead")
"""The columns of a results table that identify a search strategy: the kind of search, the beam
width as set (0: sqrt N) and the lookahead. The selector of notebook 05 groups on them."""


def strategy_label(search: str, m_setting: int = 0, lookahead: int = 0) -> str:
    """A strategy's display name, derived from its fields (and never parsed back)."""
    if search == "majority":
        return "majority vote"
    if search == "best_of_n":
        return "best-of-N weighted"
    m = "sqrt N" if not m_setting else str(m_setting)
    return {"beam": f"beam M={m}", "dvts": f"DVTS M={m}", "pav": f"beam M={m}, process advantage"}.get(
        search, f"lookahead k={lookahead} M={m}")


def config_for(strategy: dict, budget: int, seed: int = 0, max_new_tokens: int = 224) -> "SearchConfig":
    """The `SearchConfig` of a strategy (a row with the STRATEGY columns) at a budget."""
    return SearchConfig(strategy["search"], budget=int(budget), beam_width=int(strategy["m_setting"]),
                        lookahead=int(strategy["lookahead"]), seed=seed, max_new_tokens=max_new_tokens)


def _ledgers(ids: list[str]) -> dict[str, Ledger]:
    """One ledger per problem, beside the sampler's and verifier's global ones."""
    return {pid: Ledger() for pid in ids}


def _sample(sampler: Sampler, counts: dict[str, Ledger], rows: list[tuple[str, str]], seed: int, **kwargs):
    """One completion per (problem id, text) row, counted against its problem."""
    if not rows:
        return []
    outs = sampler.sample([text for _, text in rows], n=1, seed=seed, **kwargs)
    for (pid, _), (c,) in zip(rows, outs):
        counts[pid] += Ledger(generations=1, prompt_tokens=c.prompt_tokens, generated_tokens=c.n_tokens,
                              flops=processing_flops(sampler.n_parameters, c.prompt_tokens + c.n_tokens))
    return [c for (c,) in outs]


def _score_lines(verifier: Scorer, counts: dict[str, Ledger], rows: list[tuple[str, str, list[str]]]) -> list[list[float]]:
    """Every line's score of each (problem id, prompt, lines); identical rows are read (and counted) once."""
    scores, read = verifier.score_and_count([prompt for _, prompt, _ in rows], [lines for _, _, lines in rows])
    for (pid, _, _), n in zip(rows, read):
        counts[pid] += Ledger(verifier_tokens=n, flops=processing_flops(verifier.n_parameters, n))
    return scores


def _score(verifier: Scorer, counts: dict[str, Ledger], rows: list[tuple[str, str, list[str]]]) -> list[float]:
    """The last line's score of each (problem id, prompt, lines)."""
    return [s[-1] if s else 0.0 for s in _score_lines(verifier, counts, rows)]


def _finished(lines: list[str], stop: str, n_tokens: int, cfg: SearchConfig, world: World) -> bool:
    return stop != "step" or world.finished(lines) or n_tokens >= cfg.max_new_tokens


def _results(problems: list, finals: dict[str, list[tuple[list[str], float]]],
             counts: dict[str, Ledger], cfg: SearchConfig, rounds: dict[str, int], world: World) -> pd.DataFrame:
    rows = []
    for p in problems:
        texts = [world.separator.join(lines) for lines, _ in finals[p.id]]
        scores = [s for _, s in finals[p.id]]
        answer = select("weighted", [world.answer(t) for t in texts], scores)
        verdict = world.verdict(p, answer)
        rows.append({"problem_id": p.id, "method": cfg.name, "budget": cfg.budget, "n_beams": cfg.n_beams,
                     "beam_width": cfg.width if cfg.method != "best_of_n" else 0, "lookahead": cfg.lookahead,
                     "answer": answer, "correct": verdict.correct,
                     "texts": texts, "scores": scores, "rounds": rounds.get(p.id, 1), **counts[p.id].as_dict(),
                     **grading_record(world, verdict)})
    return pd.DataFrame(rows)


def best_of_n(problems: list, sampler: Sampler, verifier: Scorer, cfg: SearchConfig,
              world: World = SYNTHETIC) -> pd.DataFrame:
    """N independent samples, scored by the verifier's last step, best-of-N weighted."""
    counts = _ledgers([p.id for p in problems])
    rows = [(p.id, world.prompt(p)) for p in problems for _ in range(cfg.n_beams)]
    questions = {p.id: world.question(p) for p in problems}
    completions = _sample(sampler, counts, rows, seed=cfg.seed, temperature=cfg.temperature,
                          max_new_tokens=cfg.max_new_tokens)
    lines = [world.steps(c.text) for c in completions]
    scores = _score(verifier, counts, [(pid, questions[pid], ls) for (pid, _), ls in zip(rows, lines)])
    finals: dict[str, list] = {p.id: [] for p in problems}
    for (pid, _), ls, s in zip(rows, lines, scores):
        finals[pid].append((ls, s))
    return _results(problems, finals, counts, cfg, {}, world)


@dataclass(frozen=True)
class Beam:
    """A kept prefix: its lines so far and the tokens generated for it."""

    lines: list[str]
    tokens: int


@dataclass(frozen=True)
class Candidate:
    """A beam's continuation in one round: its problem, every line so far, the tokens generated for it,
    whether it ended its solution, the DVTS subtree it grows (0 otherwise), and the verifier's score at its
    last line (or its lookahead rollout's)."""

    problem_id: str
    lines: list[str]
    tokens: int
    done: bool
    tree: int
    score: float = 0.0


def ranks(method: str, per_line: list[list[float]], parent_lengths: list[int]) -> list[float]:
    """What beam search keeps candidates by: each one's score at its last line; with process advantage
    (`method="pav"`), that score plus its progress over its parent prefix's score, at the line before its
    new ones. A first step has no scored parent (all first steps share one), so it ranks by its own score."""
    if method != "pav":
        return [s[-1] if s else 0.0 for s in per_line]
    return [process_advantage(s[-1], s[n - 1] if n else s[-1]) if s else 0.0
            for s, n in zip(per_line, parent_lengths)]


def beam_search(problems: list, sampler: Sampler, verifier: Scorer, cfg: SearchConfig,
                world: World = SYNTHETIC) -> pd.DataFrame:
    """Beam search with N beams of width M, with k-step lookahead when cfg.lookahead > 0.

    Each round every problem has N candidates: its kept beams, each extended
    by one sampled step (M per beam; when fewer than N/M beams are left they
    share the N continuations). A candidate is scored by the verifier at its
    last line, or, with lookahead, at the end of a greedy rollout of up to k
    more steps (the rollout is scored, then dropped). Candidates that end
    their solution are set aside as finished; of the rest, the top N/M stay.
    After the last round the N best finished candidates are combined by
    best-of-N weighted.

    DVTS (`method="dvts"`) splits the N beams into N/M independent subtrees: each round a subtree's one
    beam gets M continuations and keeps the best-scored one that has not ended; a subtree stops when its
    best candidate ended (or none is left). Process advantage (`method="pav"`) ranks candidates by
    `process_advantage` of their score and their parent prefix's score instead of the score alone (`ranks`);
    the finished candidates are still combined by their own scores.
    """
    n, keep = cfg.n_beams, cfg.n_beams // cfg.width
    prompts = {p.id: world.prompt(p) for p in problems}
    questions = {p.id: world.question(p) for p in problems}
    counts = _ledgers(list(prompts))
    # a DVTS problem holds one beam per subtree, None once the subtree has stopped
    start = Beam([], 0)
    beams: dict[str, list[Beam | None]] = {pid: [start] * keep if cfg.diverse else [start] for pid in prompts}
    finished: dict[str, list[tuple[list[str], float]]] = {pid: [] for pid in prompts}
    rounds: dict[str, int] = {}
    for r in range(cfg.max_rounds):
        live = [pid for pid in prompts if any(b is not None for b in beams[pid])]
        if not live:
            break
        parents: list[tuple[str, int, Beam]] = []  # (problem, subtree, the beam continued)
        for pid in live:
            if cfg.diverse:  # M continuations of each running subtree's beam
                parents += [(pid, t, beam) for t, beam in enumerate(beams[pid]) if beam is not None
                            for _ in range(cfg.width)]
            else:
                cycle = beams[pid]
                parents += [(pid, 0, cycle[i % len(cycle)]) for i in range(n)]
            rounds[pid] = r + 1
        steps = _sample(sampler, counts, [(pid, world.render(prompts[pid], beam.lines)) for pid, _, beam in parents],
                        seed=chunk_seed(cfg.seed, r), temperature=cfg.temperature, until="step",
                        max_new_tokens=cfg.max_new_tokens)
        candidates = []
        for (pid, tree, beam), c in zip(parents, steps):
            new, used = beam.lines + world.steps(c.text), beam.tokens + c.n_tokens
            candidates.append(Candidate(pid, new, used, _finished(new, c.stop, used, cfg, world), tree))
        scored_lines = [c.lines for c in candidates]
        if cfg.lookahead:
            todo = [i for i, c in enumerate(candidates) if not c.done]
            rollouts = _sample(sampler, counts, [(candidates[i].problem_id,
                                                  world.render(prompts[candidates[i].problem_id], candidates[i].lines))
                                                 for i in todo], seed=0, temperature=0.0, until="step",
                               n_steps=cfg.lookahead, max_new_tokens=cfg.max_new_tokens)
            for i, c in zip(todo, rollouts):
                scored_lines[i] = candidates[i].lines + world.steps(c.text)
        per_line = _score_lines(verifier, counts, [(c.problem_id, questions[c.problem_id], ls)
                                                   for c, ls in zip(candidates, scored_lines)])
        candidates = [dataclasses.replace(c, score=s[-1] if s else 0.0) for c, s in zip(candidates, per_line)]
        ranked_by = ranks(cfg.method, per_line, [len(beam.lines) for _, _, beam in parents])
        by_problem: dict[str, list[tuple[float, Candidate]]] = {pid: [] for pid in live}
        for c, rank in zip(candidates, ranked_by):
            if c.done:
                finished[c.problem_id].append((c.lines, c.score))
            by_problem[c.problem_id].append((rank, c))
        for pid in live:
            # A stable sort keeps the earlier candidate on ties, so results depend only on the seed.
            ranked = [c for _, c in sorted(by_problem[pid], key=lambda x: -x[0])]
            if cfg.diverse:
                for t, beam in enumerate(beams[pid]):
                    if beam is None:
                        continue
                    mine = [c for c in ranked if c.tree == t]
                    going = [c for c in mine if not c.done]
                    beams[pid][t] = None if not going or mine[0].done else Beam(going[0].lines, going[0].tokens)
            else:
                beams[pid] = [Beam(c.lines, c.tokens) for c in ranked if not c.done][:keep]
    finals = {}
    for pid in prompts:
        # Beams still running after the last round are kept too (they have no answer, so never win).
        pool = finished[pid] + [(beam.lines, 0.0) for beam in beams[pid] if beam is not None]
        finals[pid] = sorted(pool, key=lambda x: -x[1])[:n]
    return _results(problems, finals, counts, cfg, rounds, world)


METHODS: dict[str, Callable[..., pd.DataFrame]] = {"best_of_n": best_of_n, "beam": beam_search,
                                                    "lookahead": beam_search, "dvts": beam_search,
                                                    "pav": beam_search}


def run_search(problems: list, sampler: Sampler, verifier: Scorer, cfg: SearchConfig,
               world: World = SYNTHETIC) -> pd.DataFrame:
    if sampler.step_separator != world.separator:
        raise ConfigError(f"the sampler stops steps at {sampler.step_separator!r} but the {world.name} world "
                          f"separates them with {world.separator!r}: build it with step_separator=world.separator")
    return METHODS[cfg.method](problems, sampler, verifier, cfg, world)


def search_configs(budgets: list[int], seed: int = 0, temperature: float = 1.0, max_rounds: int = 40,
                   max_new_tokens: int = 224) -> tuple[list[SearchConfig], list[str]]:
    """The paper's sweep (Sec. 5.2): beam M = sqrt(N) and M = 4, lookahead k = 3 with both,
    lookahead k = 1 with M = sqrt(N), at every budget; and beyond the paper, DVTS (M = 4) and beam
    search ranked by process advantage (M = 4). Returns the configurations and a note for each one
    left out because the budget cannot hold it."""
    shapes = [("beam", 0, 0), ("beam", 4, 0), ("lookahead", 0, 3), ("lookahead", 4, 3), ("lookahead", 0, 1),
              ("dvts", 4, 0), ("pav", 4, 0)]
    configs, skipped = [], []
    for budget in budgets:
        for method, width, k in shapes:
            try:
                cfg = SearchConfig(method, budget=budget, beam_width=width, lookahead=k, max_rounds=max_rounds,
                                   temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
                _ = cfg.width  # M must divide N
            except ConfigError as e:
                skipped.append(f"budget {budget}, {method} M={width or 'sqrt N'} k={k}: {e}")
                continue
            configs.append(cfg)
    return configs, skipped


def run_grid(problems_by_config: list[list[W.Problem]], sampler: Sampler, verifier: Scorer,
             configs: list[SearchConfig], path, settings: dict, progress: bool = True,
             world: World = SYNTHETIC) -> pd.DataFrame:
    """Every configuration on its problems, one resumable piece per configuration, cached at `path`;
    each row carries its configuration's STRATEGY fields."""
    def make_chunk(i: int) -> pd.DataFrame:
        return run_search(problems_by_config[i], sampler, verifier, configs[i], world)

    keyed = {**settings, "configs": configs, "problems": [[p.id for p in ps] for ps in problems_by_config]}
    table = build_in_chunks(path, keyed, len(configs), make_chunk, desc="search configurations", progress=progress,
                            ledgers=ledgers_of(sampler, verifier))
    # Piece i holds configuration i's problems in order, one row each: the fields follow from that.
    expected = [p.id for ps in problems_by_config for p in ps]
    if table["problem_id"].tolist() != expected:
        raise ValueError(f"{path} does not hold one row per configuration and problem in order; remove it")
    for field in ("search", "m_setting"):  # `lookahead` is a column of every search table already
        table[field] = [c.strategy[field] for c, ps in zip(configs, problems_by_config) for _ in ps]
    return table


def search_problems(bins: pd.Series, problems: dict[str, W.Problem], budgets: tuple[int, ...], n: int,
                    n_top: int, seed: int = 0) -> dict[int, list[W.Problem]]:
    """The problems each budget is searched on: `n` test problems with an equal share of every
    oracle bin, and at the largest budget (the costliest) `n_top` of them."""
    from ttc.methods.analysis import stratified_subset

    subset = stratified_subset(bins, n, seed=seed)
    top = stratified_subset(bins.loc[subset], n_top, seed=seed)
    return {b: [problems[i] for i in (top if b == max(budgets) else subset)] for b in budgets}


def pool_baselines(scored_pool: pd.DataFrame, problems_at: dict[int, list], tokenizer,
                   policy_parameters: int, verifier_parameters: int, n_repeats: int = 8,
                   seed: int = 0, score_column: str = "prm_last", world: World = SYNTHETIC) -> pd.DataFrame:
    """Best-of-N weighted (by the verifier's last-step score, `score_column` of `scored_pool`) and
    majority vote read off the pool at every budget, on the problems searched there, in
    `run_search`'s table shape."""
    tables = []
    for budget, problems in problems_at.items():
        for search, score in (("best_of_n", score_column), ("majority", None)):
            rule = "weighted" if score else "majority"
            tables.append(best_of_n_from_pool(scored_pool, problems, [budget], rule, score,
                                              strategy_label(search), tokenizer, policy_parameters,
                                              verifier_parameters, n_repeats=n_repeats, seed=seed, world=world)
                          .assign(search=search, m_setting=0))
    return pd.concat(tables, ignore_index=True)


def results_table(searched: pd.DataFrame, baselines: pd.DataFrame, bins: pd.Series) -> pd.DataFrame:
    """One row per (strategy, budget, problem): accuracy (`correct`, a fraction for pool baselines),
    compute, and the problem's oracle bin."""
    results = pd.concat([searched.drop(columns=["texts", "scores", "answer", "rounds"]), baselines],
                        ignore_index=True)
    results["correct"] = results["correct"].astype(float)
    results["bin"] = results["problem_id"].map(bins)
    return results


def over_optimisation(searched: pd.DataFrame, bins: pd.Series, problems: dict[str, W.Problem],
                      budget: int, method: str = "beam M=sqrt N") -> pd.DataFrame:
    """Per problem searched by `method` at `budget`: its bin, how many lines its final candidates
    have beyond the worked solution's, how many of their lines repeat, and whether it was right."""
    top = searched[(searched.budget == budget) & (searched.method == method)].copy()
    top["bin"] = top["problem_id"].map(bins)
    top["lines_vs_truth"] = [np.mean([len(solution_lines(t)) for t in texts]) - (len(problems[pid].steps) + 1)
                             for pid, texts in zip(top.problem_id, top.texts)]
    top["repeated_lines"] = [np.mean([len(ls) - len(set(ls)) for ls in map(solution_lines, texts)])
                             for texts in top.texts]
    return top


def best_of_n_from_pool(scored_pool: pd.DataFrame, problems: list, budgets: list[int], rule: str,
                        score: str | None, name: str, tokenizer, policy_parameters: int, verifier_parameters: int,
                        n_repeats: int = 8, seed: int = 0, world: World = SYNTHETIC) -> pd.DataFrame:
    """Best-of-N (or majority vote) read off the pool of notebook 02, in `run_search`'s table shape.

    `correct` is the fraction of `n_repeats` random N-subsets that pick the right answer; the
    compute columns are the expected cost of drawing N samples (one shared pass over the prompt,
    N samples of the problem's mean length) and of the verifier reading each of them.
    """
    from ttc.methods.analysis import accuracy_vs_n

    ids = [p.id for p in problems]
    pool = scored_pool[scored_pool.problem_id.isin(ids)]
    gold = {p.id: p.answer for p in problems} if world.grades_by_equality else None  # else: the pool's grades
    accuracy = accuracy_vs_n(pool, gold, rule, budgets, score=score,
                             n_repeats=n_repeats, seed=seed)
    prompt_len = {p.id: len(ids_) for p, ids_ in zip(problems, tokenizer([world.prompt(p) for p in problems])["input_ids"])}
    mean_tokens = pool.groupby("problem_id")["n_tokens"].mean()
    rows = []
    for r in accuracy.itertuples():
        n, gen = r.budget, mean_tokens[r.problem_id]
        verify = n * (prompt_len[r.problem_id] + gen) if score else 0.0
        prompt = prompt_len[r.problem_id]
        rows.append({"problem_id": r.problem_id, "method": name, "budget": n, "n_beams": n, "beam_width": 0,
                     "lookahead": 0, "correct": r.accuracy, "generations": n, "prompt_tokens": prompt,
                     "generated_tokens": n * gen, "verifier_tokens": verify,
                     "flops": processing_flops(policy_parameters, prompt + n * gen)
                     + processing_flops(verifier_parameters, verify)})
    return pd.DataFrame(rows)
