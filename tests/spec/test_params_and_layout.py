"""One parameter identity (ParamId) through the spec, the edit log, and the matrix facts the
spec answers from its tables (labels, dims, network and search roles, derived matrices)."""

import re
from pathlib import Path

import numpy as np
import pytest

from pm_mlvm.errors import MLVMInputError
from pm_mlvm.spec.layout import BLOCKS, matrix_name
from pm_mlvm.spec.mlvm import build_spec
from pm_mlvm.spec.params import ParamId, SearchStep, SpecEdit

VARS = ("y1", "y2", "y3", "y4", "y5", "y6")
THREE = {"F1": ["y1", "y2"], "F2": ["y3", "y4"], "F3": ["y5", "y6"]}
MIXED = dict(within_latent="ggm", between_latent="prec", within_residual="chol",
             between_residual="cor", beta_between=np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]]))


@pytest.fixture(scope="module")
def spec():
    return build_spec(VARS, THREE, **MIXED)


def test_param_ids_name_theta_in_order_and_index_of_inverts_them(spec):
    assert len(spec.param_ids) == spec.npar == len(set(spec.param_ids))
    for k, pid in enumerate(spec.param_ids):
        assert spec.index_of(pid) == k
        name, r, c = spec.cell_of(pid)
        offset = spec.offsets[name]
        rows, cols = spec.matrices[name].free_cells
        assert (rows[k - offset.start], cols[k - offset.start]) == (r, c)
    table = spec.parameter_table()
    assert list(table["param_id"]) == list(spec.param_ids)
    assert list(table["matrix"]) == [p.matrix for p in spec.param_ids]


def test_mirrored_cells_are_named_in_the_lower_triangle_and_found_from_either():
    spec = build_spec(VARS, THREE, between_latent="prec")
    pid = spec.param_id("kappa_zeta_between", 0, 2)
    assert pid == ParamId("kappa_zeta_between", "F3", "F1")
    assert spec.index_of(ParamId("kappa_zeta_between", "F1", "F3")) == spec.index_of(pid)
    assert spec.param_id("nu", 2, 0) == ParamId("nu", "y3", "")
    assert str(ParamId("lambda", "y2", "F1")) == "lambda[y2,F1]"


def test_index_of_a_fixed_or_unknown_cell_is_a_key_error(spec):
    with pytest.raises(KeyError, match="not a free parameter"):
        spec.index_of(ParamId("lambda", "y1", "F1"))  # the marker
    with pytest.raises(KeyError, match="no matrix 'gamma'"):
        spec.index_of(ParamId("gamma", "y1", "F1"))
    with pytest.raises(KeyError, match="names no cell of lambda"):
        spec.index_of(ParamId("lambda", "y9", "F1"))


def test_freeing_and_fixing_by_param_id_records_typed_edits(spec):
    cross = ParamId("lambda", "y3", "F1")
    edge = ParamId("omega_zeta_within", "F2", "F1")
    freed = spec.with_params([cross], free=True)
    assert freed.npar == spec.npar + 1 and freed.index_of(cross) >= 0
    assert freed.edits[len(spec.edits):] == (SpecEdit("free", cross),)
    pruned = freed.with_params([edge], free=False, value=0.0)
    assert pruned.edits[-1] == SpecEdit("fix", edge, 0.0)
    assert edge not in pruned.param_ids and pruned.npar == spec.npar
    assert spec.edits == build_spec(VARS, THREE, **MIXED).edits  # the original is unchanged


def test_identification_and_user_fixes_appear_in_the_edit_log():
    spec = build_spec(VARS, THREE, fix={("lambda", "y2", "F1"): 0.8})
    assert SpecEdit("fix", ParamId("lambda", "y2", "F1"), 0.8) in spec.edits
    assert SpecEdit("fix", ParamId("lambda", "y3", "F2"), 1.0) in spec.edits  # a marker


def test_edit_and_search_records_reject_unknown_kinds():
    with pytest.raises(MLVMInputError, match="action='drop'"):
        SpecEdit("drop", ParamId("lambda", "y1", "F1"))
    with pytest.raises(MLVMInputError, match="kind='grow'"):
        SearchStep("grow", ())
    step = SearchStep("prune", [ParamId("omega_zeta_within", "F2", "F1")], pvalue=0.4)
    assert isinstance(step.params, tuple) and step.kind == "prune"


def test_every_reported_matrix_has_labels_and_dims_that_fit_its_value(spec, rng):
    theta = _inside_bounds(spec, rng)
    mats = spec.derived_matrices(theta)
    assert {"mu", "sigma_within", "sigma_between", "sigma_crosssection", "sigma_eta_within",
            "sigma_eta_between", "omega_zeta_within", "kappa_zeta_between",
            "lowertri_epsilon_within", "rho_epsilon_between"} <= set(mats)
    sizes = {"variable": spec.n_vars, "latent": spec.n_latent}
    for name, value in mats.items():
        rows, cols = spec.matrix_labels(name)
        assert np.shape(value)[0] == len(rows), name
        if cols is None:
            assert np.ndim(value) == 1 or np.shape(value)[1] == 1, name
        else:
            assert np.shape(value)[1] == len(cols), name
        dims = spec.matrix_dims(name)
        assert [sizes[d.rstrip("_")] for d in dims] == list(np.shape(value))[:len(dims)]
    assert spec.matrix_dims("lambda") == ("variable", "latent")
    assert spec.matrix_dims("sigma_epsilon_between") == ("variable", "variable_")
    assert spec.matrix_dims("sigma_eta_within") == ("latent", "latent_")
    with pytest.raises(KeyError, match="unknown matrix 'sigma_gamma'"):
        spec.matrix_labels("sigma_gamma")


