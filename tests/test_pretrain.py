import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ttc.core.config import ConfigError
from ttc.core.store import artifact_status
from ttc.models import pretrain as P


def small_config(**kw):
    return P.PretrainConfig(**{"tokens": 6 * 2 * 256, "rows": 2, "block": 256, "checkpoint_every": 2,
                               "n_evals": 2, **kw})


def crash_at(step_to_crash):
    """A pack_batch that interrupts training (as Ctrl-C would) when it reaches a given step."""
    real = P.pack_batch

    def pack(docs, step, *args, **kw):
        if step == step_to_crash and kw.get("stream", 0) == 0:
            raise KeyboardInterrupt
        return real(docs, step, *args, **kw)

    return pack


def test_batches_pack_whole_documents_with_loss_on_solutions_only(tokenizer, splits):
    cfg = small_config()
    docs = P.tokenize(splits["train"], tokenizer, cfg.block)
    x, y = P.pack_batch(docs, 0, cfg, tokenizer.pad_token_id)
    assert x.shape == y.shape == (cfg.rows, cfg.block)
    again = P.pack_batch(docs, 0, cfg, tokenizer.pad_token_id)
    assert torch.equal(x, again[0]) and not torch.equal(x, P.pack_batch(docs, 1, cfg, tokenizer.pad_token_id)[0])
    for row_x, row_y in zip(x.tolist(), y.tolist()):
        text = tokenizer.decode(row_x, skip_special_tokens=False).replace("<pad>", "")
        documents = [d for d in text.split("<bos>") if d]
        assert documents and all(d.startswith("Q: ") and d.endswith("<eos>") for d in documents)
        # Labels are exactly the solution tokens (after each prompt's newline), end-of-text included.
        labelled = [t for t in row_y if t != P.IGNORE]
        solutions = "".join(d.split("\n", 1)[1] for d in documents)
        assert tokenizer.decode(labelled, skip_special_tokens=False) == solutions


def test_documents_longer_than_a_row_are_refused(tokenizer, splits):
    with pytest.raises(ConfigError, match="block=16"):
        P.tokenize(splits["train"], tokenizer, 16)


def test_bad_pretrain_settings_name_the_value():
    with pytest.raises(ConfigError, match="tokens"):
        P.PretrainConfig(tokens="many")
    with pytest.raises(ConfigError, match="rows"):
        P.PretrainConfig(rows=-1)
    with pytest.raises(ConfigError, match="lr"):
        P.PretrainConfig(lr=5.0)


