"""The cluster (case-resampling) bootstrap of a two-level fit: estimates and fit measures.

Each replicate draws J clusters with replacement from the J clusters of the data (a drawn
cluster keeps all its units; a cluster drawn twice enters twice, under a new label), builds the
replicate's statistics and refits the *same* specification from the original estimates.
Resampling clusters, not rows, keeps the within-cluster dependence, the only valid scheme for
two-level data (Davison & Hinkley 1997, §3.8; Field & Welsh 2007).

* Complete data (:class:`~pm_mlvm.stats.twolevel.SizeStats`): the replicate's statistics come
  from the kept per-cluster means and within scatters, without touching the rows.
* Rows (missing cells, or the FIML route): the drawn clusters' rows are stacked and
  summarised again (:meth:`TwoLevelStats.from_arrays`, route ``"rows"``).

Reproducibility: replicate r uses ``numpy.random.default_rng(SeedSequence(seed).spawn(n)[r])``,
so the draws — and the results — do not depend on ``n_jobs`` or on the order in which worker
processes finish. Replicates run in a ``concurrent.futures.ProcessPoolExecutor`` when
``n_jobs > 1`` (the statistics are sent once per worker). A replicate whose fit fails or does
not converge is kept as a row of NaN with ``converged = False`` and left out of the intervals.

Percentile intervals: the (α/2, 1 − α/2) quantiles of the converged replicates
(:meth:`BootstrapDraws.interval`), shown by ``result.parameters(ci="bootstrap")``.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pm_mlvm.errors import MLVMInputError
from pm_mlvm.spec.mlvm import MLVMSpec
from pm_mlvm.stats.reduce import sizes_from_cluster_moments
from pm_mlvm.stats.twolevel import RowStats, SizeStats, TwoLevelStats

__all__ = ["BootstrapDraws", "resample_clusters", "replicate_stats", "run_bootstrap"]


@dataclass(frozen=True, eq=False)
class BootstrapDraws:
    """Bootstrap replicates of a fit (immutable).

    Attributes
    ----------
    estimates : (n, npar) array
        θ of each replicate (NaN rows for failed replicates).
    converged : (n,) bool array
    fit_measures : pandas.DataFrame or None
        One row per replicate (NaN for failed ones), when asked for.
    seed : the seed given; n_jobs : the number of processes used
    """

    estimates: np.ndarray
    converged: np.ndarray
    fit_measures: pd.DataFrame | None = field(repr=False)
    seed: object = None
    n_jobs: int = 1

    def __post_init__(self):
        for arr in (self.estimates, self.converged):
            arr.setflags(write=False)

    @property
    def n(self) -> int:
        return self.estimates.shape[0]

    @property
    def n_converged(self) -> int:
        return int(self.converged.sum())

    @property
    def se(self) -> np.ndarray:
        """Bootstrap standard deviation of each estimate (converged replicates)."""
        return np.std(self.estimates[self.converged], axis=0, ddof=1)

    def interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Percentile interval of each estimate: the (1 − level)/2 and (1 + level)/2
        quantiles of the converged replicates."""
        if not (isinstance(level, float | int) and 0 < level < 1):
            raise MLVMInputError(f"level={level!r} must be a number between 0 and 1 "
                                 "(e.g. 0.95)")
        if self.n_converged < 2:
            nan = np.full(self.estimates.shape[1], np.nan)
            return nan, nan.copy()
        draws = self.estimates[self.converged]
        lower, upper = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
        return lower, upper

    def fit_measure_intervals(self, level: float = 0.95) -> pd.DataFrame:
        """Percentile intervals of the fit measures (columns ``lower``, ``upper``)."""
        if self.fit_measures is None:
            raise MLVMInputError("these draws have no fit measures; rerun the bootstrap with "
                                 "fit_measures=True")
        self.interval(level)  # validates level
        ok = self.fit_measures[self.converged]
        return pd.DataFrame({"lower": ok.quantile((1 - level) / 2),
                             "upper": ok.quantile((1 + level) / 2)})


# ------------------------------------------------------------------ resampling

def resample_clusters(n_clusters: int, rng: np.random.Generator) -> np.ndarray:
    """J cluster indices drawn uniformly with replacement."""
    return rng.integers(0, n_clusters, size=n_clusters)


