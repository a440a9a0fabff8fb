"""One plot function per paper figure, one theme, one `save`.

Each `plot_<figure>(...)` takes tables and returns a matplotlib Figure; its
title names the profile and the settings behind it, so that a figure read on
its own says what made it. `save(fig, name, profile)` writes PNG and PDF to
`figures/` for the full profile and `figures/<profile>/` otherwise.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # nothing here needs a screen; notebooks display the figure a cell returns (below)


def _figures_as_pictures_in_notebooks() -> None:
    """Under the Agg backend IPython shows a returned figure as text ("<Figure size ...>"), so executed notebooks
    had no pictures: register the PNG formatter the inline backend would (without its drawing of every open
    figure at the end of a cell, which would show each twice)."""
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import select_figure_formats
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        select_figure_formats(shell, {"png"})


_figures_as_pictures_in_notebooks()

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter
import pandas as pd
import seaborn as sns

from ttc.core.store import figures_dir, save_figure
from ttc.pipelines.fact_study import EXPOSURE_BINS
from ttc.pipelines.stages import stage_of_path
from ttc.pipelines.study_verifiers import gain_column
from ttc.verifiers.spec import PERFECT_CHECKER, VerifierSpec

LEVEL_PALETTE = "rocket_r"


def theme() -> None:
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 150, "axes.titleweight": "bold"})


def panels(fig: plt.Figure) -> list[dict]:
    """What each panel of `fig` draws: its title (or y label), and how many lines with data, collections
    (scatters, filled intervals, heat maps), patches (bars), images, tables and texts. A panel that draws
    none of them is empty. Written into the saved files (`save`), so that a test can read what a figure
    shows without the code that drew it."""
    out = []
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        out.append({"title": ax.get_title() or ax.get_ylabel(),
                    "lines": sum(1 for line in ax.get_lines() if len(line.get_xdata()) > 0),
                    "collections": len(ax.collections), "patches": len(ax.patches), "images": len(ax.images),
                    "tables": len(ax.tables), "texts": len(ax.texts)})
    return out


def figure_name(study, name: str) -> str:
    """A figure's file name: `name` ("05_compute_optimal_search": its stage is its number) for the profile's own
    settings, `name--<variant>` beside it for a variant (`ttc.pipelines.stages`)."""
    variant = study.variant(stage_of_path(f"results/{name}"))
    return f"{name}--{variant.name}" if variant.name else name


def save(fig: plt.Figure, name: str, study, settings: dict | None = None) -> list[str]:
    """PNG and PDF under `figures/` (full profile) or `figures/<profile>/`, named by `figure_name`, with the
    settings behind the figure (and what a variant changes) and what each panel draws (`panels`) written into
    each file's metadata."""
    profile = study.config.profile
    variant = study.variant(stage_of_path(f"results/{name}"))
    described = {"profile": profile, **({"variant": variant.values} if variant.name else {}), **(settings or {})}
    return save_figure(fig, figures_dir(profile), figure_name(study, name), described, panels(fig))


def _settings_line(profile: str, settings: dict) -> str:
    return f"profile: {profile}  |  " + "  |  ".join(f"{k} = {v}" for k, v in settings.items())


def plot_base_models(summary: pd.DataFrame, per_problem: pd.DataFrame, curves: pd.DataFrame, policy: str,
                     profile: str, settings: dict, seed_interval: dict | None = None) -> plt.Figure:
    """Notebook 01: the ladder's accuracy against pretraining FLOPs, overall and by level (with the
    policy's range over training seeds, when the seed study ran); the policy's per-problem pass@1
    spread; the loss curves."""
    theme()
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    ax = axes[0, 0]
    ax.plot(summary["flops"], summary["greedy"], "o-", label="greedy accuracy")
    ax.plot(summary["flops"], summary["pass1"], "s--", label="sampled pass@1 (T=1)")
    if seed_interval:
        x = float(summary.loc[summary["name"] == policy, "flops"].iloc[0])
        for col, color, dx in (("greedy", "C0", 0.97), ("pass1", "C1", 1.03)):
            lo, mid, hi = (seed_interval[col][k] for k in ("min", "mean", "max"))
            ax.errorbar([x * dx], [mid], yerr=[[mid - lo], [hi - mid]], fmt="none", color=color, capsize=4, lw=1.5)
        ax.plot([], [], color="0.3", marker="|", ls="none", ms=10,
                label=f"policy: min-max over {len(seed_interval['seeds'])} training seeds (seed study)")
    else:
        ax.text(0.98, 0.97, "no seed interval yet: `make seed-study`", transform=ax.transAxes, ha="right",
                va="top", fontsize=8, color="0.4")
    for _, r in summary.iterrows():
        tag = f"{r['name']}\n{r['parameters'] / 1e6:.2f}M" + (" (policy)" if r["name"] == policy else "")
        ax.annotate(tag, (r["flops"], r["greedy"]), textcoords="offset points", xytext=(4, 6), fontsize=8)
    ax.set(xscale="log", xlabel="pretraining FLOPs (6 N D)", ylabel="accuracy on the test split", ylim=(0, 1.05),
           title="(a) accuracy vs pretraining compute")
    ax.legend(loc="lower right")  # accuracy rises with compute: the lower right stays empty
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


