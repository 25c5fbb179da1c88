"""The tutorial notebooks execute top to bottom, and the documentation -- including the
notebook pages, the examples gallery and one API page per public object -- builds without
warnings (both in CI, as part of the default test run)."""

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_the_six_tutorial_notebooks_exist_and_are_the_generated_ones():
    sys.path.insert(0, str(ROOT / "notebooks"))
    try:
        from build_notebooks import NOTEBOOKS as GENERATED
    finally:
        sys.path.pop(0)
    assert [p.name for p in NOTEBOOKS] == ["01_quickstart.ipynb", "02_network_models.ipynb",
                                           "03_bayesian_workflow.ipynb",
                                           "04_missing_data.ipynb",
                                           "05_from_psychonetrics.ipynb",
                                           "06_groups_invariance.ipynb"]
    for path in NOTEBOOKS:  # the committed cells are the generator's cells
        cells = nbformat.read(path, as_version=4).cells
        assert [c.source for c in cells] == [src for _, src in GENERATED[path.name]]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path, monkeypatch):
    monkeypatch.setenv("PM_MLVM_FAST", "1")  # short chains in the Bayesian notebook
    nb = nbformat.read(path, as_version=4)
    assert any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), \
        "the committed notebook should carry its outputs (run notebooks/build_notebooks.py)"
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [out for cell in nb.cells if cell.cell_type == "code"
              for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert not errors


def test_documentation_builds_with_warnings_as_errors(tmp_path):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    out = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
                          "-q", str(ROOT / "docs"), str(tmp_path / "html")],
                         capture_output=True, text=True, env=env, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    html = tmp_path / "html"
    assert (html / "index.html").exists()
    gallery = (html / "examples" / "index.html").read_text()
    for path in NOTEBOOKS:  # a rendered page with its outputs, and a picture in the gallery
        page = (html / "examples" / f"{path.stem}.html").read_text()
        assert "cell_output" in page and "<img" in page
        assert f"_images/{path.stem}.png" in gallery and f"{path.stem}.html" in gallery
    assert "15.92" in (html / "examples" / "05_from_psychonetrics.html").read_text()
    for name in ("ml_lvm", "ml_lnm", "plot_path", "compare", "load_seed_example",
                 "TwoLevelStats", "MLVMInputError"):
        assert (html / "api" / "generated" / f"pm_mlvm.{name}.html").exists(), name
    api = (html / "api" / "generated" / "pm_mlvm.ml_lvm.html").read_text()
    for block in ("within_latent", "between_latent", "within_residual", "between_residual"):
        # each structure argument has its own entry in the parameter list
        assert api.count(f"<strong>{block}</strong>") == 1, block
