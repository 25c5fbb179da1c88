"""The pm-mlvm command line."""

import json
import os
import shutil
import subprocess
import sys

import pytest

import pm_mlvm as pmv
from pm_mlvm.cli import build_parser, main


@pytest.fixture(scope="module")
def seed_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "seed.csv"
    pmv.load_seed_example().to_csv(path, index=False)
    return path


def test_fit_prints_fit_measures_and_latent_covariances_and_json_round_trips(
        seed_csv, tmp_path, capsys):
    out_json = tmp_path / "out.json"
    status = main(["fit", str(seed_csv), "--clusters", "cluster", "--factor", "F1=y1,y2,y3",
                   "--factor", "F2=y4,y5,y6", "--json", str(out_json)])
    assert status == 0
    text = capsys.readouterr().out
    for token in ("chi-square", "df 20", "CFI", "TLI", "RMSEA", "sigma_zeta_between",
                  "sigma_zeta_within"):
        assert token in text
    result = json.loads(out_json.read_text())
    assert set(result) >= {"fit_measures", "parameters", "matrices"}
    direct = pmv.ml_lvm(pmv.load_seed_example(), {"F1": ["y1", "y2", "y3"],
                                                  "F2": ["y4", "y5", "y6"]},
                        clusters="cluster").fit()
    assert result["fit_measures"]["chisq"] == pytest.approx(direct.fit_measures()["chisq"],
                                                            rel=1e-9)
    assert result["matrices"]["sigma_zeta_between"]["rows"] == ["F1", "F2"]
    assert len(result["parameters"]) == len(direct.parameters())


def test_network_options_and_prune(seed_csv, capsys):
    status = main(["fit", str(seed_csv), "--clusters", "cluster", "--factor", "F1=y1,y2,y3",
                   "--factor", "F2=y4,y5,y6", "--within-latent", "ggm", "--between-latent",
                   "ggm", "--prune", "0.05", "--estimator", "ML"])
    assert status == 0
    text = capsys.readouterr().out
    assert "delta_zeta_within" in text and "prune (alpha=0.05" in text


def test_demo_runs_on_the_shipped_data(capsys):
    assert main(["demo"]) == 0
    assert "Fit measures" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["fit", "missing.csv", "--clusters", "c"], "data file 'missing.csv' not found"),
    (["fit", "{csv}", "--clusters", "school"], "clusters='school' is not a column"),
    (["fit", "{csv}", "--clusters", "cluster", "--factor", "F1"], "--factor 'F1' is malformed"),
    (["fit", "{csv}", "--clusters", "cluster", "--factor", "F1=y1,y9"], "['y9'] are not among"),
    (["fit", "{csv}", "--clusters", "cluster", "--within-latent", "dense"], "invalid choice"),
    (["fit", "{csv}"], "the following arguments are required: --clusters"),
    (["frobnicate"], "invalid choice"),
    (["fit", "{dir}", "--clusters", "cluster"], "is a directory; give a CSV file"),
    (["fit", "{csv}", "--clusters", "cluster", "--estimator", "MLR"], "invalid choice"),
    (["fit", "{csv}", "--clusters", "cluster", "--factor", "F1=y1,y2,y3",
      "--information", "sandwich"], "invalid choice: 'sandwich'"),
    (["fit", "{csv}", "--clusters", "y1"], "every cluster has exactly one unit"),
])
def test_bad_input_is_one_line_on_stderr_with_exit_code_2(seed_csv, capsys, argv, message):
    argv = [a.replace("{csv}", str(seed_csv)).replace("{dir}", str(seed_csv.parent))
            for a in argv]
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse errors
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_the_installed_command_has_help_everywhere():
    exe = shutil.which("pm-mlvm") or None
    base = [exe] if exe else [sys.executable, "-m", "pm_mlvm.cli"]
    for args in ([], ["fit"], ["demo"]):
        out = subprocess.run(base + args + ["--help"], capture_output=True, text=True,
                             check=False)
        assert out.returncode == 0 and "usage: pm-mlvm" in out.stdout


