"""A trained PRM that keeps what the language model knows (issue 14): the policy's checkpoint, pretrained
further, with a step head on its token probabilities trained on the Monte Carlo labels.

Why not the paper's recipe: a fresh value head on the hidden state at each line's end learned which
problems are hard and where a line sits, not whether it is right (cell AUC 0.50, whatever its labels,
data, learning rate or base). The language model itself does know where a line goes wrong: the token it
finds unlikely. So this PRM reads a line through its LM's token log-probabilities
(`ttc.verifiers.reference.LINE_FEATURES`) and learns from the labels how they map to the chance of
reaching the right answer (a logistic head, soft labels). And since a verifier that knows no more than
the policy cannot beat majority vote (it finds the policy's slips, which the vote already averages out),
its LM first continues the policy's pretraining (the LM loss on the pretraining corpus, a fresh schedule
of `continued_tokens` more tokens; its FLOPs count as the verifier's pretraining).

Use (notebook 03): `ttc.pipelines.ladder_study.pretrain_on_world(policy_name, ..., lm_dir, init_from=policy_dir)`;
`train_head(LikelihoodVerifier.load(lm_dir), labels, problems, cfg, head_dir, settings)`;
`ProbabilityPRM.load(head_dir, lm_dir).score(prompts, lines)`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ttc.core.compute import Ledger
from ttc.core.config import check_fields, check_range
from ttc.core.ordered import rowdot, total
from ttc.core.store import check_artifact, plain, reusable, write_dir
from ttc.verifiers.reference import LINE_FEATURES, LikelihoodVerifier
from ttc.world import synthetic as W
from ttc.world.text import solution_lines

HEAD = "head.json"


@dataclass(frozen=True)
class ProbabilityPRMConfig:
    continued_tokens: int = 2_000_000  # more pretraining tokens for the PRM's LM (0: the policy's LM as it is)
    l2: float = 1e-3  # on the head's weights over standardised features (not on its bias)
    val_fraction: float = 0.1  # of the labelled problems, held out to report the head's loss
    seed: int = 0

    def __post_init__(self):
        check_fields(self)
        check_range(self, "continued_tokens", 0)
        check_range(self, "l2", 0.0, 10.0)
        check_range(self, "val_fraction", 0.01, 0.5)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """Weights and bias minimising the mean binary cross-entropy against soft targets `y` in [0, 1],
    plus `l2` times the squared weights (features standardised inside, weights returned on the raw scale)."""
    mean, std = x.mean(0), x.std(0) + 1e-8
    xs = torch.tensor((x - mean) / std, dtype=torch.float64)
    ys = torch.tensor(y, dtype=torch.float64)
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        # Sums in a fixed order (ttc.core.ordered): the same fit on every processor and thread count.
        per_line = torch.nn.functional.binary_cross_entropy_with_logits(rowdot(xs, w) + b, ys, reduction="none")
        loss = total(per_line) / len(per_line) + l2 * total(w ** 2)
        loss.backward()
        return loss

    opt.step(closure)
    weights = w.detach().numpy() / std
    return weights, float(b.detach()) - float(features_dot(mean[None, :], weights)[0])


def features_dot(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """x @ weights, summed over the features in order (a BLAS dot sums in its processor's order)."""
    out = x[:, 0] * weights[0]
    for f in range(1, x.shape[1]):
        out = out + x[:, f] * weights[f]
    return out


def bce(logits: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.logaddexp(0, logits) - y * logits))


def label_features(lm: LikelihoodVerifier, labels: pd.DataFrame, problems: dict[str, W.Problem]) -> pd.DataFrame:
    """The labels table (`ttc.verifiers.trained.label_steps`) with the LM's `LINE_FEATURES` of every line."""
    solutions = labels.drop_duplicates(["problem_id", "solution"])
    lines = [solution_lines(t) for t in solutions["text"]]
    features, _ = lm.line_features([W.prompt(problems[pid]) for pid in solutions["problem_id"]], lines)
    rows = [{"problem_id": pid, "solution": s, "step": j} | dict(zip(LINE_FEATURES, f))
            for pid, s, per_line in zip(solutions["problem_id"], solutions["solution"], features)
            for j, f in enumerate(per_line)]
    return labels.merge(pd.DataFrame(rows), on=["problem_id", "solution", "step"], how="inner")


def train_head(lm: LikelihoodVerifier, labels: pd.DataFrame, problems: dict[str, W.Problem], cfg: ProbabilityPRMConfig,
               out_dir: Path, settings: dict) -> dict:
    """Fit the step head on the Monte Carlo labels, to `out_dir/head.json` (skipped when it is there with
    `settings`); returns its record (weights, bias, training and held-out loss)."""
    out_dir = Path(out_dir)
    if reusable(out_dir, settings, "the probability PRM's head"):
        return json.loads((out_dir / HEAD).read_text())
    table = label_features(lm, labels, problems)
    ids = sorted(table["problem_id"].unique())
    rng = np.random.default_rng(cfg.seed)
    held = set(rng.choice(ids, size=max(1, round(cfg.val_fraction * len(ids))), replace=False).tolist())
    train, val = table[~table.problem_id.isin(held)], table[table.problem_id.isin(held)]
    weights, bias = fit_logistic(train[list(LINE_FEATURES)].to_numpy(), train["mc_label"].to_numpy(), cfg.l2)

    def loss(part: pd.DataFrame) -> float:
        return bce(features_dot(part[list(LINE_FEATURES)].to_numpy(), weights) + bias, part["mc_label"].to_numpy())

    record = {"features": list(LINE_FEATURES), "weights": weights.tolist(), "bias": bias,
              "train_loss": loss(train), "val_loss": loss(val), "train_lines": len(train), "val_lines": len(val),
              "val_problems": sorted(held), "settings": plain(settings)}
    write_dir(out_dir, lambda tmp: (tmp / HEAD).write_text(json.dumps(record, indent=1)), settings)
    return record


class ProbabilityPRM:
    """Per-line scores in [0, 1]: the head's logistic of the LM's line features."""

    def __init__(self, lm: LikelihoodVerifier, weights: list[float], bias: float):
        self.lm, self.weights, self.bias = lm, np.asarray(weights, dtype=float), float(bias)
        self.ledger, self.n_parameters = lm.ledger, lm.n_parameters + len(weights) + 1

    @classmethod
    def load(cls, head_dir: Path, lm_dir: Path, batch_size: int = 256, ledger: Ledger | None = None) -> "ProbabilityPRM":
        check_artifact(head_dir, what="the probability PRM's head", made_by="notebook 03")
        record = json.loads((Path(head_dir) / HEAD).read_text())
        return cls(LikelihoodVerifier.load(lm_dir, batch_size=batch_size, ledger=ledger), record["weights"],
                   record["bias"])

    def score(self, prompts: list[str], lines: list[list[str]]) -> list[list[float]]:
        return self.score_and_count(prompts, lines)[0]

    def score_and_count(self, prompts: list[str], lines: list[list[str]]) -> tuple[list[list[float]], list[int]]:
        features, counted = self.lm.line_features(prompts, lines)
        scores = [(1 / (1 + np.exp(-(features_dot(np.asarray(f, dtype=float).reshape(-1, len(self.weights)), self.weights)
                                     + self.bias)))).tolist() for f in features]
        return scores, counted
