"""A real policy by name or path: tiny random models of two architectures saved with save_pretrained and loaded by
path through the code users use; a missing model is one clear error (no network)."""

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from ttc.models.hub_models import device_and_dtype, load_causal_lm
from ttc.models.sampling import Sampler
from ttc.world.math500 import MissingResource
from ttc.world.tokenizer import build_tokenizer
from conftest import offline_error


@pytest.mark.parametrize("architecture", ["llama", "gpt2"])
def test_a_saved_model_of_either_architecture_loads_by_path(tmp_path, architecture):
    tokenizer = build_tokenizer()
    n = len(tokenizer)
    config = (LlamaConfig(vocab_size=n, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                          num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128)
              if architecture == "llama" else GPT2Config(vocab_size=n, n_embd=32, n_layer=1, n_head=2, n_positions=128))
    torch.manual_seed(0)
    saved = (LlamaForCausalLM if architecture == "llama" else GPT2LMHeadModel)(config).eval()
    saved.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    model, loaded_tokenizer = load_causal_lm(str(tmp_path / "model"))
    assert model.config.model_type == architecture and not model.training
    assert next(model.parameters()).dtype == torch.float32 and len(loaded_tokenizer) == n
    ids = loaded_tokenizer(["1+2=3"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.equal(model(ids).logits, saved(ids).logits)  # the same weights, read back
    # through the study's sampler and ledger: the lean forward for Llama, the transformers forward otherwise
    sampler = Sampler(model, loaded_tokenizer, batch_size=8, max_new_tokens=12)
    assert sampler.lean == (architecture == "llama")
    out = sampler.sample(["1+2=", "3*4="], n=3, temperature=1.0, seed=0)
    generated = sum(c.n_tokens for row in out for c in row)
    assert all(1 <= c.n_tokens <= 12 for row in out for c in row) and sampler.ledger.generated_tokens == generated
    prompt_tokens = sum(len(i) for i in loaded_tokenizer(["1+2=", "3*4="])["input_ids"])  # one pass per prompt
    assert sampler.ledger.flops == 2 * sampler.n_parameters * (prompt_tokens + generated)


def test_device_and_dtype():
    assert device_and_dtype("cpu") == ("cpu", torch.float32)
    assert device_and_dtype("cuda:0") == ("cuda:0", torch.bfloat16)
    assert device_and_dtype("cpu", torch.float16) == ("cpu", torch.float16)


def test_a_missing_directory_is_one_clear_error(tmp_path):
    with pytest.raises(MissingResource, match="no such directory"):
        load_causal_lm(str(tmp_path / "absent"))


def test_offline_a_missing_hub_model_is_one_clear_error():
    out = offline_error("from ttc.models.hub_models import load_causal_lm\n"
                        "try:\n"
                        "    load_causal_lm('nobody/no-such-model')\nexcept Exception as e:\n    print(type(e).__name__, e)\n")
    assert out.startswith("MissingResource") and "nobody/no-such-model" in out
    assert "HF_HUB_OFFLINE=1 (now '1')" in out and "save_pretrained" in out
