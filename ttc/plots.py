"""One plot function per paper figure, one theme, one `save`.

Each `plot_<figure>(...)` takes tables and returns a matplotlib Figure; its
title names the profile and the settings behind it, so that a figure read on
its own says what made it. `save(fig, name, profile)` writes PNG and PDF to
`figures/` for the full profile and `figures/<profile>/` otherwise.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # notebooks display the returned figure; nothing here needs a screen

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter
import pandas as pd
import seaborn as sns

from ttc.store import figures_dir

LEVEL_PALETTE = "rocket_r"


def theme() -> None:
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 150, "axes.titleweight": "bold"})


def save(fig: plt.Figure, name: str, profile: str) -> list[str]:
    folder = figures_dir(profile)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        path = folder / f"{name}.{ext}"
        tmp = path.with_name(f".{path.stem}.tmp.{ext}")
        # Fixed metadata so that a rerun with the same results writes the same PDF bytes.
        fig.savefig(tmp, bbox_inches="tight", metadata={"CreationDate": None} if ext == "pdf" else None)
        tmp.replace(path)
        paths.append(str(path))
    return paths


def _settings_line(profile: str, settings: dict) -> str:
    return f"profile: {profile}  |  " + "  |  ".join(f"{k} = {v}" for k, v in settings.items())


def plot_base_models(summary: pd.DataFrame, per_problem: pd.DataFrame, curves: pd.DataFrame, policy: str,
                     profile: str, settings: dict) -> plt.Figure:
    """Notebook 01: the ladder's accuracy against pretraining FLOPs, overall and by level;
    the policy's per-problem pass@1 spread; the loss curves."""
    theme()
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    ax = axes[0, 0]
    ax.plot(summary["flops"], summary["greedy"], "o-", label="greedy accuracy")
    ax.plot(summary["flops"], summary["pass1"], "s--", label="sampled pass@1 (T=1)")
    for _, r in summary.iterrows():
        tag = f"{r['name']}\n{r['parameters'] / 1e6:.2f}M" + (" (policy)" if r["name"] == policy else "")
        ax.annotate(tag, (r["flops"], r["greedy"]), textcoords="offset points", xytext=(4, 6), fontsize=8)
    ax.set(xscale="log", xlabel="pretraining FLOPs (6 N D)", ylabel="accuracy on the test split", ylim=(0, 1.05),
           title="(a) accuracy vs pretraining compute")
    ax.legend(loc="upper left")
    ax.xaxis.set_minor_formatter(NullFormatter())  # log-axis minor labels collide on a short range

    ax = axes[0, 1]
    by_level = (per_problem.groupby(["model", "level"])["greedy_correct"].mean().rename("greedy").reset_index()
                .merge(summary[["name", "flops"]], left_on="model", right_on="name"))
    sns.lineplot(by_level, x="flops", y="greedy", hue="level", palette=LEVEL_PALETTE, marker="o", ax=ax)
    ax.set(xscale="log", xlabel="pretraining FLOPs (6 N D)", ylabel="greedy accuracy", ylim=(0, 1.05),
           title="(b) greedy accuracy by nominal level (1 easiest)")
    ax.legend(title="level", loc="lower right", ncols=5, fontsize=8)
    ax.xaxis.set_minor_formatter(NullFormatter())

    ax = axes[1, 0]
    pol = per_problem[per_problem["model"] == policy]
    spread = {"< 0.1": (pol["pass1"] < 0.1).mean(), "0.1-0.9": ((pol["pass1"] >= 0.1) & (pol["pass1"] <= 0.9)).mean(),
              "> 0.9": (pol["pass1"] > 0.9).mean()}
    ax.hist(pol["pass1"], bins=np.linspace(0, 1, 21), color="C0", alpha=0.8)
    for x in (0.1, 0.9):
        ax.axvline(x, color="k", ls=":", lw=1)
    ax.set(xlabel=f"per-problem pass@1 of the policy {policy} ({int(pol['n_samples'].iloc[0])} samples, T=1)",
           ylabel="problems", title="(c) spread of the policy's per-problem pass@1")
    ax.text(0.5, 0.95, "   ".join(f"{k}: {v:.0%}" for k, v in spread.items()), transform=ax.transAxes,
            ha="center", va="top", fontsize=9, bbox={"facecolor": "white", "alpha": 0.8, "lw": 0})

    ax = axes[1, 1]
    sns.lineplot(curves[curves["split"] == "val"], x="tokens", y="loss", hue="model", marker="o", ax=ax)
    ax.set(xlabel="pretraining tokens", ylabel="validation loss (nats / solution token)", yscale="log",
           title="(d) validation loss during pretraining")
    fig.suptitle("Base-model ladder on the synthetic math world\n" + _settings_line(profile, settings), fontsize=10)
    fig.tight_layout()
    return fig