def test_interrupted_pretraining_resumes_to_the_same_model(tokenizer, splits, tmp_path, monkeypatch):
    cfg = small_config()
    whole = P.pretrain("d16-l1", tokenizer, splits["train"], splits["val"], cfg, tmp_path / "whole", progress=False)

    real = P.pack_batch
    monkeypatch.setattr(P, "pack_batch", crash_at(5))
    with pytest.raises(KeyboardInterrupt):
        P.pretrain("d16-l1", tokenizer, splits["train"], splits["val"], cfg, tmp_path / "resumed", progress=False)
    assert artifact_status(tmp_path / "resumed") == "missing"
    (partial,) = (tmp_path / "resumed.partial").iterdir()  # one interrupted run, keyed by its settings
    assert json.loads((partial / "state.json").read_text())["step"] == 4
    monkeypatch.setattr(P, "pack_batch", real)
    resumed = P.pretrain("d16-l1", tokenizer, splits["train"], splits["val"], cfg, tmp_path / "resumed",
                         progress=False)
    assert not (tmp_path / "resumed.partial").exists()
    a = load_file(str(tmp_path / "whole" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["train_curve"] == whole["train_curve"] and resumed["flops"] == whole["flops"]
    assert whole["tokens"] == cfg.steps * cfg.rows * cfg.block
    assert whole["flops"] == 6 * whole["parameters"] * whole["tokens"]


def test_an_interrupted_run_with_other_settings_is_not_resumed_and_does_not_block(tokenizer, splits, tmp_path,
                                                                                monkeypatch):
    real = P.pack_batch
    monkeypatch.setattr(P, "pack_batch", crash_at(3))
    with pytest.raises(KeyboardInterrupt):
        P.pretrain("d16-l1", tokenizer, splits["train"], splits["val"], small_config(), tmp_path / "m", progress=False)
    monkeypatch.setattr(P, "pack_batch", real)
    # A corrected rerun with other settings trains from scratch: the same model as a run that was never interrupted.
    P.pretrain("d16-l1", tokenizer, splits["train"], splits["val"], small_config(lr=1e-3), tmp_path / "m",
               progress=False)
    P.pretrain("d16-l1", tokenizer, splits["train"], splits["val"], small_config(lr=1e-3), tmp_path / "fresh",
               progress=False)
    a, b = (load_file(str(tmp_path / d / "model.safetensors")) for d in ("m", "fresh"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_finished_model_is_skipped(tokenizer, splits, tmp_path, monkeypatch):
    cfg = small_config(tokens=2 * 2 * 256)
    first = P.pretrain("d16-l1", tokenizer, splits["train"], splits["val"], cfg, tmp_path / "m", progress=False)
    monkeypatch.setattr(P, "build_model", lambda *a, **k: pytest.fail("retrained a finished model"))
    assert P.pretrain("d16-l1", tokenizer, splits["train"], splits["val"], cfg, tmp_path / "m",
                      progress=False) == first
    with pytest.raises(ConfigError, match=r"differing: \['config'\]"):  # nor reused with other settings
        P.pretrain("d16-l1", tokenizer, splits["train"], splits["val"], small_config(tokens=2 * 2 * 256, lr=1e-3),
                   tmp_path / "m", progress=False)


def test_learning_rate_schedule_warms_up_and_decays():
    cfg = P.PretrainConfig(tokens=100 * 32 * 256, warmup=0.1)
    lrs = [cfg.lr_at(s, cfg.lr_hidden) for s in range(cfg.steps)]
    peak = lrs.index(max(lrs))
    assert peak == 9 and max(lrs) == pytest.approx(cfg.lr)
    assert lrs[:peak + 1] == sorted(lrs[:peak + 1]) and lrs[peak:] == sorted(lrs[peak:], reverse=True)
    assert lrs[-1] == pytest.approx(cfg.lr * cfg.min_lr_ratio, rel=0.01)


def test_learning_rate_shrinks_as_one_over_width():
    cfg = P.PretrainConfig(lr=3e-3, lr_hidden=64)
    assert cfg.peak_lr(64) == pytest.approx(3e-3) and cfg.peak_lr(192) == pytest.approx(1e-3)
    assert [cfg.lr_at(s, 128) for s in range(0, cfg.steps, 50)] == pytest.approx(
        [cfg.lr_at(s, 64) / 2 for s in range(0, cfg.steps, 50)])


def test_a_saved_model_of_another_architecture_is_refused(tokenizer, splits, tmp_path, monkeypatch):
    """A size keeps its name when its architecture changes (say, heads of 32 instead of 16): the
    model's recorded size must then stop the old model from being reused as the new one."""
    from dataclasses import asdict, replace

    from ttc.pipelines import ladder_study
    from ttc.models.lm import LADDER, Ladder, model_record
    from ttc.world.synthetic import WorldConfig

    world = WorldConfig(n_train=400, n_val=30, n_test=30, modulus=13)
    cfg = small_config(tokens=2 * 2 * 256)
    ladder = Ladder(("d16-l1", "d24-l2", "d32-l2", "d48-l3"), policy="d16-l1")
    P.pretrain("d16-l1", tokenizer, splits["train"], splits["val"], cfg, tmp_path / "d16-l1", progress=False,
               extra_meta={"world": asdict(world)})
    assert model_record(tmp_path / "d16-l1")["size"] == asdict(LADDER["d16-l1"])
    monkeypatch.setitem(LADDER, "d16-l1", replace(LADDER["d16-l1"], heads=2))
    with pytest.raises(ConfigError, match=r"differing: \['size'\]"):
        ladder_study.train_ladder(ladder, tokenizer, splits, world, cfg, tmp_path, progress=False)


def test_a_packed_document_sees_only_itself(tokenizer, splits):
    """With documents isolated, a document's logits in a packed row are its logits alone, as at inference."""
    from ttc.models.lm import LADDER, build_model

    model = build_model(LADDER["d16-l1"], tokenizer, seed=0).eval()
    cfg = small_config()
    docs = P.tokenize(splits["train"][:3], tokenizer, cfg.block)
    row = torch.from_numpy(np.concatenate([d.ids for d in docs])[None])
    with torch.no_grad():
        packed = P.forward(model, row, cfg, tokenizer.bos_token_id).logits[0]
        alone = model(input_ids=torch.from_numpy(docs[2].ids[None])).logits[0]
        leaky = P.forward(model, row, small_config(isolate_documents=False), tokenizer.bos_token_id).logits[0]
    start = len(docs[0].ids) + len(docs[1].ids)
    assert torch.allclose(packed[start:], alone, atol=1e-5)
    assert not torch.allclose(leaky[start:], alone, atol=1e-3)  # without isolation it reads the earlier documents
    mask, positions = P.document_attention(row, tokenizer.bos_token_id)
    assert positions[0, start].item() == 0 and positions[0, -1].item() == len(docs[2].ids) - 1
    assert not mask[0, 0, start, start - 1] and mask[0, 0, start + 1, start] and not mask[0, 0, start, start + 1]


def test_the_convergence_measure_is_the_fall_over_the_last_quarter():
    curve = [[t * 100, loss] for t, loss in enumerate([2.0, 1.0, 0.5, 0.4, 0.4, 0.4, 0.4, 0.3], start=1)]
    # three quarters of 800 tokens is 600: the loss there is 0.4, at the end 0.3
    assert P.last_quarter_fall(curve) == pytest.approx(0.25)
    assert P.last_quarter_fall([[100, 1.0], [200, 1.0], [300, 1.0], [400, 1.0]]) == 0.0


def test_a_compiled_training_step_is_refused_while_the_study_is_pinned(monkeypatch):
    # inductor builds the step for the host processor: its weights are not the study's anywhere else
    with pytest.raises(ConfigError, match="pretrain_compile=True"):
        small_config(compile=True)
    monkeypatch.setenv("TTC_DETERMINISTIC", "0")
    assert small_config(compile=True).compile


def test_continued_pretraining_starts_from_the_given_model_and_counts_both_runs(tokenizer, splits, tmp_path):
    cfg = small_config(tokens=2 * 2 * 256)
    first = P.pretrain("d16-l1", tokenizer, splits["train"], splits["val"], cfg, tmp_path / "m", progress=False)
    more = P.pretrain("d16-l1", tokenizer, splits["train"], splits["val"], cfg, tmp_path / "more", progress=False,
                      init_from=tmp_path / "m")
    assert more["flops"] == pytest.approx(2 * first["flops"]) and more["continued_flops"] == pytest.approx(first["flops"])
    assert more["init_from"]["name"] == "d16-l1" and more["init_tokens"] == first["tokens"]
    # it starts where the first model ended, not from random weights: at equal steps its loss is lower
    assert more["val_curve"][0][1] < first["val_curve"][0][1]
    with pytest.raises(ConfigError, match="continued pretraining keeps the size"):
        P.pretrain("d24-l2", tokenizer, splits["train"], splits["val"], cfg, tmp_path / "other", progress=False,
                   init_from=tmp_path / "m")
