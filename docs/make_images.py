"""Regenerate the pictures the README shows: ``python docs/make_images.py``."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pm_mlvm as pmv  # noqa: E402

HERE = Path(__file__).resolve().parent


def main():
    data = pmv.load_seed_example()
    fit = pmv.ml_lvm(data, lambda_={"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]},
                     clusters="cluster").fit()
    fig = pmv.plot_path(fit)
    fig.savefig(HERE / "images" / "seed_path.png", dpi=110)


if __name__ == "__main__":
    main()