def plot_fact_exposure(by_exposure: pd.DataFrame, knowledge: pd.DataFrame, policy: str, modulus: int, profile: str,
                       settings: dict) -> plt.Figure:
    """Notebook 01: per size, the share of the letter operators' facts held against how often training showed
    each fact (`ttc.pipelines.fact_study`), and the value's mean log-probability (what moves smoothly)."""
    theme()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    bins = sorted(by_exposure["bin"].unique())
    edges = list(EXPOSURE_BINS)
    upper = {lo: (hi - 1 if hi - lo > 1 else None) for lo, hi in zip(edges, edges[1:])}
    labels = [f"{b:,}+" if b not in upper else f"{b:,}-{upper[b]:,}" if upper[b] is not None else f"{b:,}" for b in bins]
    position = {b: i for i, b in enumerate(bins)}
    names = {r["model"]: f"{r['model']}{' (policy)' if r['model'] == policy else ''}: {r['parameters'] / 1e6:.2f}M, "
                         f"{r['bits_per_parameter']:.2f} bits/param" for _, r in knowledge.iterrows()}
    order = list(knowledge["model"])
    for ax, column, label in ((axes[0], "held", "share of fact steps held (value at p >= 1/2)"),
                              (axes[1], "logp", "mean log-probability of the value (nats)")):
        for i, model in enumerate(order):
            g = by_exposure[by_exposure["model"] == model].sort_values("bin")
            ax.plot(g["bin"].map(position), g[column], "o-", color=sns.color_palette("viridis", len(order))[i],
                    label=names[model])
        ax.set_xticks(range(len(bins)), labels, rotation=30, fontsize=8)
        ax.set(xlabel="exposures: times training showed the fact", ylabel=label)
    axes[0].set(ylim=(-0.02, 1.02), title="(a) facts held against exposures, by size")
    axes[0].legend(loc="upper left", fontsize=8)
    axes[1].axhline(-math.log(modulus), color="k", ls=":", lw=1)
    axes[1].text(0, -math.log(modulus), " uniform guess", va="bottom", fontsize=8)
    axes[1].set(title="(b) the value's log-probability against exposures")
    counts = by_exposure[by_exposure["model"] == order[0]].set_index("bin")["n"]
    axes[1].text(0.99, 0.02, "fact steps per bin: " + ", ".join(f"{int(counts.get(b, 0))}" for b in bins),
                 transform=axes[1].transAxes, ha="right", va="bottom", fontsize=7, color="0.4")
    fig.suptitle("What each size holds of the world's facts (letter operators' tables), test problems\n"
                 + _settings_line(profile, settings), fontsize=10)
    fig.tight_layout()
    return fig


def plot_seed_study(table: pd.DataFrame, curves: pd.DataFrame, policy: str, profile: str,
                    settings: dict) -> plt.Figure:
    """The seed study: validation loss per training seed, accuracy per seed, and the policy's
    pass@1 spread per seed."""
    theme()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    ax = axes[0]
    sns.lineplot(curves, x="tokens", y="loss", hue="model", units="seed", estimator=None, marker=".", ax=ax)
    ax.set(yscale="log", xlabel="pretraining tokens", ylabel="validation loss (nats / solution token)",
           title="(a) validation loss, one line per training seed")
    ax = axes[1]
    long = table.melt(id_vars=["model", "seed", "parameters"], value_vars=["greedy", "pass1"], var_name="metric",
                      value_name="accuracy")
    long["model"] = long["model"] + np.where(long["model"] == policy, " (policy)", "")
    sns.stripplot(long, x="model", y="accuracy", hue="metric", dodge=True, size=7, jitter=0.15, ax=ax)
    ax.set(ylim=(0, 1.05), xlabel="", ylabel="accuracy on the test split",
           title="(b) greedy accuracy and pass@1, one dot per seed")
    ax = axes[2]
    pol = table[table["model"] == policy].set_index("seed")[["below_0.1", "between", "above_0.9"]]
    pol.columns = ["pass@1 < 0.1", "0.1 - 0.9", "> 0.9"]
    pol.plot.bar(stacked=True, ax=ax, color=["C3", "0.7", "C2"], rot=0)
    for y in (0.15, 0.85):
        ax.axhline(y, color="k", ls=":", lw=1)
    ax.set(ylim=(0, 1), xlabel=f"training seed of the policy {policy}", ylabel="fraction of test problems",
           title="(c) the policy's pass@1 spread per seed")
    ax.legend(loc="lower right", fontsize=8)
    fig.suptitle("Seed study: the same world and settings, another training seed\n" + _settings_line(profile, settings),
                 fontsize=10)
    fig.tight_layout()
    return fig


# One colour per search method, the same in every figure.
METHOD_STYLES = {
    "majority vote": {"color": "k", "ls": "--"},
    "best-of-N weighted": {"color": "C3", "lw": 2.5},
    "beam M=sqrt N": {"color": "C0"},
    "beam M=4": {"color": "C2"},
    "lookahead k=1 M=sqrt N": {"color": "C4"},
    "lookahead k=3 M=sqrt N": {"color": "C6"},
    "lookahead k=3 M=4": {"color": "C5"},
    "DVTS M=4": {"color": "C1", "ls": "-."},
    "beam M=4, process advantage": {"color": "C9", "ls": "-."},
}


