"""Sphinx configuration (MyST Markdown pages, API from numpydoc docstrings)."""

project = "pm_mlvm"
author = "pm_mlvm developers"
extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
myst_enable_extensions = ["dollarmath"]
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
autodoc_member_order = "bysource"
autodoc_typehints = "none"
html_theme = "alabaster"
exclude_patterns = ["_build"]
suppress_warnings = ["myst.header"]
nitpicky = False
