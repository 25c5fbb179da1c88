"""Command line: ``pm-mlvm fit`` and ``pm-mlvm demo``.

Bad input (:class:`~pm_mlvm.errors.MLVMInputError`, a usage mistake, a file that cannot be
read or written) ends with one line on stderr and exit code 2, never a traceback; anything
else is a bug and surfaces as a traceback. The choice lists (structure types, estimators,
information kinds) are imported from the package, never copied here.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

import numpy as np

from pm_mlvm.api import ESTIMATORS
from pm_mlvm.errors import MLVMInputError
from pm_mlvm.ml.fit import INFORMATION
from pm_mlvm.spec.structures import STRUCTURES

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors."""

    def error(self, message):  # noqa: D401 - argparse API
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


class UsageError(Exception):
    """A user mistake: reported in one line."""


def _factors(values):
    factors = {}
    for text in values or []:
        name, sep, indicators = text.partition("=")
        items = [v.strip() for v in indicators.split(",") if v.strip()]
        if not sep or not name.strip() or not items:
            raise UsageError(f"--factor {text!r} is malformed; use NAME=var1,var2,...")
        if name.strip() in factors:
            raise UsageError(f"--factor {name.strip()!r} is given twice")
        factors[name.strip()] = items
    return factors or None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pm-mlvm", description="Two-level latent variable and network "
                     "models (pm_mlvm).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    fit = sub.add_parser("fit", help="fit a two-level model to a CSV file by maximum likelihood",
                         description="Fit a two-level latent variable model (ml_lvm) to long "
                         "data: one row per unit, a cluster column.")
    fit.add_argument("data", help="CSV file, one row per unit")
    fit.add_argument("--clusters", required=True, help="name of the cluster column")
    fit.add_argument("--factor", action="append", metavar="NAME=y1,y2,...",
                     help="a factor and its indicators (repeat for several); omit for the "
                     "observed-variable model")
    fit.add_argument("--vars", help="comma-separated observed variables (default: every other "
                     "column)")
    for level in ("within", "between"):
        for part in ("latent", "residual"):
            fit.add_argument(f"--{level}-{part}", choices=tuple(STRUCTURES), default=None,
                             help=f"structure of the {level}-level {part} covariance "
                             "(default cov; ggm for networks)")
    fit.add_argument("--groups", metavar="COLUMN", help="group column: one two-level model per "
                     "group (psychonetrics' groups=)")
    fit.add_argument("--equal", metavar="MATRIX,...", help="with --groups: matrices equal "
                     "across groups, e.g. lambda,nu")
    fit.add_argument("--estimator", choices=ESTIMATORS, default="default")
    fit.add_argument("--information", choices=INFORMATION, default="expected",
                     help="standard errors from the expected (default) or observed information")
    fit.add_argument("--prune", type=float, metavar="ALPHA",
                     help="prune non-significant network edges at this level")
    fit.add_argument("--json", metavar="OUT.json", help="also write results as JSON")
    fit.add_argument("--plot", metavar="OUT.png", help="also draw the fitted model as a path "
                     "diagram (within and between panels) into this image file")
    demo = sub.add_parser("demo", help="fit the psychonetrics seed example (shipped data)",
                          description="Fit the two-factor seed example (60 clusters x 10) "
                          "from the data set shipped with pm_mlvm; no network needed.")
    demo.add_argument("--json", metavar="OUT.json", help="also write results as JSON")
    demo.add_argument("--plot", metavar="OUT.png", help="also draw the fitted model as a path "
                      "diagram into this image file")
    return parser