def _log2_budget_axis(ax, budgets) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(budgets, [str(b) for b in budgets])
    ax.xaxis.set_minor_formatter(NullFormatter())


def _curves(ax, curves: pd.DataFrame, x: str, hue: str, labels: dict | None = None, styles: dict | None = None) -> None:
    """Lines with shaded bootstrap intervals (columns accuracy, lo, hi), one per value of `hue`."""
    for i, (name, g) in enumerate(curves.groupby(hue, sort=False)):
        g = g.sort_values(x)
        style = (styles or {}).get(name, {})
        line, = ax.plot(g[x], g["accuracy"], marker="o", ms=4, label=(labels or {}).get(name, name),
                        **({"color": f"C{i}"} | style))
        ax.fill_between(g[x], g["lo"], g["hi"], color=line.get_color(), alpha=0.15, lw=0)


def plot_difficulty(stats: pd.DataFrame, edges: list[float], cov: pd.DataFrame, policy: str, profile: str,
                    settings: dict) -> plt.Figure:
    """Notebook 02: the policy's pass@1 with the oracle bin edges; oracle bins against the world's
    nominal levels; coverage pass@k by bin."""
    theme()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8), gridspec_kw={"width_ratios": [1, 1.1, 1]})
    ax = axes[0]
    ax.hist(stats["pass1"], bins=np.linspace(0, 1, 26), color="C0", alpha=0.8)
    for e in edges:
        ax.axvline(e, color="k", ls=":", lw=1)
    centres = [(hi + lo) / 2 for hi, lo in zip([1.0] + edges, edges + [0.0])]
    for b, c in enumerate(centres, start=1):
        ax.text(c, 0.97, str(b), transform=ax.get_xaxis_transform(), ha="center", va="top", fontsize=9,
                fontweight="bold")
    ax.set(xlabel=f"per-problem pass@1 of {policy} ({int(stats['n'].iloc[0])} samples, T=1)", ylabel="problems",
           title="(a) oracle difficulty: 5 quantile bins (1 easiest)")

    ax = axes[1]
    table = pd.crosstab([stats["family"], stats["level"]], stats["bin"], normalize="index")
    sns.heatmap(table, annot=True, fmt=".0%", cmap="Blues", cbar=False, ax=ax, annot_kws={"fontsize": 8})
    ax.set(xlabel="oracle bin (1 easiest)", ylabel="family - nominal level",
           title="(b) where each nominal level lands")

    ax = axes[2]
    for i, (b, g) in enumerate(cov.groupby("bin", sort=True)):
        style = {"color": "k", "ls": "--"} if b == "all" else {"color": sns.color_palette(LEVEL_PALETTE, 5)[int(b) - 1]}
        ax.plot(g["k"], g["pass_at_k"], marker="o", ms=3, label=f"bin {b}" if b != "all" else "all", **style)
    _log2_budget_axis(ax, sorted(cov["k"].unique()))
    ax.set(xlabel="k (samples)", ylabel="coverage pass@k (unbiased)", ylim=(0, 1.02),
           title="(c) coverage by oracle bin")
    ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("Difficulty from the policy's own samples\n" + _settings_line(profile, settings), fontsize=10)
    fig.tight_layout()
    return fig


def plot_best_of_n(curves: pd.DataFrame, profile: str, settings: dict) -> plt.Figure:
    """Notebook 03: Fig. 13 (step aggregation: last, min, product, weighted selection) and
    Fig. 14 (PRM vs ORM vs majority) as accuracy against N, with bootstrap intervals; `curves` holds every
    method of `ttc.pipelines.verifier_study.BEST_OF_N_METHODS`, each panel its own."""
    from ttc.pipelines.verifier_study import AGGREGATION_PANEL, VERIFIER_PANEL

    aggregation, verifiers = curves[curves.method.isin(AGGREGATION_PANEL)], curves[curves.method.isin(VERIFIER_PANEL)]
    theme()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharey=True)
    for ax, curves, title in ((axes[0], aggregation, "(a) PRM step aggregation, best-of-N weighted (Fig. 13)"),
                              (axes[1], verifiers, "(b) PRM vs ORM vs majority vote (Fig. 14)")):
        _curves(ax, curves, "budget", "method", styles={"majority vote": {"color": "k", "ls": "--"}})
        _log2_budget_axis(ax, sorted(curves["budget"].unique()))
        ax.set(xlabel="N (samples per problem)", ylabel="test accuracy", title=title)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("Best-of-N from the sample pool, 90% bootstrap intervals over problems\n"
                 + _settings_line(profile, settings), fontsize=10)
    fig.tight_layout()
    return fig


