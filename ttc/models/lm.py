"""The model ladder: named decoder-only transformer sizes, built from transformers configs.

Every size is a Llama-style `LlamaForCausalLM` (RoPE, RMSNorm, SwiGLU, tied
embeddings) that differs only in width and depth, so that accuracy can be
compared against parameters and FLOPs. Models are saved as Hugging Face model
directories (safetensors, with the tokenizer beside them) and load back with
`AutoModelForCausalLM.from_pretrained`.

Use: `model = build_model(LADDER["d64-l4"], tokenizer)`;
`Ladder(("d48-l3", ..., "d192-l7"), policy="d64-l4")` checks the span.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from ttc.core.config import ConfigError, as_tuple, check_fields
from ttc.core.ordered import ordered
from ttc.core.store import check_artifact, write_dir

MIN_SPAN = 14.0
"""The paper compares the policy plus test-time compute with a ~14x larger model."""

MIN_SIZES = 3
"""A ladder has at least the policy, the next size (the seed study's) and the 14x size."""

MAX_POSITIONS = 512

HEAD_DIM = 16
"""Attention heads of 16 dimensions. Heads of 32 (half as many, the same parameters) train 13-19%
faster on this CPU, but at D = 4M tokens those models learned one problem family and not the
other (README, "The model ladder"): here the number of heads matters more than their width."""


@dataclass(frozen=True)
class ModelSize:
    name: str
    hidden: int
    layers: int
    heads: int
    # SwiGLU width; 4x hidden keeps ~16 * hidden^2 parameters a layer.
    intermediate: int

    def __post_init__(self):
        check_fields(self)
        if min(self.hidden, self.layers, self.heads, self.intermediate) < 1:
            raise ConfigError(f"ModelSize {self.name!r}: hidden, layers, heads and intermediate must be "
                              f"positive, got {self.hidden}, {self.layers}, {self.heads}, {self.intermediate}")
        if self.hidden % self.heads:
            raise ConfigError(f"ModelSize {self.name!r}: hidden={self.hidden} must be divisible by "
                              f"heads={self.heads}")


def _size(hidden: int, layers: int) -> ModelSize:
    return ModelSize(f"d{hidden}-l{layers}", hidden, layers, max(1, hidden // HEAD_DIM), 4 * hidden)


LADDER: dict[str, ModelSize] = {s.name: s for s in (
    # The study's ladder: d32-l2 (the policy), d48-l3 and d80-l5, 14.6x the policy, at D = 16M (the world of
    # letter operators). Before: d32-l2, d48-l3, d64-l4 and d80-l5 at D = 8M on the arithmetic world; d64-l4
    # left the ladder when D doubled, for notebook 01's time. Before that (D = 4M): d48-l3, d64-l4 (the policy),
    # d96-l5 and d192-l7; d128-l6 and d144-l6 were tried as its third size. The sizes the study no longer trains
    # stay, for the trials that name them (README).
    _size(32, 2), _size(48, 3), _size(64, 4), _size(80, 5), _size(96, 5), _size(128, 6), _size(144, 6),
    _size(192, 7),
    # A miniature ladder with the same 14x span (d16-l1 to d48-l3), for the tests and the tiny profile.
    _size(16, 1), _size(24, 2),
    # Tried as the quick profile's policy (two heads, one layer; README, the quick trials).
    _size(32, 1),
)}


def model_config(size: ModelSize, tokenizer) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=size.hidden, num_hidden_layers=size.layers,
        num_attention_heads=size.heads, num_key_value_heads=size.heads, intermediate_size=size.intermediate,
        max_position_embeddings=MAX_POSITIONS, tie_word_embeddings=True, attention_dropout=0.0,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id)


def build_model(size: ModelSize, tokenizer, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)  # initialisation is part of the run's settings
    return ordered(LlamaForCausalLM(model_config(size, tokenizer)))


def count_parameters(model: torch.nn.Module) -> int:
    """Parameters counted once each (the tied embedding once)."""
    return sum(p.numel() for p in model.parameters())


def parameters_of(size: ModelSize, tokenizer) -> int:
    """Parameter count of a size without training it (built on the meta device)."""
    with torch.device("meta"):
        return count_parameters(LlamaForCausalLM(model_config(size, tokenizer)))


@dataclass(frozen=True)
class Ladder:
    """The sizes a study trains, and which of them is the policy (the base model)."""

    names: tuple[str, ...]
    policy: str | None  # None: the study's policy is a given model (ttc.pipelines.given_models), and the ladder is not trained
    # The training seed of the policy that notebooks 02-07 use: None, notebook 01's (the study's seed); another, the
    # seed study's model of the policy at that seed (the larger sizes stay notebook 01's)
    policy_seed: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "names", as_tuple(self.names))
        check_fields(self)
        unknown = [n for n in self.names if n not in LADDER]
        if unknown:
            raise ConfigError(f"ladder={list(self.names)}: unknown size(s) {unknown}; known sizes are "
                              f"{sorted(LADDER)}")
        if len(self.names) < MIN_SIZES or len(set(self.names)) != len(self.names):
            raise ConfigError(f"ladder={list(self.names)}: give at least {MIN_SIZES} distinct sizes (the policy, the "
                              "next size, whose seeds the seed study compares with the policy's, and one >= 14x)")
        if self.policy is not None and self.policy not in self.names:
            raise ConfigError(f"policy={self.policy!r} is not in the ladder {list(self.names)}")
        if self.policy_seed is not None:
            if isinstance(self.policy_seed, bool) or not isinstance(self.policy_seed, int) or self.policy_seed < 0:
                raise ConfigError(f"policy_seed={self.policy_seed!r} must be null (notebook 01's policy) or a training "
                                  "seed >= 0")
            if self.policy is None:
                raise ConfigError(f"policy_seed={self.policy_seed!r} retrains the ladder's policy at another seed; a "
                                  "given policy (world: math500) has no training seed: leave policy_seed null")

    def check_span(self, tokenizer) -> dict[str, int]:
        """Parameter counts by name; raise unless the largest is >= 14x the policy."""
        counts = {n: parameters_of(LADDER[n], tokenizer) for n in self.names}
        span = max(counts.values()) / counts[self.policy]
        if span < MIN_SPAN:
            raise ConfigError(f"ladder={list(self.names)} spans only {span:.1f}x from the policy "
                              f"{self.policy!r} ({counts[self.policy]:,} parameters) to the largest "
                              f"({max(counts.values()):,}); the 14x comparison needs >= {MIN_SPAN:g}x")
        return counts


def save_model(model, tokenizer, path: Path, meta: dict, settings: dict | None = None) -> None:
    """Save a Hugging Face model dir (safetensors) with its tokenizer and a meta JSON, as one artifact
    recorded with `settings` (what made it; by default the meta record itself)."""
    def fill(tmp: Path) -> None:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "pretrain.json").write_text(json.dumps(meta, indent=1))

    write_dir(path, fill, meta if settings is None else settings)


def read_meta(path: Path) -> dict:
    """The meta record of a saved model, after checking the model is whole."""
    check_artifact(path, what="model", made_by="notebook 01")
    return json.loads((Path(path) / "pretrain.json").read_text())


def load_model(path: Path):
    """(model, tokenizer, meta) from a directory written by `save_model`; safetensors only."""
    path = Path(path)
    meta = read_meta(path)
    model = ordered(AutoModelForCausalLM.from_pretrained(path, use_safetensors=True))
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    return model, tokenizer, meta


def model_record(path: Path) -> dict:
    """What made the saved model at `path`: its size, pretraining settings and world.

    Artifacts computed from a model include this in their settings, so that a
    retrained model is never silently paired with results of the old one.
    """
    meta = read_meta(path)
    record = {"name": meta["name"], "size": meta.get("size"), "pretrain": meta["config"], "world": meta.get("world")}
    # a continued pretraining (`ttc.models.pretrain.pretrain(init_from=...)`) is also what it started from
    return record | ({"init_from": meta["init_from"]} if "init_from" in meta else {})
