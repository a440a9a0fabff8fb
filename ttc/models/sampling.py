"""The study's one way to draw text from a model: a batched KV-cache sampler with a compute ledger.

Many prompts x many samples run as left-padded batches over a KV cache; each
row stops at the end of the solution (the end-of-text token, or any of the
model's end tokens) or, with `until="step"`, at the end of the next step too:
where the step separator (the world's: a newline here, a blank line on MATH)
appears, in one token or split over two. Rows that share
a prompt (many samples of one question, rollouts of one prefix) share one
pass over it, and finished rows leave the batch, so they stop costing compute. Llama-architecture models run
through `LeanLlama` (the same weights, far less per-token overhead); any
other causal LM through its own transformers forward. Every call adds what it
processed to a `Ledger`.

Use: `Sampler(model, tokenizer).sample(prompts, n=64, temperature=1.0, seed=0)`
returns, per prompt, n `Completion`s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from transformers import DynamicCache

from ttc.core import kernels
from ttc.core.compute import Ledger, processing_flops
from ttc.models.lean_llama import LeanLlama, supports
from ttc.models.lm import count_parameters


@dataclass(frozen=True)
class Completion:
    text: str  # everything generated except the end-of-text token
    n_tokens: int  # tokens generated, the stop token included
    stop: Literal["answer", "step", "length"]  # end of solution, end of step, or max_new_tokens
    # Prompt tokens processed for this row: rows of a batch with the same prompt share one
    # pass over it, which is counted on the first of them.
    prompt_tokens: int = 0


def draw(logits: torch.Tensor, temperature: float, generator: torch.Generator) -> torch.Tensor:
    """One token per row from softmax(logits / temperature), by inverting its CDF at a uniform draw.

    Exactly the categorical distribution, like `torch.multinomial`, at a tenth of its cost on
    a CPU for a small vocabulary; a token of probability 0 is never drawn."""
    uniform = torch.rand(logits.shape[0], generator=generator, dtype=logits.dtype)
    fused = kernels.draw(logits, temperature, uniform)  # the same, in one C++ pass
    if fused is not None:
        return fused
    cdf = torch.softmax(logits / temperature, dim=-1).cumsum(-1)
    total = cdf[:, -1:]
    # u < total strictly, even where rand * total rounds up to it: else a trailing token of
    # probability 0 could be drawn.
    u = torch.minimum(uniform[:, None] * total, torch.nextafter(total, torch.zeros_like(total)))
    return torch.searchsorted(cdf, u, right=True).squeeze(1)


def plan_runs(rows: list[tuple[int, str]], batch_size: int, max_prompt_tokens: float,
              min_rows: int) -> list[tuple[int, int]]:
    """Consecutive runs [start, end) of `rows` ((prompt length, prompt) per row, rows of one prompt
    together): at most `batch_size` rows each, and once a run has `min_rows` rows, no new prompt that
    would take its distinct prompts past `max_prompt_tokens`."""
    runs, start = [], 0
    while start < len(rows):
        end, tokens, previous = start, 0, None
        while end < len(rows) and end - start < batch_size:
            length, prompt = rows[end]
            if prompt != previous:
                if end - start >= min_rows and tokens + length > max_prompt_tokens:
                    break
                tokens, previous = tokens + length, prompt
            end += 1
        runs.append((start, end))
        start = end
    return runs


@dataclass(frozen=True)
class StepStops:
    """The tokens that end a step written with `separator`: those whose text holds it whole (`whole`), and
    pairs of consecutive tokens that hold it split at one point (`ends` then `starts`; a separator split over
    three tokens is not seen). With the project's tokenizer and a newline, `whole` is the newline token alone.
    A token that holds the separator and more text (a blank line and a word) ends the step with that text in
    it: the world splits it into a step and the start of the next."""

    whole: tuple[int, ...]
    ends: tuple[int, ...] = ()
    starts: tuple[int, ...] = ()

    @classmethod
    def of(cls, tokenizer, separator: str) -> "StepStops":
        if not separator:
            raise ValueError("the step separator is empty: use the world's (a newline, or a blank line on MATH)")
        texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))], skip_special_tokens=False)
        whole = tuple(i for i, t in enumerate(texts) if separator in t)
        if not whole and len(separator) == 1:
            raise ValueError(f"no token of the tokenizer writes {separator!r}: it cannot end a step")
        ends, starts = set(), set()
        for cut in range(1, len(separator)):
            ends |= {i for i, t in enumerate(texts) if t.endswith(separator[:cut]) and i not in whole}
            starts |= {i for i, t in enumerate(texts) if t.startswith(separator[cut:]) and i not in whole}
        if not whole and not (ends and starts):
            raise ValueError(f"no token or pair of tokens writes {separator!r}: it cannot end a step")
        return cls(whole, tuple(sorted(ends)), tuple(sorted(starts)))


def end_ids(model, tokenizer) -> tuple[int, ...]:
    """The tokens that end a solution: the tokenizer's end-of-text and the model's own end tokens (a chat
    model's end of turn), which its generation config names."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    config = getattr(model, "generation_config", None)
    extra = getattr(config, "eos_token_id", None) if config is not None else None
    ids |= set(extra if isinstance(extra, (list, tuple)) else [extra] if extra is not None else [])
    if not ids:
        raise ValueError("neither the tokenizer nor the model names an end-of-text token: a solution could not end")
    return tuple(sorted(ids))


def kv_bytes_per_token(model) -> float:
    """Bytes of float32 keys and values a token adds to a KV cache; inf where the config does not say."""
    cfg = getattr(model, "config", None)
    try:
        heads = cfg.num_attention_heads
        head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
        return 2 * cfg.num_hidden_layers * (getattr(cfg, "num_key_value_heads", None) or heads) * head_dim * 4
    except (AttributeError, TypeError):
        return float("inf")


class HFForward:
    """The model's own transformers forward over a DynamicCache: works for any causal LM."""

    def __init__(self, model):
        self.model = model
        self.device = next(model.parameters()).device

    @torch.no_grad()
    def start(self, ids: torch.Tensor, pad: torch.Tensor, max_new: int) -> torch.Tensor:
        width = ids.shape[1]
        self.mask = (torch.arange(width)[None, :] >= pad[:, None]).long().to(self.device)
        positions = (self.mask.cumsum(-1) - 1).clamp(min=0)
        self.next_pos = positions[:, -1] + 1
        self.cache = DynamicCache(config=self.model.config)
        return self.model(input_ids=ids.to(self.device), attention_mask=self.mask, position_ids=positions,
                          past_key_values=self.cache, use_cache=True).logits[:, -1].float()

    @torch.no_grad()
    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        self.mask = torch.cat([self.mask, self.mask.new_ones((self.mask.shape[0], 1))], dim=1)
        logits = self.model(input_ids=tokens[:, None].to(self.device), attention_mask=self.mask,
                            position_ids=self.next_pos[:, None], past_key_values=self.cache,
                            use_cache=True).logits[:, -1].float()
        self.next_pos = self.next_pos + 1
        return logits

    def keep(self, rows: torch.Tensor) -> None:
        rows = rows.to(self.device)
        self.cache.batch_select_indices(rows)
        self.mask, self.next_pos = self.mask[rows], self.next_pos[rows]


class Sampler:
    """Batched sampling with a KV cache; see the module docstring.

    Rows run in batches of at most `batch_size` (fewer when many distinct prompts would make
    the cache outgrow the processor's; see `plan_runs`).

    `lean=True` (the default) runs Llama-architecture models through
    `LeanLlama`, a hand-written forward over the same weights that has far
    less per-token overhead; other models, or `lean=False`, use the model's
    own transformers forward.
    """

    # Finished rows leave the batch once at most this fraction of it is still
    # running: compacting the cache copies it, so it is not worth doing for
    # every row that ends. Until then finished rows ride along, their tokens
    # discarded and not counted in the ledger.
    COMPACT_AT = 0.75
    # A batch of many distinct prompts (an evaluation, beam search) runs as several smaller runs:
    # each step reads every row's prompt keys and values, and once they outgrow the processor's
    # cache they come from memory at every step. With 256 distinct prompts of the policy, runs of
    # 64-128 rows sample 10-15% faster than one of 256. Rows sampled from one prompt share its
    # cache, so a pool (hundreds of samples per prompt) keeps whole batches.
    PROMPT_CACHE_BYTES = 8 * 2 ** 20
    MIN_RUN_ROWS = 128  # below this, matmuls lose more than the cache gains (the ladder's largest model)

    def __init__(self, model, tokenizer, batch_size: int = 256, max_new_tokens: int = 224,
                 ledger: Ledger | None = None, lean: bool = True, step_separator: str = "\n"):
        if batch_size < 1 or max_new_tokens < 1:
            raise ValueError(f"batch_size={batch_size} and max_new_tokens={max_new_tokens} must be >= 1")
        self.model, self.tokenizer = model, tokenizer
        self.batch_size, self.max_new_tokens = batch_size, max_new_tokens
        self.ledger = ledger if ledger is not None else Ledger()
        self.n_parameters = count_parameters(model)
        self.max_prompt_tokens = self.PROMPT_CACHE_BYTES / kv_bytes_per_token(model)
        self.ends = end_ids(model, tokenizer)
        self.step_separator, self.step_stops = step_separator, StepStops.of(tokenizer, step_separator)
        # Padding is masked out, so any id serves; many real tokenizers have no pad token.
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.ends[0]
        self.lean = lean and supports(model)
        self._lean_forward = LeanLlama(model) if self.lean else None

    def sample(self, prompts: list[str], n: int = 1, temperature: float = 1.0,
               until: Literal["answer", "step", "length"] = "answer", seed: int = 0,
               max_new_tokens: int | None = None, n_steps: int = 1) -> list[list[Completion]]:
        """n completions of each prompt; temperature 0 is greedy.

        `until`: "answer" stops a row at the end of the solution, "step" also at
        the end of its `n_steps`-th step (lookahead rolls out several), "length"
        only at max_new_tokens (benchmarks).
        """
        if n < 1 or temperature < 0 or n_steps < 1:
            raise ValueError(f"n={n} and n_steps={n_steps} must be >= 1 and temperature={temperature} >= 0")
        if until not in ("answer", "step", "length"):
            raise ValueError(f"until={until!r}: use 'answer' (end of solution), 'step' (end of the next step) "
                             "or 'length' (max_new_tokens)")
        max_new = max_new_tokens or self.max_new_tokens
        encoded = self.tokenizer(list(prompts))["input_ids"]
        # Rows sorted by prompt length keep left-padding small within a batch, and
        # by text keep the rows of one prompt together, so that they share its pass.
        rows = sorted((len(encoded[p]), prompts[p], p, k) for p in range(len(prompts)) for k in range(n))
        generator = torch.Generator(device="cpu").manual_seed(seed)
        out: list[list[Completion | None]] = [[None] * n for _ in prompts]
        for start, end in plan_runs([(n_tokens, text) for n_tokens, text, _, _ in rows], self.batch_size,
                                    self.max_prompt_tokens, self.MIN_RUN_ROWS):
            chunk = rows[start:end]
            completions = self._run_batch([encoded[p] for _, _, p, _ in chunk], temperature, until, max_new,
                                          generator, n_steps)
            for (_, _, p, k), c in zip(chunk, completions):
                out[p][k] = c
        return out  # type: ignore[return-value]

    def _run_batch(self, prompts: list[list[int]], temperature: float, until: str, max_new: int,
                   generator: torch.Generator, n_steps: int = 1) -> list[Completion]:
        batch, width = len(prompts), max(len(p) for p in prompts)
        # Each distinct prompt is processed once; its rows then share the cache.
        index: dict[tuple[int, ...], int] = {}
        inverse = [index.setdefault(tuple(p), len(index)) for p in prompts]
        unique = list(index)
        ids = torch.tensor([(self.pad,) * (width - len(p)) + p for p in unique], dtype=torch.long)  # left-padded
        pad = torch.tensor([width - len(p) for p in unique])
        forward = self._lean_forward if self.lean else HFForward(self.model)
        logits = forward.start(ids, pad, max_new)
        if len(unique) < batch:
            expand = torch.tensor(inverse)
            forward.keep(expand)
            logits = logits[expand]
        slots = torch.arange(batch)  # the original row in each batch slot
        active = torch.ones(batch, dtype=torch.bool)
        # Tokens are recorded by slot, one column write a step, and moved to their rows
        # (`generated`) when the batch is compacted and at the end.
        history = torch.empty((batch, max_new), dtype=torch.long)
        generated = torch.full((batch, max_new), self.pad, dtype=torch.long)
        lengths = torch.full((batch,), -1, dtype=torch.long)  # set when a row stops; -1: still running
        stopped = torch.zeros(batch, dtype=torch.long)  # 0: length, 1: answer, 2: step
        by_step, by_end = until == "step", until != "length"
        ends = torch.tensor(self.ends)
        step_whole, step_ends, step_starts = (torch.tensor(ids, dtype=torch.long) for ids in
                                              (self.step_stops.whole, self.step_stops.ends, self.step_stops.starts))
        split_steps = by_step and len(step_ends) > 0
        steps_left = torch.full((batch,), n_steps, dtype=torch.long)  # newlines still to write before stopping
        with torch.inference_mode():
            for t in range(max_new):
                logits = logits.float().cpu()
                token = logits.argmax(-1) if temperature == 0 else draw(logits, temperature, generator)
                history[:, t] = token
                done = None
                if by_end:
                    end = active & torch.isin(token, ends)
                    done = end
                    if by_step:
                        step = active & ~end & torch.isin(token, step_whole)
                        if split_steps and t > 0:
                            step |= active & ~end & torch.isin(history[:, t - 1], step_ends) & torch.isin(token, step_starts)
                        if n_steps > 1:
                            steps_left[slots[step]] -= 1
                            step &= steps_left[slots] == 0
                        done = end | step
                if done is not None and bool(done.any()):
                    lengths[slots[done]] = t + 1
                    stopped[slots[done]] = torch.where(torch.isin(token[done], ends), 1, 2)
                    active &= ~done
                    n_active = int(active.sum())
                    if n_active == 0:
                        break
                    if n_active <= self.COMPACT_AT * len(slots):
                        generated[slots, :t + 1] = history[:, :t + 1]
                        keep = active.nonzero().squeeze(1)
                        forward.keep(keep)
                        slots, active, token, history = slots[keep], active[keep], token[keep], history[keep]
                if t == max_new - 1:
                    break
                logits = forward.step(token)
        generated[slots, :t + 1] = history[:, :t + 1]
        lengths[lengths < 0] = t + 1  # rows that ran to the end wrote a token at every step
        n_prompt = sum(len(p) for p in unique)
        first = [True] * len(unique)
        row_prompt = []
        for i, u in enumerate(inverse):
            row_prompt.append(len(prompts[i]) if first[u] else 0)
            first[u] = False
        n_generated = int(lengths.sum())
        self.ledger += Ledger(generations=batch, prompt_tokens=n_prompt, generated_tokens=n_generated,
                              flops=processing_flops(self.n_parameters, n_prompt + n_generated))
        lengths, stopped = lengths.tolist(), stopped.tolist()  # plain ints: one conversion, not one per row
        tokens = generated.tolist()
        texts = self.tokenizer.batch_decode([tokens[i][:lengths[i] - (stopped[i] == 1)] for i in range(batch)],
                                            skip_special_tokens=False)
        kinds = {0: "length", 1: "answer", 2: "step"}
        return [Completion(texts[i], lengths[i], kinds[stopped[i]], row_prompt[i]) for i in range(batch)]