def plot_prm_quality(step_calibration: pd.DataFrame, final_calibration: pd.DataFrame, aucs: dict[tuple, float],
                     confusion: pd.DataFrame, profile: str, settings: dict) -> plt.Figure:
    """Notebook 03: the PRM against this world's ground truth (held-out problems), and predicted
    difficulty bins against oracle bins."""
    theme()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    for ax, cal, kind, what, title in (
            (axes[0], step_calibration, "step", "fraction of prefixes truly on track", "(a) step scores vs step truth"),
            (axes[1], final_calibration, "final", "fraction of solutions correct", "(b) final scores vs answers")):
        for i, (name, g) in enumerate(cal.groupby("verifier", sort=False)):
            ax.plot(g["score"], g["observed"], marker="o", ms=4, color=f"C{i}",
                    label=f"{name} (AUC {aucs[(name, kind)]:.3f})")
        ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1)
        ax.set(xlabel="verifier score (bin mean)", ylabel=what, xlim=(0, 1), ylim=(0, 1), title=title)
        ax.legend(fontsize=8, loc="upper left")
    ax = axes[2]
    sns.heatmap(confusion, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax)
    ax.set(xlabel="predicted bin (mean PRM final score)", ylabel="oracle bin (pass@1)",
           title="(c) predicted vs oracle difficulty bins")
    fig.suptitle("Verifier quality on held-out test problems, against the world's exact step truth\n"
                 + _settings_line(profile, settings), fontsize=10)
    fig.tight_layout()
    return fig


def plot_search(curves: pd.DataFrame, flops: pd.DataFrame, by_bin: pd.DataFrame, profile: str,
                settings: dict) -> plt.Figure:
    """Notebook 04: Fig. 3 left (accuracy against the generation budget, every configuration),
    the same against FLOPs (generation plus verification), and Fig. 3 right (beam search against
    best-of-N weighted in each oracle difficulty bin)."""
    theme()
    fig = plt.figure(figsize=(17, 9))
    grid = fig.add_gridspec(2, 10)
    ax = fig.add_subplot(grid[0, :5])
    _curves(ax, curves, "budget", "method", styles=METHOD_STYLES)
    _log2_budget_axis(ax, sorted(curves["budget"].unique()))
    ax.set(xlabel="generation budget (lookahead counts its rollouts: N (k+1))", ylabel="test accuracy",
           title="(a) search methods against the generation budget (Fig. 3 left)")
    ax.legend(fontsize=8, loc="lower right", ncols=2)
    ax = fig.add_subplot(grid[0, 5:])
    for i, (name, g) in enumerate(flops.groupby("method", sort=False)):
        g = g.sort_values("flops")
        style = {"color": f"C{i}"} | METHOD_STYLES.get(name, {})
        ax.plot(g["flops"], g["accuracy"], marker="o", ms=4, label=name, **style)
    ax.set(xscale="log", xlabel="FLOPs per problem (policy 2N per token + verifier 2N per token read)",
           ylabel="test accuracy", title="(b) the same against exact FLOPs (not in the paper)")
    ax.legend(fontsize=8, loc="lower right", ncols=2)
    bins = sorted(by_bin["bin"].unique())
    for j, b in enumerate(bins):
        ax = fig.add_subplot(grid[1, 2 * j:2 * j + 2])
        _curves(ax, by_bin[by_bin["bin"] == b], "budget", "method", styles=METHOD_STYLES)
        _log2_budget_axis(ax, sorted(by_bin["budget"].unique()))
        ax.set(xlabel="generation budget", ylabel="accuracy" if j == 0 else "", ylim=(-0.02, 1.02),
               title=f"({chr(ord('c') + j)}) oracle bin {b}" + (" (easiest)" if b == 1 else " (hardest)" if b == bins[-1] else ""))
        if j == 0:
            ax.legend(fontsize=7, loc="lower left")
    fig.suptitle("Search against the verifier, 90% bootstrap intervals over problems\n" + _settings_line(profile, settings),
                 fontsize=10)
    fig.tight_layout()
    return fig


def _efficiency_panel(ax, ratios: pd.DataFrame, styles: dict, reference: str, title: str) -> None:
    """The budget each compute-optimal curve needs to match `reference` at each of its budgets (`ratios` from
    `ttc.methods.compute_optimal.efficiency_table`), against the same budget and the paper's 4x less."""
    gens = ratios[ratios["axis"] == "generations"]
    for name, g in gens.groupby("compared", sort=False):
        ax.plot(g["reference_budget"], g["matching_budget"], marker="o", label=name, **styles.get(name, {}))
    budgets = sorted(gens["reference_budget"].unique())
    ax.plot(budgets, budgets, color="grey", ls=":", lw=1, label=f"same budget as {reference}")
    ax.plot(budgets, [b / 4 for b in budgets], color="grey", ls="--", lw=1, label="4x less (the paper)")
    # The number means little where the reference itself gains nothing from more budget: say how much it gains.
    accuracy = gens.drop_duplicates("reference_budget").sort_values("reference_budget")["reference_accuracy"]
    ax.set(xscale="log", yscale="log", xlabel=f"{reference} budget", ylabel="budget compute-optimal needs to match it")
    ax.set_title(f"{title}\n({reference} there: {accuracy.iloc[0]:.1%} at {budgets[0]:g}, "
                 f"{accuracy.iloc[-1]:.1%} at {budgets[-1]:g})", fontsize=10)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize=8, loc="upper left")


