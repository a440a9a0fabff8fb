"""Real process reward models behind the project's per-step scoring API (`score`, `score_and_count`,
`n_parameters`, a ledger), so that search runs against them unchanged (issue 17).

Two styles, the model name, tag and tokens being parameters (`PRMConfig`):
- **step tag** (Math-Shepherd, `peiyi9979/math-shepherd-mistral-7b-prm`): a causal LM reads the question and
  the steps, each closed by a tag token ("ки"); a step's score is the probability of the "good" token ("+")
  against the "bad" one ("-") at its tag;
- **classification head** (Qwen2.5-Math-PRM, `Qwen/Qwen2.5-Math-PRM-7B`): a model with a two-class head on
  every token reads a chat (system, the question, the steps each closed by a separator token "<extra_0>");
  a step's score is the positive class's probability at its separator. Qwen's own model is remote code
  (`trust_remote_code=True`); any `AutoModelForTokenClassification` with two labels works without it.

The verifier reads the world's `question` (the bare problem), not the policy's prompt: a PRM has its own
template. A tag or separator must be one token of the PRM's tokenizer, and is removed from the steps'
own text, so that every step is scored exactly once.

Use: `verifier = load_prm(PRMConfig("peiyi9979/math-shepherd-mistral-7b-prm", kind="step_tag"))`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from ttc.core.compute import Ledger
from ttc.core.config import ConfigError, check_fields, check_range
from ttc.models.lm import count_parameters
from ttc.verifiers.trained import score_in_batches

QWEN_PRM_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."


@dataclass(frozen=True)
class PRMConfig:
    name: str  # a hub name or a local directory
    kind: Literal["step_tag", "classification"] = "step_tag"
    step_tag: str = "ки"  # step tag PRM: the token that closes each step
    good_token: str = "+"
    bad_token: str = "-"
    separator: str = "<extra_0>"  # classification PRM: the token after each step
    positive_label: int = 1  # classification PRM: the class whose probability is the score
    system: str = QWEN_PRM_SYSTEM  # classification PRM: the chat's system message, when the tokenizer has a template
    trust_remote_code: bool = False  # run the model's own code from its repository (Qwen2.5-Math-PRM needs it)

    def __post_init__(self):
        check_fields(self)
        check_range(self, "positive_label", 0)
        if not self.name:
            raise ConfigError("PRMConfig.name is empty: give a hub name or a local directory")


def single_token(tokenizer, text: str, what: str) -> int:
    """The id of `text`, which must be one token of `tokenizer` (a tag, a separator, a label token)."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    if ids and tokenizer.unk_token_id is not None and tokenizer.unk_token_id in ids:
        raise ConfigError(f"the {what} {text!r} is not in this PRM's vocabulary (it encodes as the unknown token): "
                          "give the token its training used")
    if len(ids) != 1:
        raise ConfigError(f"the {what} {text!r} is {len(ids)} tokens of this PRM's tokenizer, not one: give the "
                          "token its training used")
    return ids[0]


class _TaggedPRM:
    """What both styles share: the text of (question, steps) with one marker token after each step, the
    marker's positions, batched scoring through `score_in_batches`, and the ledger."""

    def __init__(self, model, tokenizer, marker: str, batch_size: int = 16, ledger: Ledger | None = None):
        self.model, self.tokenizer = model.eval(), tokenizer
        self.batch_size = batch_size
        self.ledger = ledger if ledger is not None else Ledger()
        self.n_parameters = count_parameters(model)
        self.device = next(model.parameters()).device
        self.marker, self.marker_id = marker, single_token(tokenizer, marker, "step marker")

    def text(self, question: str, steps: list[str]) -> str:
        raise NotImplementedError

    def encode(self, tokenizer, question: str, steps: list[str]) -> tuple[list[int], list[int]]:
        clean = [s.replace(self.marker, "") for s in steps]
        ids = tokenizer(self.text(question, clean), add_special_tokens=False)["input_ids"]
        positions = [i for i, t in enumerate(ids) if t == self.marker_id]
        if len(positions) != len(steps):
            raise ValueError(f"found {len(positions)} step markers {self.marker!r} for {len(steps)} steps: the "
                             "question or the template writes the marker too")
        return ids, positions

    def step_probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def score(self, prompts: list[str], lines: list[list[str]]) -> list[list[float]]:
        return self.score_and_count(prompts, lines)[0]

    @torch.no_grad()
    def score_and_count(self, prompts: list[str], lines: list[list[str]]) -> tuple[list[list[float]], list[int]]:
        def score_batch(ids, mask, chunk, encoded):
            out = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device))
            values = self.step_probabilities(out.logits.float()).cpu()
            return [values[r, positions].tolist() for r, (_, positions) in enumerate(encoded)]

        return score_in_batches(prompts, lines, self.tokenizer, self.batch_size, self.ledger, self.n_parameters,
                                score_batch, encode=self.encode)


class StepTagPRM(_TaggedPRM):
    """Math-Shepherd's PRM: P(good) against P(bad) at the tag after each step."""

    def __init__(self, model, tokenizer, cfg: PRMConfig, **kwargs):
        super().__init__(model, tokenizer, cfg.step_tag, **kwargs)
        self.labels = [single_token(tokenizer, cfg.good_token, "good token"),
                       single_token(tokenizer, cfg.bad_token, "bad token")]

    def text(self, question: str, steps: list[str]) -> str:
        return f"{question} " + "".join(f"{s} {self.marker}\n" for s in steps)

    def step_probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits[..., self.labels], dim=-1)[..., 0]


class ClassificationPRM(_TaggedPRM):
    """Qwen2.5-Math-PRM's style: the positive class's probability at the separator after each step."""

    def __init__(self, model, tokenizer, cfg: PRMConfig, **kwargs):
        super().__init__(model, tokenizer, cfg.separator, **kwargs)
        self.positive, self.system = cfg.positive_label, cfg.system

    def text(self, question: str, steps: list[str]) -> str:
        answer = "".join(f"{s}{self.marker}" for s in steps)
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(
                [{"role": "system", "content": self.system}, {"role": "user", "content": question},
                 {"role": "assistant", "content": answer}], tokenize=False)
        return f"{question}\n{answer}"

    def step_probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        if logits.shape[-1] <= self.positive:
            raise ConfigError(f"positive_label={self.positive} but the PRM's head has {logits.shape[-1]} classes")
        return torch.softmax(logits, dim=-1)[..., self.positive]


def load_prm(cfg: PRMConfig, device: str | None = None, dtype: torch.dtype | None = None, batch_size: int = 16,
             ledger: Ledger | None = None):
    """The PRM of `cfg`, loaded by name or path (safetensors only) and ready to score; a PRM that is not here is
    one `MissingResource` naming it, before any work."""
    from ttc.models.hub_models import load_causal_lm, load_pretrained

    kwargs = {"batch_size": batch_size, "ledger": ledger}
    if cfg.kind == "step_tag":
        model, tokenizer = load_causal_lm(cfg.name, device, dtype)
        return StepTagPRM(model, tokenizer, cfg, **kwargs)
    from transformers import AutoModel, AutoModelForTokenClassification

    model, tokenizer = load_pretrained(AutoModel if cfg.trust_remote_code else AutoModelForTokenClassification,
                                       cfg.name, device, dtype, trust_remote_code=cfg.trust_remote_code)
    return ClassificationPRM(model, tokenizer, cfg, **kwargs)
