"""README.md is executable documentation: its Python blocks run, in order, in one namespace.

Convention (stated in the README): a ```python block immediately followed by a ```text block
must print exactly that text. ``pymc.sample`` is patched to short single-chain runs (the
README's printed numbers never depend on sampling); most of this test's time is PyMC's
compilation of the sampled models. The quickstart's printed numbers are also checked against the
seed document and lavaan (``tests/reference/seed``), so the README cannot drift from either.
"""

import contextlib
import io
import json
import re
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
REFERENCE = json.loads((ROOT / "tests" / "reference" / "seed" / "seed_60x10.json").read_text())
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def _blocks():
    """[(python source, expected stdout or None)] in README order."""
    fenced = [(m.group(1), m.group(2), m.end(), m.start()) for m in FENCE.finditer(README)]
    out = []
    for k, (lang, body, end, _) in enumerate(fenced):
        if lang != "python":
            continue
        expected = None
        if k + 1 < len(fenced):
            next_lang, next_body, _, next_start = fenced[k + 1]
            if next_lang == "text" and not README[end:next_start].strip():
                expected = next_body
        out.append((body, expected))
    return out


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Run every block; return (namespace, [(printed, expected)])."""
    import matplotlib.pyplot as plt
    import pymc

    original = pymc.sample

    def short(*args, **kwargs):
        kwargs.update(draws=30, tune=30, chains=1, cores=1, progressbar=False,
                      compute_convergence_checks=False, max_treedepth=5)
        return original(*args, **kwargs)

    patch = pytest.MonkeyPatch()
    patch.setattr(pymc, "sample", short)
    workdir = tmp_path_factory.mktemp("readme")
    patch.chdir(workdir)
    namespace, printed = {"__name__": "readme"}, []
    try:
        for source, expected in _blocks():
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                exec(compile(source, "README.md", "exec"), namespace)
            printed.append((buffer.getvalue(), expected))
            plt.close("all")
    finally:
        patch.undo()
    namespace["__workdir__"] = workdir
    return namespace, printed


def test_the_readme_has_python_blocks_and_the_quickstart_shows_its_output():
    blocks = _blocks()
    assert len(blocks) >= 4
    assert blocks[0][1] is not None and "chi2(20) = 15.92" in blocks[0][1]


def test_every_block_prints_exactly_the_text_block_that_follows_it(executed):
    _, printed = executed
    checked = [(got, want) for got, want in printed if want is not None]
    assert checked
    for got, want in checked:
        assert got == want


def test_the_quickstart_prints_what_the_seed_document_reports(executed):
    namespace, printed = executed
    doc = REFERENCE["document"]
    first = printed[0][0].splitlines()[0]
    assert first.startswith(f"chi2({doc['df']}) = {doc['chisq']:.2f}, p = {doc['pvalue']:.2f}")
    fm = namespace["fit"].fit_measures()
    assert round(fm["chisq"], 2) == doc["chisq"] and round(fm["pvalue"], 2) == doc["pvalue"]


def test_the_comparison_table_quotes_lavaan_and_pm_mlvm_correctly(executed):
    namespace, _ = executed
    lav = REFERENCE["lavaan"]
    fit = namespace["fit"]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in README.splitlines() if line.startswith("| lavaan") or
            line.startswith("| pm_mlvm")}
    lavaan_row = next(v for k, v in rows.items() if k.startswith("lavaan"))

    def cells(chisq, df, p, cfi, tli, between, within):
        def cov(m):
            return f"{m[0][0]:.2f}, {m[1][1]:.2f}; {m[1][0]:.2f}".replace("-", "\u2212")
        return [f"{chisq:.2f}", f"{df:.0f}", f"{p:.2f}", f"{cfi:.3f}", f"{tli:.3f}",
                cov(between), cov(within)]

    assert lavaan_row == cells(lav["chisq"], lav["df"], lav["pvalue"], lav["cfi"], lav["tli"],
                               lav["sigma_zeta_between"]["matrix"],
                               lav["sigma_zeta_within"]["matrix"])
    fm = fit.fit_measures()
    assert rows["pm_mlvm"] == cells(fm["chisq"], fm["df"], fm["pvalue"], fm["cfi"], fm["tli"],
                                    fit.matrix("sigma_zeta_between").to_numpy(),
                                    fit.matrix("sigma_zeta_within").to_numpy())


def test_the_readme_wrote_the_path_diagram(executed):
    namespace, _ = executed
    png = namespace["__workdir__"] / "seed_path.png"
    assert png.read_bytes()[:4] == b"\x89PNG" and len(namespace["fig"].axes) == 2