def plot_compute_optimal(curves: pd.DataFrame, flops: pd.DataFrame, ratios: pd.DataFrame, profile: str,
                         settings: dict) -> plt.Figure:
    """Notebook 05: Fig. 4 (compute-optimal search with oracle and predicted bins, and within nominal levels where
    `curves` has that curve, against best-of-N weighted, beam search and majority vote, by generation budget), the
    same against FLOPs, and the budget compute-optimal needs to match best-of-N."""
    theme()
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8), gridspec_kw={"width_ratios": [1.2, 1.2, 1]})
    styles = METHOD_STYLES | {"compute-optimal (oracle bins)": {"color": "C8", "lw": 2.5},
                              "compute-optimal (predicted bins)": {"color": "C9", "lw": 2.5, "ls": "-."},
                              "compute-optimal (nominal levels)": {"color": "C6", "lw": 1.8, "ls": ":"}}
    ax = axes[0]
    _curves(ax, curves, "budget", "method", styles=styles)
    _log2_budget_axis(ax, sorted(curves["budget"].unique()))
    ax.set(xlabel="generation budget", ylabel="test accuracy", title="(a) compute-optimal search (Fig. 4)")
    ax.legend(fontsize=8, loc="lower right")
    ax = axes[1]
    for name, g in flops.groupby("method", sort=False):
        g = g.sort_values("flops")
        ax.plot(g["flops"], g["accuracy"], marker="o", ms=4, label=name, **styles.get(name, {}))
    ax.set(xscale="log", xlabel="FLOPs per problem (generation + verification)", ylabel="test accuracy",
           title="(b) the same against FLOPs")
    ax.legend(fontsize=8, loc="lower right")
    _efficiency_panel(axes[2], ratios, styles, "best-of-N weighted",
                      "(c) the efficiency number, on the problems searched at every budget")
    fig.suptitle("Compute-optimal test-time search, two-fold cross-validated within each bin\n"
                 + _settings_line(profile, settings), fontsize=10)
    fig.tight_layout()
    return fig


def plot_verifier_ladder(table: pd.DataFrame, budget: int, profile: str, settings: dict) -> plt.Figure:
    """Notebook 03, beyond the paper: each verifier's quality against the world's truth, and what it
    gains over majority vote, against the size of the model it reads with. The likelihood of every
    ladder size is a curve; the trained PRM and ORM are points at their base's size; the truth
    checker (the ceiling, and with noise) is a horizontal line, since it has no size."""
    theme()
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.9))
    gain = gain_column(budget)
    is_likelihood = pd.Series([VerifierSpec.parse(n).kind == "likelihood" for n in table.index], index=table.index)
    likelihood = table[is_likelihood].sort_values("parameters")
    trained = table[~table["oracle"] & ~is_likelihood]
    checkers = table[table["oracle"]]
    perfect = table.loc[PERFECT_CHECKER] if PERFECT_CHECKER in table.index else None
    measures = {"within_problem_auc": "within-problem AUC", "within_problem_auc_majority_wrong":
                "within AUC, majority-wrong problems", "cell_auc": "cell AUC (first wrong line)"}
    ax = axes[0]
    for i, (col, label) in enumerate(measures.items()):
        ax.plot(likelihood["parameters"], likelihood[col], marker="o", color=f"C{i}", label=f"likelihood: {label}")
        ax.scatter(trained["parameters"], trained[col], marker="s", s=50, color=f"C{i}", edgecolor="black", zorder=3)
        if perfect is not None:
            ax.axhline(perfect[col], color=f"C{i}", ls=":", lw=1)
    for base, group in trained.groupby("parameters"):  # one label per base: its verifiers' squares share an x
        lowest = group[list(measures)].min(axis=1).min()
        if np.isfinite(lowest):  # NaN where no problem has both right and wrong samples
            ax.annotate(", ".join(group.index), (base, lowest), textcoords="offset points", xytext=(0, -14),
                        ha="center", fontsize=8)
    sizes = table.loc[table["parameters"] > 0, "parameters"]
    xlim = (sizes.min() / 1.5, sizes.max() * 1.5)  # set, so that an axis whose measures are all NaN still draws
    ax.axhline(0.5, color="grey", lw=0.8)
    ax.set(xscale="log", xlim=xlim, ylim=(0.3, 1.02), xlabel="parameters of the model the verifier reads with",
           ylabel="AUC", title="(a) verifier quality (squares: trained; dotted: perfect checker)")
    ax.legend(fontsize=8, loc="lower left")
    ax = axes[1]
    err = [likelihood[gain] - likelihood[f"{gain}_lo"], likelihood[f"{gain}_hi"] - likelihood[gain]]
    ax.errorbar(likelihood["parameters"], likelihood[gain], yerr=err, marker="o", capsize=3, color="C0",
                label="likelihood of a ladder size")
    err = [trained[gain] - trained[f"{gain}_lo"], trained[f"{gain}_hi"] - trained[gain]]
    ax.errorbar(trained["parameters"], trained[gain], yerr=err, fmt="s", capsize=3, color="C3", label="trained (PRMs, ORM)")
    for base, group in trained.groupby("parameters"):
        if np.isfinite(group[gain].max()):
            ax.annotate(", ".join(group.index), (base, group[gain].max()), textcoords="offset points",
                        xytext=(8, 6), fontsize=8)
    # the checkers from the perfect one (black) to the noisiest (light grey)
    for j, (name, r) in enumerate(checkers.sort_values(gain, ascending=False).iterrows()):
        ax.axhline(r[gain], color=str(0.75 * j / max(1, len(checkers) - 1)), ls="--", lw=1, label=name)
    ax.axhline(0, color="black", lw=0.8)
    ax.set(xscale="log", xlim=xlim, xlabel="parameters of the model the verifier reads with",
           ylabel=f"best-of-N weighted minus majority vote, N = {budget}",
           title="(b) what selection gains from the verifier, 90% bootstrap intervals")
    ax.legend(fontsize=8, loc="best")
    fig.suptitle("The verifier ladder: every verifier on the same samples, against the world's truth (not in the paper)\n"
                 + _settings_line(profile, settings), fontsize=10)
    fig.tight_layout()
    return fig


