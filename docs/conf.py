"""Sphinx configuration of the sofi_dask documentation (``make docs``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

import sofi_docs  # noqa: E402

import sofi_dask  # noqa: E402

# the pages generated from the code, written before Sphinx lists the source files
sofi_docs.generate(Path(__file__).resolve().parent)

project = "sofi_dask"
author = "the sofi_dask developers"
copyright = "2026, the sofi_dask developers"  # noqa: A001
release = sofi_dask.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",
    "sphinx_copybutton",
    "sofi_docs",  # docs/_ext/sofi_docs.py: generated pages (config reference, CLI help)
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "_generated_notebooks/**/*.zarr"]
root_doc = "index"

# API reference: one page per public name, from the numpydoc docstrings
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

myst_enable_extensions = ["colon_fence", "dollarmath", "amsmath"]
myst_heading_anchors = 3

# notebooks are executed at build time (small default parameters), outputs shown
nb_execution_mode = "force"
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
# no network for readers of a local build: widget outputs (progress bars) render as text, and
# no widget JavaScript is fetched from a CDN
nb_ipywidgets_js: dict[str, dict[str, str]] = {}
os.environ.setdefault("SOFI_DASK_NOTEBOOK_SMALL", "1")
os.environ.setdefault("SOFI_DASK_NOTEBOOK_DIR", str(Path(__file__).parent / "_build" / "nbdata"))

html_theme = "pydata_sphinx_theme"
html_title = f"sofi_dask {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_depth": 3,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
}
html_sidebars: dict[str, list[str]] = {}
# a fixed default mode: with none stored yet, the theme logs an "invalid theme mode" error
html_context = {"default_mode": "light"}

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "dask": ("https://docs.dask.org/en/stable", None),
}
intersphinx_disabled_reftypes = ["*"]
intersphinx_timeout = 1
# no network here or in CI: intersphinx inventories are optional
if os.environ.get("SOFI_DASK_DOCS_OFFLINE", "1") == "1":
    intersphinx_mapping = {}

nitpicky = False
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type"]