def test_derived_matrices_are_the_views_of_each_block_covariance(spec, rng):
    theta = _inside_bounds(spec, rng)
    mats = spec.derived_matrices(theta)
    implied = spec.implied(theta)
    for block in BLOCKS:
        sigma = implied["blocks"][block]
        np.testing.assert_allclose(mats[matrix_name("sigma", block)], sigma)
        kappa = np.linalg.inv(sigma)
        if matrix_name("kappa", block) not in spec.matrices:
            np.testing.assert_allclose(mats[matrix_name("kappa", block)], kappa, rtol=1e-10)
        d = np.sqrt(np.diag(kappa))
        omega = -kappa / np.outer(d, d) + np.eye(len(d))
        np.testing.assert_allclose(mats[matrix_name("omega", block)], omega, atol=1e-12)
    # a block's own parameter matrix wins over the view of the same name
    np.testing.assert_array_equal(mats["kappa_zeta_between"],
                                  spec.unpack(theta)["kappa_zeta_between"])
    np.testing.assert_allclose(mats["sigma_crosssection"],
                               implied["sigma_within"] + implied["sigma_between"])


def test_network_matrices_come_from_each_structures_network_role(spec):
    assert spec.network_matrices() == ["omega_zeta_within", "kappa_zeta_between"]
    assert build_spec(VARS, THREE).network_matrices() == []


def test_search_candidates_follow_roles_not_names():
    spec = build_spec(VARS, THREE, within_residual="ggm", beta_within="zero")
    found = spec.search_candidates()
    matrices = {p.matrix for p in found}
    assert "nu" not in matrices and "delta_epsilon_within" not in matrices
    assert not [p for p in found if p.matrix == "beta_within" and p.row == p.col]
    assert ParamId("beta_within", "F2", "F1") in found
    assert ParamId("lambda", "y3", "F1") in found
    assert ParamId("lambda", "y1", "F1") not in found  # fixed by identification
    assert ParamId("omega_epsilon_within", "y2", "y1") in found
    observed = build_spec(VARS, None)
    assert {p.matrix for p in observed.search_candidates()} <= {"beta_within", "beta_between"}
    assert all(not found or spec.cell_of(p) for p in found)


# ----------------------------------------------------------------------------- names
_PACKAGE = Path(__file__).resolve().parents[2] / "pm_mlvm"
_ALLOWED = {Path("spec/structures.py"), Path("spec/layout.py"), Path("_names.py")}
_PREFIXES = r"(zeta|epsilon|beta|sigma|omega|kappa|delta|lowertri|rho|SD|lambda|nu|within|between)"
_SWITCHES = [
    re.compile(rf"""["']_?{_PREFIXES}_?["']\s+(not\s+)?in\s"""),  # "epsilon" in name
    re.compile(rf"""\.(startswith|endswith)\(\s*["']_?{_PREFIXES}"""),  # .startswith("zeta")
    re.compile(r"""\.(startswith|endswith)\(\s*["']_(diag|offdiag)"""),
    re.compile(r"""\.r?split\(\s*["']_["']"""),  # name.split("_")[0]
    re.compile(r"""\.(partition|rpartition)\(\s*["']_["']"""),
]


def _offenders(source: str) -> list[str]:
    return [line.strip() for line in source.splitlines()
            if any(p.search(line) for p in _SWITCHES)]


def test_the_name_switch_detector_catches_the_known_forms():
    for line in ('if "epsilon" in name:', "prefix = matrix.split('_')[0]",
                 'latent = block.startswith("zeta")', 'x = name.endswith("_diag")',
                 'if "zeta" not in name:', 'half if block.endswith("between") else 1'):
        assert _offenders(line), line
    assert not _offenders('name = matrix_name("sigma", block)')


def test_no_behaviour_is_keyed_on_matrix_name_text_outside_the_registry():
    found = {}
    for path in sorted(_PACKAGE.rglob("*.py")):
        rel = path.relative_to(_PACKAGE)
        if rel in _ALLOWED:
            continue
        hits = _offenders(path.read_text(encoding="utf-8"))
        if hits:
            found[str(rel)] = hits
    assert not found, f"name switching outside spec/structures.py and spec/layout.py: {found}"


def _inside_bounds(spec, rng):
    """A θ whose blocks are positive definite: start values from a random PD covariance."""
    from pm_mlvm.spec.start import start_values

    a = rng.standard_normal((spec.n_vars, spec.n_vars))
    total = a @ a.T / spec.n_vars + np.eye(spec.n_vars)
    return start_values(spec, rng.standard_normal(spec.n_vars), total, 0.7 * total,
                        0.3 * total)