def plot_search_vs_verifier(axis: pd.DataFrame, profile: str, settings: dict) -> plt.Figure:
    """Notebook 04, beyond the paper: beam search minus best-of-N weighted against the budget, one curve
    per verifier (from the best by cell AUC, dark, to the worst, light), and both methods' accuracy."""
    theme()
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.9))
    names = list(dict.fromkeys(axis["verifier"]))
    colours = plt.cm.viridis(np.linspace(0, 0.85, max(1, len(names))))
    for name, colour in zip(names, colours):
        g = axis[axis.verifier == name].sort_values("budget")
        cell = g["cell_auc"].iloc[0]
        label = f"{name} (cell AUC {cell:.2f})" if pd.notna(cell) else name
        err = [g["beam_minus_best_of_n"] - g["lo"], g["hi"] - g["beam_minus_best_of_n"]]
        axes[0].errorbar(g["budget"], g["beam_minus_best_of_n"], yerr=err, marker="o", capsize=3, color=colour,
                         label=label)
        axes[1].plot(g["budget"], g["beam"], marker="o", color=colour, label=f"{name}: beam")
        axes[1].plot(g["budget"], g["best_of_n"], marker="s", ls="--", color=colour, label=f"{name}: best-of-N")
    axes[0].axhline(0, color="black", lw=0.8)
    axes[0].set(xlabel="generation budget N", ylabel="beam search minus best-of-N weighted",
                title="(a) beam search against best-of-N, per verifier (90% bootstrap intervals)")
    axes[0].legend(fontsize=8, loc="best")
    axes[1].set(xlabel="generation budget N", ylabel="accuracy",
                title="(b) accuracy: beam search (solid) and best-of-N weighted (dashed)")
    axes[1].legend(fontsize=7, loc="best", ncol=2)
    for ax in axes:
        _log2_budget_axis(ax, sorted(int(b) for b in axis["budget"].unique()))
    fig.suptitle("Search against verifier quality: the same beam search and best-of-N with verifiers from the world's "
                 "truth to the paper's recipe (not in the paper)\n" + _settings_line(profile, settings), fontsize=10)
    fig.tight_layout()
    return fig


def plot_revision_chains(steps: pd.DataFrame, flips: dict, versus: pd.DataFrame, policy_pass1: float, selector: str,
                         profile: str, settings: dict) -> plt.Figure:
    """Notebook 06, Fig. 6: (a) pass@1 at each step of the revision chains, with the policy's pass@1 on the same
    problems and how often answers flip; (b) sequential (one chain of N) against parallel (N chains of one) at
    equal generation budgets, selected by the verifier (hierarchical best-of-N weighted) and by majority vote."""
    theme()
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.8))
    ax = axes[0]
    g = steps.sort_values("step")
    ax.plot(g["step"], g["accuracy"], marker="o", ms=3, color="C0", label="revision model, attempt t of a chain")
    ax.fill_between(g["step"], g["lo"], g["hi"], color="C0", alpha=0.15, lw=0)
    ax.axhline(policy_pass1, color="grey", ls="--", lw=1, label="the policy's pass@1 (notebook 02's pool)")
    ax.set(xscale="log", xlabel="step of the chain (attempts in context: the 4 most recent)", ylabel="pass@1",
           title="(a) pass@1 along the revision chain (Fig. 6 left)")
    ax.text(0.02, 0.03, f"correct answers revised into incorrect: {flips['correct_to_incorrect']:.0%} (paper ~38%)\n"
            f"incorrect answers revised into correct: {flips['incorrect_to_correct']:.0%}", transform=ax.transAxes,
            fontsize=9, va="bottom")
    ax.legend(fontsize=8, loc="upper right")
    ax = axes[1]
    styles = {f"sequential, {selector}": {"color": "C3"}, f"parallel, {selector}": {"color": "C0"},
              "sequential, majority vote": {"color": "C3", "ls": "--"}, "parallel, majority vote": {"color": "C0", "ls": "--"}}
    _curves(ax, versus, "budget", "method", styles=styles)
    _log2_budget_axis(ax, sorted(versus["budget"].unique()))
    ax.set(xlabel="generation budget", ylabel="test accuracy",
           title="(b) sequential vs parallel (Fig. 6 right)")
    ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("Revisions: the policy fine-tuned to revise its own answers\n" + _settings_line(profile, settings),
                 fontsize=10)
    fig.tight_layout()
    return fig


