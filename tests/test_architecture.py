"""The architecture as a test: the layers contract holds, and no module imports form a cycle.

The contract lives in ``pyproject.toml`` (``[tool.importlinter]``) and is checked with
import-linter on every test run; a deliberate violation in a copy of the package shows the
check can fail. Cycles are looked for among *all* imports, function-local ones included.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint(cwd: Path, env_path: Path):
    code = "from importlinter.cli import lint_imports_command; lint_imports_command()"
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          env={"PYTHONPATH": str(env_path), "PATH": "/usr/bin:/bin"})


def test_the_layers_contract_is_kept():
    out = _lint(ROOT, ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "broken" in out.stdout and "0 broken" in out.stdout


def test_a_deliberate_violation_breaks_the_layers_contract(tmp_path):
    shutil.copytree(ROOT / "pm_mlvm", tmp_path / "pm_mlvm",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "pm_mlvm" / "spec" / "matrices.py"
    upward = "\n\ndef _upward():\n    import pm_mlvm.ml.fit  # noqa\n"
    target.write_text(target.read_text() + upward)
    out = _lint(tmp_path, tmp_path)
    assert out.returncode != 0
    assert "Layers point one way BROKEN" in out.stdout


def _cycles(graph, modules):
    """Every module on an import cycle (Tarjan's strongly connected components)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in modules:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return found


@pytest.mark.parametrize("package", ["pm_mlvm"])
def test_no_module_imports_form_a_cycle_not_even_inside_functions(package):
    sys.path.insert(0, str(ROOT))
    try:
        graph = grimp.build_graph(package, cache_dir=None)
    finally:
        sys.path.remove(str(ROOT))
    modules = {m for m in graph.modules if m != package}
    assert _cycles(graph, modules) == []
