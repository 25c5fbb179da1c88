"""Path diagram of a fitted two-level model (matplotlib only; no statistics computed here).

Two panels side by side, within and between. In each: observed variables are boxes on the
bottom row, latent variables circles above them; loadings (Λ, the same on both levels) and
structural regressions (β) are arrows; covariances are curved two-headed arrows; residual
variances are short arrows into the boxes; latent variances are printed inside the circles.
A block parameterised as a Gaussian graphical model (``ggm``) is drawn as its network:
undirected curved edges weighted by the partial correlations (blue positive, red negative).
Estimates label the edges; values fixed by the model are marked ``*`` (e.g. ``1*``) and
drawn dashed.

Everything is read from the fit's public API -- ``fit.spec`` (variable and latent names,
block types), ``fit.matrix(name)`` and ``fit.parameters()`` (which cells are fixed). The
observed-variable network model (``lambda_=None``: Λ = I, no residual blocks) draws the
observed variables alone with their networks.

Each drawn element carries a ``gid`` of the form ``"<kind>:<detail>"`` with kind one of
``observed``, ``latent``, ``loading``, ``regression``, ``covariance``, ``residual``,
``edge``, so figures can be inspected programmatically (the tests count them).
"""

from __future__ import annotations

import numpy as np

from pm_mlvm.errors import MLVMInputError
from pm_mlvm.report.plots import _matplotlib

__all__ = ["plot_path"]

LEVELS = ("within", "between")
BOX_W, BOX_H = 0.8, 0.5          # observed-variable box (data units)
RADIUS = 0.45                     # latent circle
ROW_OBSERVED, ROW_LATENT = 0.0, 2.6
SPACING = 1.3                     # between neighbouring boxes
TOL = 1e-10                       # |value| at or below this is "no path"
POSITIVE, NEGATIVE = "#1f77b4", "#d62728"


def plot_path(fit, standardized: bool = False, axes=None, digits: int = 2, figsize=None):
    """Draw the fitted two-level model as a path diagram, within and between side by side.

    Parameters
    ----------
    fit : MLResult
        A fitted model (``pmv.ml_lvm(...).fit()``, or any ``ml_lnm`` / ``ml_rnm`` /
        ``ml_lrnm`` fit).
    standardized : bool
        Standardized estimates; not available yet (raises ``NotImplementedError``).
    axes : pair of matplotlib Axes, optional
        Where to draw the within and the between panel; a new figure by default.
    digits : int
        Decimals of the printed estimates.
    figsize : (float, float), optional
        Size of a new figure (default grows with the number of variables).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pm_mlvm as pmv
    >>> fit = pmv.ml_lvm(pmv.load_seed_example(), {"F1": ["y1", "y2", "y3"],
    ...                  "F2": ["y4", "y5", "y6"]}, clusters="cluster").fit()
    >>> fig = pmv.plot_path(fit)
    >>> fig.savefig("seed_path.png", dpi=150)  # doctest: +SKIP
    """
    if standardized:
        raise NotImplementedError("plot_path(standardized=True) needs standardized estimates, "
                                  "which fits do not provide yet; use standardized=False")
    plt = _matplotlib()
    spec = fit.spec
    p = len(spec.var_names)
    if axes is None:
        width = max(8.0, 2 * (1.0 + 0.85 * p))
        fig, axes = plt.subplots(1, 2, figsize=figsize or (width, 5.0))
    else:
        axes = list(axes)
        if len(axes) != 2:
            raise MLVMInputError(f"axes must be a pair of Axes (within, between); got "
                                 f"{len(axes)} axes")
        fig = axes[0].figure
    drawing = _Drawing(fit, digits)
    for ax, level in zip(axes, LEVELS):
        drawing.panel(ax, level)
    fig.tight_layout()
    return fig


