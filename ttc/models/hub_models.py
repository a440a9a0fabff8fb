"""A real policy by name or path: any Hugging Face causal LM with its tokenizer, on the device and in the dtype a
user would choose (issue 17: loading, before the sampler's non-Llama forward and the PRM adapters).

Weights are never downloaded where the machine is offline: a model that is neither a local directory nor in the
Hugging Face cache is one clear error naming it and how to provide it, raised before any work starts.

Use: `model, tokenizer = load_causal_lm("Qwen/Qwen2.5-1.5B-Instruct")` or `load_causal_lm("/path/to/model")`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from ttc.world.math500 import MissingResource, first_line, missing


def device_and_dtype(device: str | None = None, dtype: torch.dtype | None = None) -> tuple[str, torch.dtype]:
    """CUDA in bfloat16 when a GPU is there, else the CPU in float32 (bf16 matrix products are ~100x slower on
    CPUs without bf16 units); either can be given."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return device, dtype or (torch.bfloat16 if device.startswith("cuda") else torch.float32)


def _missing_model(name: str, why: str) -> MissingResource:
    return missing("model", name, why, "a local directory written by `save_pretrained` (config, safetensors weights "
                   "and tokenizer)")


def load_pretrained(model_class, name_or_path: str, device: str | None = None, dtype: torch.dtype | None = None,
                    **kwargs):
    """(model, tokenizer) of any transformers model class (a causal LM, a token classifier) from a local
    directory or the hub (safetensors only), in eval mode on `device_and_dtype`'s choice."""
    from transformers import AutoTokenizer

    path = Path(name_or_path).expanduser()
    if not path.exists() and (name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1):
        raise _missing_model(name_or_path, "no such directory")
    source = str(path) if path.exists() else name_or_path
    device, dtype = device_and_dtype(device, dtype)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        model = model_class.from_pretrained(source, dtype=dtype, use_safetensors=True, **kwargs)
    except (OSError, ValueError) as e:  # transformers' "not found", "offline" and "not a valid model" all land here
        raise _missing_model(name_or_path, first_line(e)) from None
    return model.to(device).eval(), tokenizer


def load_causal_lm(name_or_path: str, device: str | None = None, dtype: torch.dtype | None = None):
    """(model, tokenizer) of a causal LM (a policy, a step-tag PRM) by name or path; see `load_pretrained`."""
    from transformers import AutoModelForCausalLM

    return load_pretrained(AutoModelForCausalLM, name_or_path, device, dtype)


def model_files(name_or_path: str) -> Path:
    """The directory that holds a model's files: the local directory, or the hub model's snapshot in the local
    cache (never downloaded here); absent, one `MissingResource` naming it."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name_or_path, local_files_only=True))
    except Exception as e:  # not cached, or not a valid name: both mean "not here"
        raise _missing_model(name_or_path, first_line(e)) from None


def given_model_record(name_or_path: str) -> dict:
    """What identifies a given model's weights, for the settings of everything made with it (a pool drawn by
    one model is never reused for another): its name, its config's hash, and its weights' files and sizes."""
    folder = model_files(name_or_path)
    config = folder / "config.json"
    return {"name": name_or_path,
            "config_sha256": hashlib.sha256(config.read_bytes()).hexdigest() if config.exists() else None,
            "weights": {f.name: f.stat().st_size for f in sorted(folder.glob("*.safetensors"))}}