def _read_csv(path):
    import pandas as pd

    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise UsageError(f"data file {path!r} not found") from None
    except IsADirectoryError:
        raise UsageError(f"data file {path!r} is a directory; give a CSV file") from None
    except OSError as err:  # permission denied, …
        raise UsageError(f"cannot read data file {path!r}: {err.strerror or err}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise UsageError(f"could not read {path!r} as CSV: {err}") from None


def _results(fit) -> dict:
    def clean(x):
        if isinstance(x, (float, np.floating)):
            return None if not np.isfinite(x) else float(x)
        if isinstance(x, (np.integer,)):
            return int(x)
        if isinstance(x, (np.bool_,)):
            return bool(x)
        return x

    def table(frame):
        return {"rows": [str(i) for i in frame.index], "cols": [str(c) for c in frame.columns],
                "values": [[clean(v) for v in row] for row in frame.to_numpy()]}

    params = [{k: clean(v) for k, v in row.items()} for row in
              fit.parameters().to_dict(orient="records")]
    matrices = {}
    for name in fit.matrix_names:
        value = fit.matrix(name)  # a dict over groups for a multi-group fit
        matrices[name] = ({str(g): table(f) for g, f in value.items()}
                          if isinstance(value, dict) else table(value))
    return {"fit_measures": {k: clean(v) for k, v in fit.fit_measures().items()},
            "parameters": params, "matrices": matrices,
            "estimator": fit.estimator, "converged": bool(fit.converged)}


def _plot(fit, path, out):
    import matplotlib

    matplotlib.use("Agg")  # a command line draws into files, never onto a screen
    import matplotlib.pyplot as plt

    from pm_mlvm.report.path import plot_path

    fig = plot_path(fit)
    try:
        fig.savefig(path, dpi=150, bbox_inches="tight")
    except OSError as err:
        raise UsageError(f"cannot write --plot {path!r}: {err.strerror}") from None
    except ValueError as err:  # unknown image format
        raise UsageError(f"cannot write --plot {path!r}: {err}") from None
    finally:
        plt.close(fig)
    out.write(f"path diagram written to {path}\n")


def _report(fit, json_path, out):
    out.write(fit.summary() + "\n")
    for name in ("sigma_zeta_within", "sigma_zeta_between"):
        value = fit.matrix(name)
        for label, frame in (value.items() if isinstance(value, dict) else [(None, value)]):
            title = name if label is None else f"{name} (group {label})"
            out.write(f"\n{title}\n{frame.round(3).to_string()}\n")
    if json_path:
        try:
            with open(json_path, "w") as handle:
                json.dump(_results(fit), handle, indent=1)
        except OSError as err:
            raise UsageError(f"cannot write --json {json_path!r}: {err.strerror}") from None
        out.write(f"\nresults written to {json_path}\n")


def _run(args, out):
    import pm_mlvm as pmv

    if args.command == "demo":
        data = pmv.load_seed_example()
        fit = pmv.ml_lvm(data, lambda_=pmv.stats.simulate.SEED_LAMBDA, clusters="cluster").fit()
        _report(fit, args.json, out)
        if args.plot:
            _plot(fit, args.plot, out)
        return 0
    data = _read_csv(args.data)
    kwargs = {}
    for level in ("within", "between"):
        for part in ("latent", "residual"):
            value = getattr(args, f"{level}_{part}")
            if value is not None:
                kwargs[f"{level}_{part}"] = value
    variables = [v.strip() for v in args.vars.split(",")] if args.vars else None
    if args.equal and not args.groups:
        raise UsageError("--equal needs --groups")
    if args.groups:
        if args.plot:
            raise UsageError("--plot draws one group's model; it is not available with "
                             "--groups")
        kwargs["groups"] = args.groups
        if args.equal:
            kwargs["equal"] = [m.strip() for m in args.equal.split(",") if m.strip()]
    model = pmv.ml_lvm(data, lambda_=_factors(args.factor), clusters=args.clusters,
                       vars=variables, estimator=args.estimator, **kwargs)
    fit = model.fit(information=args.information)
    if args.prune is not None:
        fit = fit.prune(alpha=args.prune)
    _report(fit, args.json, out)
    if args.plot:
        _plot(fit, args.plot, out)
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            status = _run(args, sys.stdout)
        except BrokenPipeError:  # output piped into e.g. `head`
            return 0
        except (UsageError, MLVMInputError) as err:
            message = str(err).splitlines()[0] if str(err) else type(err).__name__
            sys.stderr.write(f"pm-mlvm: error: {message}\n")
            status = EXIT_USAGE
    for item in caught:
        text = str(item.message).splitlines()[0]
        if issubclass(item.category, UserWarning) and "BLAS" not in text:
            sys.stderr.write(f"pm-mlvm: warning: {text}\n")
    return status


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
