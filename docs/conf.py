"""Sphinx configuration of the sklearn_linclf documentation.

Build (warnings are errors, as in CI)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Neither the build nor the built pages need the internet: there is no
intersphinx, and MathJax is served from the site itself (see "Math" below).
"""

import os

# The gallery runs its examples in this process. Single-threaded BLAS keeps
# their timings comparable between estimators and machines, and avoids
# oversubscribing a small CI machine (two OpenBLAS libraries, numpy's and
# scipy's, each spinning up threads for tiny matrix products). This must be
# set before numpy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
# scikit-learn's Array API dispatch (docs/array_api.rst and its example) needs
# SciPy's, which SciPy reads when it is first imported, here.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import sklearn_linclf  # noqa: E402

# -- Project ----------------------------------------------------------------

project = "sklearn_linclf"
author = "The sklearn_linclf developers"
copyright = "The sklearn_linclf developers"
version = release = sklearn_linclf.__version__

# -- General ----------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
root_doc = "index"
default_role = "literal"

# -- autodoc / autosummary / numpydoc ------------------------------------------

autosummary_generate = True
autodoc_default_options = {"members": False}
# Methods inherited from scikit-learn (score, get_params, set_params, the
# metadata-routing setters, ...) are not ours: their docstrings use
# scikit-learn's glossary roles, which do not resolve here. The class template
# (_templates/autosummary/class.rst) asks autodoc for all members and
# _skip_inherited_from_scikit_learn below keeps those defined in this package;
# numpydoc does not add member tables of its own.
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- Math -------------------------------------------------------------------

# MathJax typesets the formulas in the reader's browser. Sphinx's default
# loads it from a CDN; sphinx-mathjax-offline ships MathJax 3 in its wheel,
# copies it into the built site's _static/mathjax and points mathjax_path
# there, so the pages render their formulas offline. (sphinx.ext.imgmath
# would need a LaTeX installation and about half a second of LaTeX per
# formula, which is most of the build time for the math page.)

# -- HTML -------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"sklearn_linclf {release}"
html_static_path = []
# Pages without sub-pages need no navigation column: give the text its width.
html_sidebars = {
    "index": [],
    "getting_started": [],
    "math": [],
    "scaling": [],
    "array_api": [],
}
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_show_sourcelink = False
html_context = {"default_mode": "light"}


def _skip_inherited_from_scikit_learn(app, what, name, obj, skip, options):
    """Document only the members this package defines.

    Methods that come from scikit-learn's mixins (``score``, ``get_params``,
    the metadata-routing setters, ...) carry scikit-learn's docstrings, whose
    glossary roles and labels do not resolve in this project's docs.
    """
    if what == "class" and not skip:
        module = getattr(obj, "__module__", None) or ""
        if not module.startswith("sklearn_linclf"):
            return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_inherited_from_scikit_learn)


# -- Gallery ----------------------------------------------------------------

# Examples run on every build; each takes a few seconds on bundled or
# generated data, so the whole build stays well under three minutes.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "doc_module": ("sklearn_linclf",),
    "backreferences_dir": "generated/backreferences",
    "reference_url": {"sklearn_linclf": None},
    "remove_config_comments": True,
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "plot_gallery": "True",
    "matplotlib_animations": False,
    "within_subsection_order": "FileNameSortKey",
    "min_reported_time": 1,
}

# Examples must not pop up windows or need a display.
os.environ.setdefault("MPLBACKEND", "Agg")