def test_an_unreadable_file_is_one_line_with_exit_code_2(seed_csv, tmp_path, capsys):
    locked = tmp_path / "locked.csv"
    locked.write_text(seed_csv.read_text())
    locked.chmod(0)
    try:
        readable = os.access(locked, os.R_OK)  # root reads anything
        status = main(["fit", str(locked), "--clusters", "cluster"])
    finally:
        locked.chmod(0o600)
    err = capsys.readouterr().err
    if not readable:
        assert status == 2 and "cannot read data file" in err
        assert len(err.strip().splitlines()) == 1


def test_an_internal_error_is_a_traceback_not_a_usage_error(seed_csv, monkeypatch):
    import pm_mlvm.cli as cli

    def broken(fit, json_path, out):
        raise TypeError("an internal bug")

    monkeypatch.setattr(cli, "_report", broken)
    with pytest.raises(TypeError, match="an internal bug"):
        main(["fit", str(seed_csv), "--clusters", "cluster", "--factor", "F1=y1,y2,y3",
              "--factor", "F2=y4,y5,y6"])


def test_the_choice_lists_come_from_the_package():
    import argparse

    from pm_mlvm.api import ESTIMATORS
    from pm_mlvm.ml.fit import INFORMATION
    from pm_mlvm.spec.structures import STRUCTURES

    fit_parser = next(a for a in build_parser()._actions
                      if isinstance(a, argparse._SubParsersAction)).choices["fit"]
    choices = {a.dest: a.choices for a in fit_parser._actions}
    for level in ("within", "between"):
        for part in ("latent", "residual"):
            assert tuple(choices[f"{level}_{part}"]) == tuple(STRUCTURES)
    assert tuple(choices["estimator"]) == tuple(ESTIMATORS)
    assert tuple(choices["information"]) == tuple(INFORMATION)


def test_fit_and_demo_draw_the_path_diagram_with_plot(seed_csv, tmp_path, capsys):
    fit_png, demo_png = tmp_path / "fit.png", tmp_path / "demo.png"
    assert main(["fit", str(seed_csv), "--clusters", "cluster", "--factor", "F1=y1,y2,y3",
                 "--factor", "F2=y4,y5,y6", "--plot", str(fit_png)]) == 0
    assert main(["demo", "--plot", str(demo_png)]) == 0
    assert f"path diagram written to {demo_png}" in capsys.readouterr().out
    for png in (fit_png, demo_png):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_demo_fits_the_seed_documents_data(capsys):
    assert main(["demo"]) == 0
    assert "15.92" in capsys.readouterr().out      # chi-square(20), as the document prints


def test_an_unwritable_plot_path_is_one_line_on_stderr(tmp_path, capsys):
    status = main(["demo", "--plot", str(tmp_path / "no" / "such" / "dir.png")])
    err = capsys.readouterr().err
    assert status == 2 and "cannot write --plot" in err and len(err.strip().splitlines()) == 1


def test_fit_with_groups_and_equal_reports_every_group(seed_csv, tmp_path, capsys):
    data = pmv.load_seed_example()
    data["half"] = (data["cluster"] % 2).map({0: "even", 1: "odd"})
    path = tmp_path / "groups.csv"
    data.to_csv(path, index=False)
    out_json = tmp_path / "groups.json"
    status = main(["fit", str(path), "--clusters", "cluster", "--groups", "half", "--equal",
                   "lambda", "--factor", "F1=y1,y2,y3", "--factor", "F2=y4,y5,y6",
                   "--json", str(out_json)])
    assert status == 0
    text = capsys.readouterr().out
    assert "2 groups" in text and "equal across groups: lambda" in text
    assert "sigma_zeta_between (group odd)" in text and "chi-square" in text
    result = json.loads(out_json.read_text())
    direct = pmv.ml_lvm(data, {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]},
                        clusters="cluster", groups="half", equal="lambda").fit()
    assert result["fit_measures"]["chisq"] == pytest.approx(direct.fit_measures()["chisq"],
                                                            rel=1e-9)
    assert set(result["matrices"]["lambda"]) == {"even", "odd"}
    assert {row["group"] for row in result["parameters"]} == {"even", "odd"}


def test_equal_without_groups_is_a_usage_error(seed_csv, capsys):
    assert main(["fit", str(seed_csv), "--clusters", "cluster", "--equal", "lambda"]) == 2
    assert "--equal needs --groups" in capsys.readouterr().err
