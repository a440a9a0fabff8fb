"""Verifiers that need no training, to measure trained ones against: a language model's own
likelihood, and the world's truth with controlled noise.

Both score like `ttc.verifiers.trained.Verifier` (one score in [0, 1] per line of a solution, for the
prefix that ends there), so the pool scoring, best-of-N and search take any of them.

- `LikelihoodVerifier`: a ladder model's probability of the solution's tokens. A line's score is
  the lowest probability of any token up to and including that line (a running minimum), so a
  prefix scores low from the first token the model finds unlikely onwards. The newline that closes
  an answer line is not scored: documents end the answer line with end-of-text, so the model
  gives that newline almost nothing, and it would be every solution's minimum. A model somewhat
  larger than the policy knows where the policy slips (issue 14's diagnosis: as good as a perfect
  step checker); the policy's own likelihood knows only its slips, which majority vote already
  averages out.
- `TruthChecker`: the world's `lines_on_track`, 1 or 0, plus Gaussian noise of a chosen scale
  drawn from a hash of (question, lines), so the same prefix always gets the same score. Noise 0
  is the perfect checker, the ceiling of any verifier; a few noise levels trace search against
  verifier quality.

Use: `LikelihoodVerifier.load(models_dir / "d80-l5").score(prompts, lines)`;
`TruthChecker(problems_by_prompt, noise=0.3).score(prompts, lines)`.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import torch

from ttc.core.compute import Ledger
from ttc.core.config import ConfigError
from ttc.models.lm import count_parameters, load_model
from ttc.verifiers.spec import VerifierSpec
from ttc.verifiers.trained import score_in_batches
from ttc.world import synthetic as W
from ttc.world import text as T


class LikelihoodVerifier:
    """Per-line scores from a causal LM's token probabilities (running minimum over the solution)."""

    RULE = "running minimum of token probabilities over the solution; an answer line's closing newline is not scored"

    def __init__(self, model, tokenizer, batch_size: int = 256, ledger: Ledger | None = None, name: str = ""):
        self.model, self.tokenizer, self.batch_size = model.eval(), tokenizer, batch_size
        self.ledger = ledger if ledger is not None else Ledger()
        self.n_parameters = count_parameters(model)
        self.name = name

    @classmethod
    def load(cls, path: Path, **kwargs) -> "LikelihoodVerifier":
        model, tokenizer, _ = load_model(Path(path))
        return cls(model, tokenizer, name=Path(path).name, **kwargs)

    def score(self, prompts: list[str], lines: list[list[str]]) -> list[list[float]]:
        return self.score_and_count(prompts, lines)[0]

    def score_and_count(self, prompts: list[str], lines: list[list[str]]) -> tuple[list[list[float]], list[int]]:
        """`score`, plus the tokens read for each pair (0 for a repeat), as `Verifier.score_and_count`."""
        def running_min(per_token: torch.Tensor, ends: list[int]) -> list[float]:
            running = torch.cummin(per_token, dim=0).values
            return [math.exp(float(running[end])) for end in ends]

        return self.per_line(prompts, lines, running_min)

    def line_features(self, prompts: list[str], lines: list[list[str]]) -> tuple[list[list[list[float]]], list[int]]:
        """Per line of each pair, `LINE_FEATURES` (log-probabilities, floored at `LOGP_FLOOR`), and the tokens read."""
        def features(per_token: torch.Tensor, ends: list[int]) -> list[list[float]]:
            per_token = per_token.clamp(min=LOGP_FLOOR)
            running = torch.cummin(per_token, dim=0).values
            out, start = [], 0
            for end in ends:
                line = per_token[start:end + 1]
                out.append([float(running[end]), float(line.min()), float(line.mean())])
                start = end + 1
            return out

        return self.per_line(prompts, lines, features)

    @torch.no_grad()
    def per_line(self, prompts: list[str], lines: list[list[str]], reduce) -> tuple[list, list[int]]:
        """`reduce(per_token, ends)` of each pair: `per_token` the log-probability of each solution token
        (0 for an answer line's closing newline), `ends` each line's last token, as indices into it."""
        def score_batch(ids, mask, chunk, encoded):
            logits = self.model(input_ids=ids, attention_mask=mask).logits.float()
            # log p(token t | tokens before t), for t = 1 .. width - 1
            token_logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
            out = []
            for r, ((prompt, lines), (row, ends)) in enumerate(zip(chunk, encoded)):
                n_prompt = len(self.tokenizer(prompt)["input_ids"])
                # the solution's tokens are n_prompt .. len(row) - 1; token t's probability is token_logp[t - 1]
                per_token = token_logp[r, n_prompt - 1:len(row) - 1].clone()
                for line, end in zip(lines, ends):
                    if T.is_answer_line(line):  # pretraining ends an answer line with end-of-text, not a newline:
                        per_token[end - n_prompt] = 0.0  # its newline would score every solution near 0
                out.append(reduce(per_token, [end - n_prompt for end in ends]))
            return out

        return score_in_batches(prompts, lines, self.tokenizer, self.batch_size, self.ledger, self.n_parameters,
                                score_batch)


LINE_FEATURES = ("running_min_logp", "line_min_logp", "line_mean_logp")
"""What `LikelihoodVerifier.line_features` gives per line: the lowest token log-probability of the solution
so far, and the lowest and the mean within the line."""
LOGP_FLOOR = -20.0
"""Log-probabilities below this are floored in the features: a head should not be led by one token at e^-40."""


class TruthChecker:
    """The world's per-line truth (`ttc.world.synthetic.lines_on_track`), plus seeded Gaussian noise of scale `noise`,
    squashed into [0, 1]. It costs nothing in the ledger: it stands for a verifier, it is not one."""

    def __init__(self, problems_by_prompt: dict[str, W.Problem], noise: float = 0.0, seed: int = 0):
        if not (isinstance(noise, (int, float)) and 0.0 <= noise <= 10.0):
            raise ConfigError(f"TruthChecker noise={noise!r} must be a number between 0 and 10 (0: the perfect checker)")
        self.problems, self.noise, self.seed = problems_by_prompt, float(noise), seed
        self.ledger, self.n_parameters = Ledger(), 0  # it reads nothing: no scoring FLOPs
        self.name = VerifierSpec("checker", noise=self.noise).name

    def score(self, prompts: list[str], lines: list[list[str]]) -> list[list[float]]:
        return self.score_and_count(prompts, lines)[0]

    def score_and_count(self, prompts: list[str], lines: list[list[str]]) -> tuple[list[list[float]], list[int]]:
        out = []
        for prompt, ls in zip(prompts, lines):
            if prompt not in self.problems:
                raise KeyError(f"TruthChecker: no problem has the prompt {prompt!r}")
            truth = np.asarray(W.lines_on_track(self.problems[prompt], list(ls)), dtype=float)
            if self.noise:
                # Noise on the logit scale of a checker that says 0.9 / 0.1, drawn per prefix (the lines up to
                # and including this one), so that a prefix scores the same alone, in a beam, or in a solution.
                eps = np.array([self._standard_normal(prompt, ls[:j + 1]) for j in range(len(ls))])
                logits = np.where(truth > 0, 2.2, -2.2) + self.noise * 2.2 * eps
                truth = 1 / (1 + np.exp(-logits))
            out.append(truth.tolist())
        return out, [0] * len(prompts)

    def _standard_normal(self, prompt: str, prefix: list[str] | tuple[str, ...]) -> float:
        digest = hashlib.sha1("\n".join([str(self.seed), prompt, *prefix]).encode()).digest()
        return float(np.random.default_rng(list(digest[:8])).standard_normal())
