"""Plots of fits (matplotlib; no statistics computed here)."""

from __future__ import annotations

import numpy as np

from pm_mlvm._distributions import norm_isf
from pm_mlvm.errors import MLVMInputError

__all__ = ["plot_network", "plot_parameters"]


def _matplotlib():
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - matplotlib comes with arviz
        raise ImportError("plotting needs matplotlib (pip install matplotlib)") from err
    return plt


def plot_network(fit, matrix: str = "omega_zeta_within", ax=None, threshold: float = 0.0,
                 positive_color="#1f77b4", negative_color="#d62728", title=None):
    """Draw a partial-correlation network (a ``omega_*`` matrix, or any square matrix).

    Nodes sit on a circle labelled with the variable / latent names; an edge's width is
    proportional to the absolute weight and its colour gives the sign. Returns the matplotlib
    Figure.
    """
    plt = _matplotlib()
    frame = fit.matrix(matrix)
    weights = frame.to_numpy(dtype=float)
    if weights.ndim != 2 or weights.shape[0] != weights.shape[1]:
        raise MLVMInputError(f"matrix={matrix!r} is not a square matrix")
    labels = list(frame.index)
    n = len(labels)
    angles = np.pi / 2 - 2 * np.pi * np.arange(n) / n
    xy = np.column_stack([np.cos(angles), np.sin(angles)])
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 5))
    else:
        fig = ax.figure
    top = np.nanmax(np.abs(weights[~np.eye(n, dtype=bool)])) if n > 1 else 0.0
    for i in range(n):
        for j in range(i):
            w = weights[i, j]
            if not np.isfinite(w) or abs(w) <= threshold or w == 0:
                continue
            ax.plot(*xy[[i, j]].T, color=positive_color if w > 0 else negative_color,
                    linewidth=0.5 + 6.0 * abs(w) / max(top, 1e-12), alpha=0.8, zorder=1)
    ax.scatter(*xy.T, s=900, color="white", edgecolor="black", zorder=2)
    for (x, y), label in zip(xy, labels):
        ax.text(x, y, str(label), ha="center", va="center", fontsize=9, zorder=3)
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.3, 1.3)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title or matrix)
    return fig


def plot_parameters(fit, matrices=None, level=None, ax=None, ci: float = 0.95):
    """Estimates with Wald confidence intervals, one row per free parameter."""

    plt = _matplotlib()
    table = fit.parameters()
    table = table[table["free"]]
    if matrices is not None:
        table = table[table["matrix"].isin([matrices] if isinstance(matrices, str) else matrices)]
    if level is not None:
        table = table[table["level"] == level]
    if table.empty:
        raise MLVMInputError(f"no free parameters to plot for matrices={matrices!r}, "
                             f"level={level!r}")
    z = norm_isf((1 - ci) / 2)
    labels = [f"{m}[{r},{c}]" if c else f"{m}[{r}]" for m, r, c in
              zip(table["matrix"], table["row"], table["col"])]
    y = np.arange(len(table))[::-1]
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 0.25 * len(table) + 1))
    else:
        fig = ax.figure
    ax.errorbar(table["est"], y, xerr=z * table["se"].fillna(0), fmt="o", color="black",
                ecolor="gray", capsize=2)
    ax.axvline(0, color="gray", linewidth=0.5)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xlabel(f"estimate ({int(ci * 100)}% CI)")
    fig.tight_layout()
    return fig
