"""Test-session set-up shared by the test suite and the doctests."""

import os

# scikit-learn's Array API dispatch needs SciPy's own support, switched on by
# this variable before SciPy is first imported. NumPy input takes the same
# paths with or without it (tests/test_array_api.py checks that bitwise).
os.environ.setdefault("SCIPY_ARRAY_API", "1")
