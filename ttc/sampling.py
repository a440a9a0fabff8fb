"""The study's one way to draw text from a model: a batched KV-cache sampler with a compute ledger.

Many prompts x many samples run as left-padded batches over a KV cache; each
row stops at the end of the solution (the end-of-text token) or, with
`until="step"`, at the end of the next step (a newline) too. Finished rows
leave the batch, so they stop costing compute. Every call adds what it
processed to a `Ledger`.

Use: `Sampler(model, tokenizer).sample(prompts, n=64, temperature=1.0, seed=0)`
returns, per prompt, n `Completion`s.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Literal

import torch
from transformers import DynamicCache

from ttc.lm import count_parameters
from ttc.tokenizer import newline_id


@dataclass
class Ledger:
    """Compute spent, counted as it is spent. FLOPs are 2 x parameters per token processed."""

    generations: int = 0  # sequences started (one sample, or one step continuation)
    prompt_tokens: int = 0  # prompt tokens processed before sampling
    generated_tokens: int = 0  # tokens sampled, stop tokens included
    verifier_tokens: int = 0  # tokens a verifier read
    flops: float = 0.0

    def __iadd__(self, other: "Ledger") -> "Ledger":
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Completion:
    text: str  # everything generated except the end-of-text token
    n_tokens: int  # tokens generated, the stop token included
    stop: Literal["answer", "step", "length"]  # end of solution, end of step, or max_new_tokens


class Sampler:
    def __init__(self, model, tokenizer, batch_size: int = 256, max_new_tokens: int = 192,
                 ledger: Ledger | None = None):
        if batch_size < 1 or max_new_tokens < 1:
            raise ValueError(f"batch_size={batch_size} and max_new_tokens={max_new_tokens} must be >= 1")
        self.model, self.tokenizer = model, tokenizer
        self.batch_size, self.max_new_tokens = batch_size, max_new_tokens
        self.ledger = ledger if ledger is not None else Ledger()
        self.n_parameters = count_parameters(model)
        self.device = next(model.parameters()).device
        self.eos, self.newline = tokenizer.eos_token_id, newline_id(tokenizer)

    def sample(self, prompts: list[str], n: int = 1, temperature: float = 1.0,
               until: Literal["answer", "step"] = "answer", seed: int = 0,
               max_new_tokens: int | None = None) -> list[list[Completion]]:
        """n completions of each prompt; temperature 0 is greedy."""
        if n < 1 or temperature < 0:
            raise ValueError(f"n={n} must be >= 1 and temperature={temperature} >= 0")
        if until not in ("answer", "step"):
            raise ValueError(f"until={until!r}: use 'answer' (end of solution) or 'step' (end of the next step)")
        max_new = max_new_tokens or self.max_new_tokens
        encoded = self.tokenizer(list(prompts))["input_ids"]
        # Rows sorted by prompt length keep left-padding small within a batch.
        rows = sorted(((len(encoded[p]), p, k) for p in range(len(prompts)) for k in range(n)))
        generator = torch.Generator(device="cpu").manual_seed(seed)
        stop_ids = [self.eos] if until == "answer" else [self.eos, self.newline]
        out: list[list[Completion | None]] = [[None] * n for _ in prompts]
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start:start + self.batch_size]
            completions = self._run_batch([encoded[p] for _, p, _ in chunk], temperature, stop_ids, max_new,
                                          generator)
            for (_, p, k), c in zip(chunk, completions):
                out[p][k] = c
        return out  # type: ignore[return-value]

    @torch.no_grad()
    def _run_batch(self, prompts: list[list[int]], temperature: float, stop_ids: list[int], max_new: int,
                   generator: torch.Generator) -> list[Completion]:
        batch, width = len(prompts), max(len(p) for p in prompts)
        ids = torch.full((batch, width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((batch, width), dtype=torch.long)
        for i, p in enumerate(prompts):
            ids[i, width - len(p):] = torch.tensor(p)
            mask[i, width - len(p):] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache(config=self.model.config)
        logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                            position_ids=positions.to(self.device), past_key_values=cache,
                            use_cache=True).logits[:, -1].float()
        alive = torch.arange(batch)  # which original rows are still in the batch
        next_pos = positions[:, -1] + 1
        generated = torch.full((batch, max_new), self.tokenizer.pad_token_id, dtype=torch.long)
        lengths = torch.zeros(batch, dtype=torch.long)
        stopped = torch.zeros(batch, dtype=torch.long)  # 0: length, 1: answer, 2: step
        stops = torch.tensor(stop_ids)
        for t in range(max_new):
            if temperature == 0:
                token = logits.argmax(-1).cpu()
            else:
                probs = torch.softmax(logits / temperature, dim=-1).cpu()
                token = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            generated[alive, t] = token
            lengths[alive] += 1
            done = torch.isin(token, stops)
            stopped[alive[done]] = torch.where(token[done] == self.eos, 1, 2)
            keep = (~done).nonzero().squeeze(1)
            if keep.numel() == 0 or t == max_new - 1:
                break
            if keep.numel() < alive.numel():
                cache.batch_select_indices(keep.to(self.device))
                alive, token, next_pos, mask = alive[keep], token[keep], next_pos[keep], mask[keep]
            mask = torch.cat([mask, torch.ones((alive.numel(), 1), dtype=torch.long)], dim=1)
            logits = self.model(input_ids=token[:, None].to(self.device), attention_mask=mask.to(self.device),
                                position_ids=next_pos[:, None].to(self.device), past_key_values=cache,
                                use_cache=True).logits[:, -1].float()
            next_pos = next_pos + 1
        n_prompt = sum(len(p) for p in prompts)
        n_generated = int(lengths.sum())
        self.ledger += Ledger(generations=batch, prompt_tokens=n_prompt, generated_tokens=n_generated,
                              flops=2.0 * self.n_parameters * (n_prompt + n_generated))
        texts = self.tokenizer.batch_decode(
            [generated[i, :int(lengths[i]) - int(stopped[i] == 1)].tolist() for i in range(batch)],
            skip_special_tokens=False)
        kinds = {0: "length", 1: "answer", 2: "step"}
        return [Completion(texts[i], int(lengths[i]), kinds[int(stopped[i])]) for i in range(batch)]
