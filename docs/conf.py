"""Sphinx configuration: PyData theme (as PyMC's docs), MyST Markdown pages, the executed
tutorial notebooks rendered by myst-nb from their committed outputs, and one API page per
public object (autosummary + numpydoc docstrings).

The notebooks live in ``notebooks/`` (generated and executed by
``notebooks/build_notebooks.py``); at build time they are copied into ``docs/examples/``
together with a gallery thumbnail each (the last figure a notebook draws). Both copies are
build products and ignored by git.
"""

import base64
import json
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOTEBOOKS = HERE.parent / "notebooks"
EXAMPLES = HERE / "examples"

project = "pm_mlvm"
author = "pm_mlvm developers"
copyright = "pm_mlvm developers"
extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
myst_enable_extensions = ["dollarmath"]
nb_execution_mode = "off"          # render the committed outputs; CI executes the notebooks
nb_merge_streams = True
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
autodoc_member_order = "bysource"
autodoc_typehints = "none"
autosummary_generate = True
templates_path = ["_templates"]
html_theme = "pydata_sphinx_theme"
html_title = "pm_mlvm"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"examples/index": []}
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
suppress_warnings = ["myst.header"]
nitpicky = False


def _thumbnail(notebook: dict) -> bytes | None:
    """The last PNG a notebook displays, or None."""
    found = None
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            png = output.get("data", {}).get("image/png")
            if png:
                found = png if isinstance(png, str) else "".join(png)
    return None if found is None else base64.b64decode(found)


def _copy_notebooks() -> None:
    (EXAMPLES / "thumbnails").mkdir(parents=True, exist_ok=True)
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        shutil.copyfile(path, EXAMPLES / path.name)
        image = _thumbnail(json.loads(path.read_text()))
        if image is None:
            raise RuntimeError(f"{path.name} draws no figure; the gallery needs one per "
                               "notebook")
        (EXAMPLES / "thumbnails" / f"{path.stem}.png").write_bytes(image)


_copy_notebooks()
