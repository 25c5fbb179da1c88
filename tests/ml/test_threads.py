"""Fitting, searching and fit measures from several threads at once: no cross-talk.

The ML path keeps no compiled or shared mutable state (the only cache, of reference models,
is keyed by the statistics' exact digest and lock-protected), so concurrent work must give
results identical, bit for bit, to the same work done sequentially.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

import pm_mlvm as pmv

TWO = {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]}


def _data(seed):
    lam = np.zeros((6, 2))
    lam[:3, 0] = lam[3:, 1] = [1.0, 0.8, 0.6]
    sw = lam @ lam.T + 0.5 * np.eye(6)
    sb = lam @ (0.5 * np.eye(2)) @ lam.T + 0.3 * np.eye(6)
    return pmv.simulate_twolevel(40, (4, 9), np.zeros(6), sw, sb, rng=seed)


def _summary(fit):
    fm = fit.fit_measures()
    return fit.theta.tobytes(), fit.vcov.tobytes(), fit.logl, fm["chisq"], fm["cfi"]


def test_eight_concurrent_fits_of_two_same_structure_models_equal_sequential_fits():
    models = [pmv.ml_lvm(_data(seed), TWO, clusters="cluster") for seed in (1, 2)]
    jobs = [models[k % 2] for k in range(8)]
    sequential = [_summary(m.fit()) for m in jobs]
    with ThreadPoolExecutor(max_workers=2) as pool:
        concurrent = list(pool.map(lambda m: _summary(m.fit()), jobs))
    assert concurrent == sequential


def test_two_concurrent_prune_searches_equal_sequential_searches():
    models = [pmv.ml_lnm(_data(seed), TWO, clusters="cluster") for seed in (3, 4)]
    fits = [m.fit() for m in models]

    def search(fit):
        pruned = fit.prune(alpha=0.5)
        return pruned.theta.tobytes(), pruned.logl, pruned.history

    sequential = [search(f) for f in fits]
    with ThreadPoolExecutor(max_workers=2) as pool:
        concurrent = list(pool.map(search, fits))
    assert concurrent == sequential