class _Drawing:
    """Positions and labels shared by both panels; ``panel`` draws one level."""

    def __init__(self, fit, digits: int):
        self.fit = fit
        self.spec = fit.spec
        self.digits = digits
        table = fit.parameters()
        fixed = table.loc[~table["free"].astype(bool), ["matrix", "row", "col"]]
        self.fixed = {tuple(map(str, row)) for row in fixed.itertuples(index=False)}
        self.observed_only = bool(self.spec.observed_only)
        names = [str(v) for v in self.spec.var_names]
        if self.observed_only:  # a network of observed variables: nodes on a circle
            radius = max(1.6, 0.3 * SPACING * len(names))
            angles = np.pi / 2 - 2 * np.pi * np.arange(len(names)) / len(names)
            self.box_xy = {v: (radius * np.cos(t), ROW_OBSERVED + radius * np.sin(t))
                           for v, t in zip(names, angles)}
        else:
            self.box_xy = {v: (SPACING * k, ROW_OBSERVED) for k, v in enumerate(names)}
        self.circle_xy = {} if self.observed_only else self._latent_positions()

    # ------------------------------------------------------------------ layout
    def _latent_positions(self) -> dict:
        lam = self.fit.matrix("lambda")
        latents = [str(f) for f in lam.columns]
        xs = []
        for k, factor in enumerate(lam.columns):
            rows = [str(v) for v in lam.index[np.abs(lam[factor].to_numpy()) > TOL]]
            default = SPACING * (k + 0.5) * len(self.box_xy) / max(len(latents), 1)
            xs.append(np.mean([self.box_xy[v][0] for v in rows]) if rows else default)
        order = np.argsort(xs, kind="stable")
        placed = np.array(xs, dtype=float)
        for a, b in zip(order[:-1], order[1:]):  # keep circles apart
            placed[b] = max(placed[b], placed[a] + 2.4 * RADIUS)
        return {latents[k]: (placed[k], ROW_LATENT) for k in range(len(latents))}

    def _node(self, name):
        """(centre, kind) of a variable or latent for the current drawing."""
        if name in self.circle_xy:
            return np.array(self.circle_xy[name]), "circle"
        return np.array(self.box_xy[name]), "box"

    def _boundary(self, name, towards):
        centre, kind = self._node(name)
        d = np.asarray(towards, dtype=float) - centre
        d = d / max(np.hypot(*d), 1e-12)
        if kind == "circle":
            return centre + RADIUS * d
        scale = min(BOX_W / 2 / max(abs(d[0]), 1e-12), BOX_H / 2 / max(abs(d[1]), 1e-12))
        return centre + scale * d

    def _is_fixed(self, matrix, row, col) -> bool:
        return (matrix, row, col) in self.fixed or (matrix, col, row) in self.fixed

    def _label(self, value, fixed) -> str:
        if fixed and float(value).is_integer():
            return f"{int(value)}*"
        text = f"{value:.{self.digits}f}"
        return text + "*" if fixed else text

    # ------------------------------------------------------------------ drawing
    def panel(self, ax, level: str):
        from matplotlib.patches import Circle, Rectangle

        spec = self.spec
        latent_block, residual_block = f"zeta_{level}", f"epsilon_{level}"
        latent_sigma = self.fit.matrix(f"sigma_{latent_block}")
        for name, (x, y) in self.box_xy.items():
            ax.add_patch(Rectangle((x - BOX_W / 2, y - BOX_H / 2), BOX_W, BOX_H,
                                   facecolor="#f4f4f4", edgecolor="black", zorder=3,
                                   gid=f"observed:{name}"))
            text = name
            if self.observed_only:
                var = float(latent_sigma.loc[name, name])
                text += "\n" + self._label(var, self._is_fixed(f"sigma_{latent_block}",
                                                               name, name))
            ax.text(x, y, text, ha="center", va="center", fontsize=8, zorder=4)
        for name, (x, y) in self.circle_xy.items():
            ax.add_patch(Circle((x, y), RADIUS, facecolor="white", edgecolor="black",
                                zorder=3, gid=f"latent:{name}"))
            var = float(latent_sigma.loc[name, name])
            fixed = self._is_fixed(f"sigma_{latent_block}", name, name)
            ax.text(x, y, f"{name}\n{self._label(var, fixed)}", ha="center", va="center",
                    fontsize=8, zorder=4)

        if not self.observed_only:
            self._loadings(ax)
            self._residual_variances(ax, level)
        self._regressions(ax, level)
        for block, side in ((latent_block, +1), (residual_block, -1)):
            if self.observed_only and block == residual_block:
                continue
            if spec.types[block] == "ggm":
                self._network(ax, f"omega_{block}", side)
            else:
                self._covariances(ax, f"sigma_{block}", side)

        xs, ys = zip(*(*self.box_xy.values(), *self.circle_xy.values()))
        ax.set_xlim(min(xs) - 1.0, max(xs) + 1.0)
        if self.observed_only:
            ax.set_ylim(min(ys) - 0.8, max(ys) + 0.8)
        else:
            ax.set_ylim(ROW_OBSERVED - 1.9, ROW_LATENT + 1.6)
        ax.set_aspect("equal")
        ax.axis("off")
        kinds = f"latent {spec.types[latent_block]}"
        if not self.observed_only:
            kinds += f", residual {spec.types[residual_block]}"
        ax.set_title(f"{level.capitalize()} clusters ({kinds})", fontsize=10)

    def _arrow(self, ax, start, end, gid, style="-|>", rad=0.0, dashed=False, color="black",
               width=1.0):
        from matplotlib.patches import FancyArrowPatch

        patch = FancyArrowPatch(tuple(start), tuple(end), arrowstyle=style, mutation_scale=11,
                                connectionstyle=f"arc3,rad={rad}", color=color,
                                linewidth=width, linestyle="--" if dashed else "-", zorder=2,
                                gid=gid)
        ax.add_patch(patch)
        return patch

    def _edge_label(self, ax, start, end, rad, text, color="black"):
        """Label the apex of an arc3 curve (the midpoint of its quadratic Bézier)."""
        start, end = np.asarray(start), np.asarray(end)
        d = end - start
        self._tag(ax, (start + end) / 2 + 0.5 * rad * np.array([d[1], -d[0]]), text, color)

    @staticmethod
    def _tag(ax, point, text, color="black"):
        ax.text(*point, text, ha="center", va="center", fontsize=7, color=color, zorder=5,
                bbox=dict(boxstyle="round,pad=0.12", facecolor="white", edgecolor="none"))

    def _loadings(self, ax):
        lam = self.fit.matrix("lambda")
        for factor in lam.columns:
            for var in lam.index:
                value = float(lam.loc[var, factor])
                fixed = self._is_fixed("lambda", str(var), str(factor))
                if abs(value) <= TOL:
                    continue
                var, factor = str(var), str(factor)
                start = self._boundary(factor, self.box_xy[var])
                end = self._boundary(var, self.circle_xy[factor])
                self._arrow(ax, start, end, f"loading:{factor}->{var}", dashed=fixed)
                self._tag(ax, start + 0.35 * (end - start), self._label(value, fixed))

    def _residual_variances(self, ax, level):
        sigma = self.fit.matrix(f"sigma_epsilon_{level}")
        for var, (x, y) in self.box_xy.items():
            value = float(sigma.loc[var, var])
            fixed = self._is_fixed(f"sigma_epsilon_{level}", var, var)
            tail = np.array([x - 0.3, y - BOX_H / 2 - 0.75])
            self._arrow(ax, tail, (x - 0.1, y - BOX_H / 2), f"residual:{var}", dashed=fixed)
            ax.text(*(tail - [0, 0.15]), self._label(value, fixed), ha="center", va="top",
                    fontsize=7, zorder=5)

    def _regressions(self, ax, level):
        name = f"beta_{level}"
        beta = self.fit.matrix(name)
        for target in beta.index:
            for source in beta.columns:
                value = float(beta.loc[target, source])
                if abs(value) <= TOL or source == target:
                    continue
                target_s, source_s = str(target), str(source)
                fixed = self._is_fixed(name, target_s, source_s)
                rad = 0.25
                start, end = self._arc_ends(source_s, target_s, rad)
                self._arrow(ax, start, end, f"regression:{source_s}->{target_s}", rad=rad,
                            dashed=fixed)
                self._edge_label(ax, start, end, rad, self._label(value, fixed))

    def _arc_ends(self, a, b, rad):
        """End points of an arc between two nodes (leaving each node towards the bulge)."""
        pa, _ = self._node(a)
        pb, _ = self._node(b)
        d = pb - pa
        bulge = (pa + pb) / 2 + rad * np.array([d[1], -d[0]])
        return self._boundary(a, bulge), self._boundary(b, bulge)

    def _pairs(self, matrix_name):
        frame = self.fit.matrix(matrix_name)
        names = [str(n) for n in frame.index]
        values = frame.to_numpy(dtype=float)
        for i in range(len(names)):
            for j in range(i):
                if np.isfinite(values[i, j]) and abs(values[i, j]) > TOL:
                    yield names[j], names[i], float(values[i, j])

    def _curve(self, a, b, side):
        """rad of an arc between two nodes on one row, bulging up (side=+1) or down (-1);
        straight (0) between observed variables drawn on a circle."""
        if self.observed_only:
            return 0.0
        pa, _ = self._node(a)
        pb, _ = self._node(b)
        span = abs(pb[0] - pa[0]) / SPACING
        rad = 0.5 / (1.0 + 0.15 * (span - 1))
        going_right = pb[0] >= pa[0]
        return -side * rad if going_right else side * rad

    def _covariances(self, ax, matrix_name, side):
        for a, b, value in self._pairs(matrix_name):
            fixed = self._is_fixed(matrix_name, b, a)
            rad = self._curve(a, b, side)
            start, end = self._arc_ends(a, b, rad)
            self._arrow(ax, start, end, f"covariance:{a}<->{b}", style="<|-|>", rad=rad,
                        dashed=fixed)
            self._edge_label(ax, start, end, rad, self._label(value, fixed))

    def _network(self, ax, matrix_name, side):
        for a, b, value in self._pairs(matrix_name):
            fixed = self._is_fixed(matrix_name, b, a)
            color = POSITIVE if value > 0 else NEGATIVE
            rad = self._curve(a, b, side)
            start, end = self._arc_ends(a, b, rad)
            self._arrow(ax, start, end, f"edge:{a}--{b}", style="-", rad=rad, dashed=fixed,
                        color=color, width=0.5 + 5.0 * min(abs(value), 1.0))
            self._edge_label(ax, start, end, rad, self._label(value, fixed), color=color)
