"""Pretraining experiment: d-size, seed, lr schedule, mixture; logs escape + per-family val loss + greedy acc."""
import dataclasses, json, math, sys, time, argparse, random
import ttc  # noqa: F401  (first: it pins the instruction set of torch and numpy)
import numpy as np, torch
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
from ttc.models.lm import LADDER, build_model
from ttc.models.pretrain import PretrainConfig, tokenize, pack_batch, IGNORE, validation_loss, _optimizer
from ttc.models.sampling import Sampler
from ttc.world import synthetic as W
from ttc.world.tokenizer import build_tokenizer
ap = argparse.ArgumentParser()
ap.add_argument("--size", default="d64-l4"); ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--tokens", type=float, default=1.5e6); ap.add_argument("--lr", type=float, default=3e-3)
ap.add_argument("--sched", default="const"); ap.add_argument("--total", type=float, default=4e6)
ap.add_argument("--rows", type=int, default=4); ap.add_argument("--warmup", type=float, default=0.03)
ap.add_argument("--wd", type=float, default=0.1); ap.add_argument("--decay", type=float, default=0.2)
ap.add_argument("--tag", required=True); ap.add_argument("--n_eval", type=int, default=200)
ap.add_argument("--world_seed", type=int, default=0); ap.add_argument("--curr", type=float, default=0); ap.add_argument("--iso", type=int, default=0)
a = ap.parse_args()
tok = build_tokenizer()
# the levels the trials ran with (the world has since been made longer)
OPS, DIGITS = (((1, 1), (2, 3), (4, 6), (7, 10), (11, 16)), ((1, 2), (3, 4), (5, 7), (8, 11), (12, 16)))
wc = W.WorldConfig(seed=a.world_seed, n_train=60000, n_val=500, n_test=500, modchain_ops=OPS, addition_digits=DIGITS)
splits = W.make_splits(wc)
cfg = PretrainConfig(tokens=int(a.tokens), rows=a.rows, lr=a.lr, seed=a.seed, bf16=False, warmup=a.warmup, weight_decay=a.wd)
size = LADDER[a.size]
docs = tokenize(splits["train"], tok, 256)
levels = np.array([p.level for p in splits["train"]])
by_level = {L: [d for d, lv in zip(docs, levels) if lv <= L] for L in range(1, 6)}
vals = {f: [pack_batch(tokenize([p for p in splits["val"] if p.family == f], tok, 256), i, cfg, tok.pad_token_id, stream=1) for i in range(2)] for f in ("modchain", "addition")}
model = build_model(size, tok, seed=a.seed); model.train()
opt = _optimizer(model, cfg)
total_steps = math.ceil(a.total / (cfg.rows * 256)); steps = cfg.steps
peak = cfg.peak_lr(size.hidden); warm = max(1, round(a.warmup * total_steps))
def lr_at(s):
    if s < warm: return peak * (s + 1) / warm
    if a.sched == "const": return peak
    if a.sched == "cosine":
        pr = (s - warm) / max(1, total_steps - warm); return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * pr)))
    if a.sched == "wsd":
        d0 = total_steps * (1 - a.decay)
        return peak if s < d0 else peak * (0.1 + 0.9 * (1 - (s - d0) / (total_steps - d0)))
log = {"args": vars(a), "train": [], "val": []}
run = None; t0 = time.time()
for s in range(steps):
    for g in opt.param_groups: g["lr"] = lr_at(s)
    L = 5 if a.curr == 0 else min(5, 1 + int(4 * s / (a.curr * total_steps)))
    x, y = pack_batch(by_level[L], s, cfg, tok.pad_token_id)
    if a.iso:
        seg = torch.cumsum(x == tok.bos_token_id, dim=1)
        T = x.shape[1]; ar = torch.arange(T)
        start = torch.zeros_like(x); 
        first = torch.where(x == tok.bos_token_id, ar.expand_as(x), torch.zeros_like(x))
        start = torch.cummax(first, dim=1).values
        pos = ar - start
        mask = ((seg[:, :, None] == seg[:, None, :]) & torch.ones(T, T, dtype=torch.bool).tril())[:, None]
        loss = model(input_ids=x, labels=y, attention_mask=mask, position_ids=pos).loss
    else:
        loss = model(input_ids=x, labels=y).loss
    loss.backward(); torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step(); opt.zero_grad(set_to_none=True)
    v = loss.item(); run = v if run is None else 0.95 * run + 0.05 * v
    if s % 20 == 0: log["train"].append([(s + 1) * cfg.rows * 256, run])
    if (s + 1) % max(1, steps // 20) == 0 or s == steps - 1:
        vl = {f: validation_loss(model, b, dataclasses.replace(cfg, isolate_documents=False), tok.bos_token_id) for f, b in vals.items()}
        log["val"].append([(s + 1) * cfg.rows * 256, vl]); print(s + 1, f"{run:.3f}", {k: round(v, 3) for k, v in vl.items()}, f"{time.time()-t0:.0f}s", flush=True)
log["train_s"] = time.time() - t0
model.eval()
test = splits["test"][:a.n_eval]
sam = Sampler(model, tok, batch_size=256, max_new_tokens=192)
g = sam.sample([W.prompt(p) for p in test], n=1, temperature=0.0)
acc = {f: float(np.mean([W.grade(p, c[0].text) for p, c in zip(test, g) if p.family == f])) for f in ("modchain", "addition")}
acc["all"] = float(np.mean([W.grade(p, c[0].text) for p, c in zip(test, g)]))
log["greedy"] = acc; log["eval_s"] = time.time() - t0 - log["train_s"]
print("greedy", acc, f"eval {log['eval_s']:.0f}s", flush=True)
json.dump(log, open(f"{a.tag}.json", "w"))