def plot_ratio_sweep(overall: pd.DataFrame, by_bin: pd.DataFrame, budget: int, selector: str, profile: str,
                     settings: dict) -> plt.Figure:
    """Notebook 06, Fig. 7: at one budget, accuracy against the sequential-to-parallel ratio (chain length over
    chains), overall with intervals and per oracle difficulty bin."""
    theme()
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.8))
    ax = axes[0]
    g = overall.sort_values("log2_ratio")
    ax.plot(g["log2_ratio"], g["accuracy"], marker="o", color="C0")
    ax.fill_between(g["log2_ratio"], g["lo"], g["hi"], color="C0", alpha=0.15, lw=0)
    ax.set(xlabel="log2 (chain length / parallel chains)", ylabel="test accuracy",
           title=f"(a) every split of budget {budget}, all problems")
    ax = axes[1]
    colors = sns.color_palette(LEVEL_PALETTE, by_bin["bin"].nunique())
    for color, (b, g) in zip(colors, by_bin.groupby("bin")):
        g = g.sort_values("log2_ratio")
        ax.plot(g["log2_ratio"], g["accuracy"], marker="o", color=color, label=f"bin {b}")
    ax.set(xlabel="log2 (chain length / parallel chains)", ylabel="test accuracy",
           title="(b) per oracle difficulty bin (Fig. 7 right)")
    ax.legend(fontsize=8, title="oracle bin (1 easiest)", loc="center right")
    for ax in axes:
        ax.set_xticks(sorted(overall["log2_ratio"].unique()))
    fig.suptitle(f"The sequential-to-parallel ratio at budget {budget} ({selector}; left: fully parallel, right: one "
                 "chain)\n" + _settings_line(profile, settings), fontsize=10)
    fig.tight_layout()
    return fig


def plot_compute_optimal_revisions(curves: pd.DataFrame, ratios: pd.DataFrame, together: pd.DataFrame | None,
                                   profile: str, settings: dict) -> plt.Figure:
    """Notebook 06, Fig. 8: compute-optimal revisions (oracle and predicted bins) against parallel best-of-N and
    one chain, by generation budget; the budget it needs to match parallel best-of-N; and compute-optimal over
    search and revisions together (where notebook 04 searched the same problems)."""
    theme()
    fig, axes = plt.subplots(1, 3, figsize=(18, 4.8))
    styles = {"compute-optimal (oracle bins)": {"color": "C8", "lw": 2.5},
              "compute-optimal (predicted bins)": {"color": "C9", "lw": 2.5, "ls": "-."},
              "parallel best-of-N": {"color": "C0"}, "sequential": {"color": "C3"}}
    ax = axes[0]
    _curves(ax, curves, "budget", "method", styles=styles)
    _log2_budget_axis(ax, sorted(curves["budget"].unique()))
    ax.set(xlabel="generation budget", ylabel="test accuracy", title="(a) compute-optimal revisions (Fig. 8)")
    ax.legend(fontsize=8, loc="lower right")
    _efficiency_panel(axes[1], ratios, styles, "parallel best-of-N", "(b) the efficiency number")
    ax = axes[2]
    if together is not None and len(together):
        _curves(ax, together, "budget", "method")
        _log2_budget_axis(ax, sorted(together["budget"].unique()))
        ax.legend(fontsize=7, loc="lower right")
    else:
        ax.text(0.5, 0.5, "no budget in common with notebook 04's search", ha="center", transform=ax.transAxes)
    ax.set(xlabel="generation budget", ylabel="test accuracy",
           title="(c) compute-optimal over search and revisions together")
    fig.suptitle("Compute-optimal revisions, two-fold cross-validated within each bin\n"
                 + _settings_line(profile, settings), fontsize=10)
    fig.tight_layout()
    return fig


def plot_exchange_matched(comparison: pd.DataFrame, matchings: tuple[str, ...], larger: str, profile: str,
                          settings: dict) -> plt.Figure:
    """Notebook 07, Fig. 9: per strategy (columns) and matching (rows), the relative change of accuracy from the
    policy's compute-optimal test-time compute at the FLOPs-matched budget instead of the larger model's greedy
    answer, per oracle bin, one bar per R; hatched where the matched budget lies beyond what was run (the largest
    run stands in), with the budget compared at in the legend."""
    theme()
    strategies = list(dict.fromkeys(comparison["strategy"]))
    fig, axes = plt.subplots(len(matchings), len(strategies), figsize=(5.6 * len(strategies), 4.2 * len(matchings)),
                             squeeze=False, sharey=True)
    bins = [b for b in dict.fromkeys(comparison["bin"]) if b.isdigit()]
    ratios = sorted(comparison["ratio"].unique())
    colors = sns.color_palette("crest", len(ratios))
    width = 0.8 / len(ratios)
    for i, matching in enumerate(matchings):
        for j, strategy in enumerate(strategies):
            ax = axes[i, j]
            cell = comparison[(comparison.matching == matching) & (comparison.strategy == strategy)]
            for k, (r, color) in enumerate(zip(ratios, colors)):
                at = cell[cell.ratio == r]
                if not len(at):
                    continue
                g, beyond, budget = at.set_index("bin").reindex(bins), bool(at.beyond_run.iloc[0]), int(at.budget.iloc[0])
                note = (" (target beyond run)" if beyond else
                        " (no budget affordable: smallest shown)"
                        if at.target.iloc[0] <= 0 else " (target below run)" if at.below_run.iloc[0] else "")
                x = np.arange(len(bins)) + (k - (len(ratios) - 1) / 2) * width
                ax.bar(x, 100 * g["relative"], width, color=color, hatch="//" if beyond else None,
                       edgecolor="white" if not beyond else "0.3", lw=0.5,
                       label=f"R = {r:g}: budget {budget}{note}")
                tie = (g["relative"] == 0).to_numpy()
                ax.plot(x[tie], np.zeros(tie.sum()), "o", color=color, ms=4)
            ax.axhline(0, color="0.2", lw=0.8)
            ax.set_xticks(range(len(bins)), [f"bin {b}" for b in bins])
            ax.set_xlim(-0.5, len(bins) - 0.5)
            ax.set(ylabel="relative change of accuracy (%)" if j == 0 else "",
                   title=f"{strategy}\nmatched in {matching}")
            ax.legend(fontsize=7, loc="lower left")
    fig.suptitle(f"Test-time compute instead of pretraining, FLOPs-matched (Fig. 9): the policy's compute-optimal "
                 f"test-time compute against {larger}'s greedy answer, by oracle bin (1 easiest; a dot: a tie; no bar: "
                 f"{larger} answers none there)\n"
                 + _settings_line(profile, settings), fontsize=10)
    fig.tight_layout()
    return fig