def replicate_stats(stats: TwoLevelStats, idx: np.ndarray) -> TwoLevelStats:
    """The statistics of the clusters ``idx`` (repeats allowed), relabelled 0..len(idx)−1,
    of the same variant (route) as ``stats``."""
    idx = np.asarray(idx, dtype=np.int64)
    if isinstance(stats, SizeStats):
        return SizeStats(var_names=stats.var_names, cluster_labels=pd.RangeIndex(len(idx)),
                         **sizes_from_cluster_moments(stats.cluster_means[idx],
                                                      stats.cluster_scatter[idx],
                                                      stats.cluster_size[idx]))
    if isinstance(stats, RowStats):
        starts, sizes = stats.cluster_start[idx], stats.cluster_size[idx]
        rows = np.concatenate([np.arange(s, s + n) for s, n in zip(starts, sizes)])
        y = np.where(stats.observed[rows], stats.y[rows], np.nan)
        ids = np.repeat(np.arange(len(idx)), sizes)
        return TwoLevelStats.from_arrays(y, ids, var_names=list(stats.var_names),
                                         route="rows")
    raise MLVMInputError(f"stats of type {type(stats).__name__} cannot be resampled; "
                         "expected SizeStats or RowStats")


# ------------------------------------------------------------------ replicates

_WORKER: dict = {}


def _init_worker(payload: dict) -> None:
    """Keep the job (model, statistics, options) in a worker process, sent once."""
    _WORKER.clear()
    _WORKER.update(payload)


def _worker_replicate(task):
    return _replicate(task, _WORKER)


def _replicate(task, job: dict) -> tuple[int, np.ndarray, bool, dict | None]:
    r, seed_seq = task
    spec, stats, theta = job["spec"], job["stats"], job["theta"]
    rng = np.random.default_rng(seed_seq)
    idx = resample_clusters(stats.n_clusters, rng)
    nan = np.full(spec.npar, np.nan)
    try:
        boot_stats = replicate_stats(stats, idx)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitter = job["make_fitter"](boot_stats)
            res = fitter.fit(spec, start=theta, warn=False, se="standard")
            measures = (fitter.fit_measures(res).to_dict()
                        if job["fit_measures"] and res.converged else None)
    except (MLVMInputError, np.linalg.LinAlgError, ValueError, FloatingPointError):
        return r, nan, False, None
    if not res.converged:
        return r, nan, False, None
    return r, np.array(res.theta), True, measures


def run_bootstrap(spec: MLVMSpec, stats: TwoLevelStats, theta, make_fitter, n: int = 1000,
                  seed=None, n_jobs: int = 1, fit_measures: bool = True,
                  progress: bool = False) -> BootstrapDraws:
    """Run ``n`` cluster-bootstrap replicates (see the module docstring).

    Parameters
    ----------
    spec, stats, theta
        The model, the original statistics and the original estimates (start values).
    make_fitter : callable
        ``stats -> Fitter`` with the original fitting options (picklable: a class or a
        ``functools.partial``).
    n : int
        Number of replicates.
    seed : int or numpy.random.SeedSequence, optional
        Root seed; ``None`` draws fresh entropy (not reproducible).
    n_jobs : int
        Worker processes (1 = in this process; −1 = one per CPU).
    fit_measures : bool
        Also compute each replicate's fit measures (fits the saturated and baseline models
        of every replicate, about three times the work).
    progress : bool
        Print a counter ``bootstrap k/n`` to stderr.
    """
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 2:
        raise MLVMInputError(f"n={n!r} must be an integer of at least 2 (the number of "
                             "bootstrap replicates)")
    if not isinstance(n_jobs, int | np.integer) or isinstance(n_jobs, bool) or \
            (n_jobs < 1 and n_jobs != -1):
        raise MLVMInputError(f"n_jobs={n_jobs!r} must be a positive integer or -1 (one "
                             "process per CPU)")
    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    n_jobs = int(min(n_jobs, n))
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    tasks = list(enumerate(root.spawn(int(n))))
    payload = dict(spec=spec, stats=stats, theta=np.array(theta, dtype=float),
                   make_fitter=make_fitter, fit_measures=bool(fit_measures))
    results = [None] * len(tasks)

    def report(done):
        if progress:
            print(f"\rbootstrap {done}/{len(tasks)}", end="" if done < len(tasks) else "\n",
                  file=sys.stderr, flush=True)

    if n_jobs == 1:
        for done, task in enumerate(tasks, start=1):
            results[task[0]] = _replicate(task, payload)
            report(done)
    else:
        from concurrent.futures import ProcessPoolExecutor  # lazy: multiprocessing costs ~5 ms

        with ProcessPoolExecutor(max_workers=n_jobs, initializer=_init_worker,
                                 initargs=(payload,)) as pool:
            chunk = max(1, len(tasks) // (8 * n_jobs))
            outs = pool.map(_worker_replicate, tasks, chunksize=chunk)
            for done, out in enumerate(outs, start=1):
                results[out[0]] = out
                report(done)
    estimates = np.vstack([res[1] for res in results])
    converged = np.array([res[2] for res in results], dtype=bool)
    measures = None
    if fit_measures:
        rows = [res[3] or {} for res in results]
        measures = pd.DataFrame(rows, index=pd.RangeIndex(len(rows), name="replicate"))
    return BootstrapDraws(estimates=estimates, converged=converged, fit_measures=measures,
                          seed=seed, n_jobs=n_jobs)
