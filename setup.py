"""Build of the compiled kernels (every ``.pyx`` under ``sklearn_linclf/``).

The project's metadata is in ``pyproject.toml``; this file only declares the
Cython extensions, compiled with OpenMP so that a minibatch can use every core
the user allows (``OMP_NUM_THREADS``, ``threadpoolctl``).
"""

from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

OPENMP = ["-fopenmp"]


def extensions():
    root = Path(__file__).parent
    for source in sorted((root / "sklearn_linclf").rglob("*.pyx")):
        relative = source.relative_to(root)
        yield Extension(
            ".".join(relative.with_suffix("").parts),
            [str(relative)],
            include_dirs=[numpy.get_include()],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
            extra_compile_args=["-O3", *OPENMP],
            extra_link_args=OPENMP,
        )


setup(
    ext_modules=cythonize(
        list(extensions()),
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    )
)