def plot_exchange_frontier(frontier: pd.DataFrame, reaches: pd.DataFrame, fit: dict, jones: float, profile: str,
                           settings: dict) -> plt.Figure:
    """Notebook 07, beyond the paper: (a-c) accuracy against total FLOPs per query at each R (each ladder model's
    pretraining amortised over its lifetime's queries, plus its test-time FLOPs), each model's frontier over its
    strategies and the compute-optimal envelope of the whole ladder; (d) at each accuracy target, the test-time
    FLOPs each model needs against its pretraining FLOPs, with the pooled slope (the exchange rate)."""
    theme()
    ratios = sorted(frontier["ratio"].unique())
    fig, axes = plt.subplots(1, len(ratios) + 1, figsize=(5.2 * (len(ratios) + 1), 4.8))
    models = list(dict.fromkeys(frontier["model"]))
    colors = dict(zip(models, sns.color_palette("flare", len(models))))
    for ax, r in zip(axes, ratios):
        at = frontier[frontier.ratio == r]
        for name in models:
            g = at[at.model == name].sort_values("total_flops")
            ax.scatter(g.total_flops, g.accuracy, s=8, color=colors[name], alpha=0.35, lw=0)
            ax.plot(g.total_flops, g.accuracy.cummax(), color=colors[name], lw=1.5, label=name, drawstyle="steps-post")
        env = at[at.envelope].sort_values("total_flops")
        ax.plot(env.total_flops, env.accuracy, color="k", ls="--", lw=1.2, marker="o", ms=3,
                label="compute-optimal envelope", drawstyle="steps-post")
        ax.set(xscale="log", xlabel="total FLOPs per query (pretraining amortised + test time)",
               ylabel="test accuracy", title=f"R = D_inference / D_pretrain = {r:g}")
        ax.legend(fontsize=7, loc="lower right")
    ax = axes[-1]
    inner = reaches[reaches.interior]
    targets = sorted(inner.target.unique())
    tcolors = sns.color_palette("viridis", max(len(targets), 1))
    for t, color in zip(targets, tcolors):
        g = inner[inner.target == t].sort_values("pretrain_flops")
        ax.plot(g.pretrain_flops, g.test_time_flops, marker="o", color=color, label=f"accuracy {t:.1%}")
    bounded = reaches[reaches.reached & ~reaches.interior]
    ax.scatter(bounded.pretrain_flops, bounded.test_time_flops, marker="v", color="0.6", s=14,
               label="at most (cheapest strategy already there)")
    if len(inner) or len(bounded):
        ax.set(xscale="log", yscale="log")
    ax.set(xlabel="pretraining FLOPs of the model", ylabel="test-time FLOPs per query to reach it")
    if np.isfinite(fit["slope"]):
        trade = (f"10x pretraining replaces {fit['rate']:.3g}x test-time FLOPs" if fit["slope"] < 0 else
                 f"10x pretraining needs {1 / fit['rate']:.3g}x the test-time FLOPs")
        rate = (f"pooled slope {fit['slope']:.2f} (90%: {fit['slope_lo']:.2f} to {fit['slope_hi']:.2f}): {trade}\n"
                f"(Jones, Hex: 10x replaces {jones:g}x); {fit['points']} points at {fit['targets_fitted']} targets")
    else:
        rate = "no target is reached by two models between strategies they ran: no exchange rate"
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_title("(d) the exchange rate", fontsize=10)
    ax.text(0.02, 0.02, rate, transform=ax.transAxes, fontsize=7, va="bottom")
    ax.legend(fontsize=6, loc="best")
    fig.suptitle("Pretraining against test-time compute over the whole ladder (beyond the paper; Jones 2021)\n"
                 + _settings_line(profile, settings), fontsize=10)
    fig.tight_layout()
    return fig
