"""Posterior factor scores: the ML factor-score map applied to posterior draws.

For each of up to ``max_draws`` posterior draws of the free parameters θ, the matrices at θ
(:meth:`MLVMSpec.derived_matrices`) give the empirical-Bayes factor scores of the fitted
normal model (:func:`pm_mlvm.ml.scores.scores_frame`, lavaan's ``lavPredict`` scheme): the
conditional means E[η | data, θ]. Their average over draws is the posterior mean of that
conditional mean (= E[η | data] integrated over the posterior), their spread the posterior
uncertainty of the parameters carried into the scores (not the conditional variance of η
given θ, which the ``conditional`` part of the result does not include).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pm_mlvm.errors import MLVMInputError
from pm_mlvm.ml.scores import scores_frame

__all__ = ["PosteriorScores", "posterior_factor_scores", "theta_draws"]


@dataclass(frozen=True)
class PosteriorScores:
    """Posterior factor scores: ``mean`` and ``sd`` (DataFrames labelled as the ML scores)
    and ``draws`` (draws × rows × latents)."""

    mean: pd.DataFrame
    sd: pd.DataFrame
    draws: np.ndarray


def theta_draws(spec, idata) -> np.ndarray:
    """(samples, npar): θ of every posterior draw, in the spec's order."""
    post = idata.posterior
    parts = []
    for name, mat in spec.matrices.items():
        if not mat.n_free:
            continue
        if name not in post:
            raise MLVMInputError(f"idata: the posterior has no {name!r}; pass the InferenceData "
                                 "that model.sample() returned for this model")
        var = post[name].stack(sample=("chain", "draw")).transpose("sample", ...)
        values = var.to_numpy().reshape(var.sizes["sample"], -1)
        if values.shape[1] != mat.n_free:
            raise MLVMInputError(f"idata: {name!r} has {values.shape[1]} cells, the model "
                                 f"{mat.n_free}; the posterior is of another model")
        parts.append(values)
    return np.concatenate(parts, axis=1)


def posterior_factor_scores(mlvm, idata, level="within", data=None, clusters=None,
                            max_draws: int = 200, random_seed=0) -> PosteriorScores:
    """Posterior factor scores of one level (see the module docstring).

    Parameters
    ----------
    mlvm : MLVM
        The model that was sampled.
    idata : arviz.InferenceData
        From ``mlvm.sample()``.
    level : {"within", "between"}
    data, clusters : optional
        The frame and its cluster column (default: the frame the model was built from).
    max_draws : int
        Draws used (a random subset when there are more).
    """
    frame = data if data is not None else getattr(mlvm, "data", None)
    column = clusters if clusters is not None else getattr(mlvm, "clusters", None)
    if frame is None:
        raise MLVMInputError("data=None, but the model was built from statistics: pass data= "
                             "(one row per unit) and clusters= to score")
    if not isinstance(max_draws, (int, np.integer)) or max_draws < 1:
        raise MLVMInputError(f"max_draws={max_draws!r} must be a positive integer")
    thetas = theta_draws(mlvm.spec, idata)
    rng = np.random.default_rng(random_seed)
    if len(thetas) > max_draws:
        thetas = thetas[np.sort(rng.choice(len(thetas), max_draws, replace=False))]
    frames = [scores_frame(mlvm.spec, mlvm.spec.derived_matrices(theta), frame, column, level)
              for theta in thetas]
    draws = np.stack([f.to_numpy() for f in frames])
    template = frames[0]
    mean = pd.DataFrame(draws.mean(axis=0), index=template.index, columns=template.columns)
    sd = pd.DataFrame(draws.std(axis=0, ddof=1) if len(draws) > 1 else np.zeros_like(mean),
                      index=template.index, columns=template.columns)
    return PosteriorScores(mean=mean, sd=sd, draws=draws)
