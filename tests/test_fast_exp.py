"""The softmax kernels' ``exp`` (``_fast_exp.h``) against libm's."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal

from sklearn_linclf import SoftmaxClassifier
from sklearn_linclf._solver import _dense_kernel, _sparse_kernel

VECTOR = _sparse_kernel.use_vector_exp(True)
needs_vector = pytest.mark.skipif(
    not VECTOR, reason="this processor has no AVX2 and FMA: libm's exp is used"
)


@pytest.fixture
def libm_exp():
    """Both kernel modules on libm's exp during the test, then back."""
    _sparse_kernel.use_vector_exp(False)
    _dense_kernel.use_vector_exp(False)
    yield
    _sparse_kernel.use_vector_exp(True)
    _dense_kernel.use_vector_exp(True)


def exp_shifted(x, shift=0.0):
    out = np.array(x, copy=True)
    _sparse_kernel.exp_shifted(out, shift)
    return out


def test_modules_agree_on_the_choice():
    assert _dense_kernel.use_vector_exp(True) == VECTOR


@needs_vector
def test_vector_exp_within_an_ulp_of_libm():
    x = np.linspace(-708.0, 0.0, 1_000_003)
    x = np.concatenate([x, -np.geomspace(1e-300, 1.0, 10_001)])
    expected = np.array([math.exp(v) for v in x])
    got = exp_shifted(x)
    ulps = np.abs(got - expected) / np.spacing(expected)
    assert ulps.max() <= 1.0


@needs_vector
def test_vector_exp_special_arguments():
    x = np.array([0.0, -0.0, -np.inf, np.nan, -708.0, -708.0001, -745.2, -1e300])
    got = exp_shifted(x)
    assert_array_equal(got[:3], [1.0, 1.0, 0.0])
    assert np.isnan(got[3])
    assert got[4] == pytest.approx(math.exp(-708.0), rel=1e-15)
    # Below -708 (exp < 3.3e-308, nothing next to a softmax total >= 1): 0.
    assert_array_equal(got[5:], 0.0)


@needs_vector
@pytest.mark.parametrize("n", range(10))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_vector_exp_of_every_length_and_shift(n, dtype):
    """Whole groups of four and the tail; the shift subtracted in double."""
    rng = np.random.default_rng(n)
    shift = 3.25
    x = (shift - 30 * rng.random(n)).astype(dtype)
    got = exp_shifted(x, shift)
    expected = np.exp(x.astype(np.float64) - shift)
    if dtype == np.float64:
        assert_allclose(got, expected, rtol=3e-16, atol=0)
    else:
        # Rounded once, from double: as float32(exp) exactly, up to its tie.
        assert_allclose(got, expected.astype(np.float32), rtol=1.2e-7, atol=0)
    assert got.dtype == dtype


def test_libm_exp_is_libm(libm_exp):
    x = np.linspace(-50.0, 0.0, 1001)
    expected = np.array([math.exp(v - 1.5) for v in x + 1.5])
    assert_array_equal(exp_shifted(x + 1.5, 1.5), expected)


def _fits(X, y):
    clf = SoftmaxClassifier(alpha=1e-4, max_iter=5, tol=None, random_state=0)
    return clf.fit(X, y)


@needs_vector
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fits_with_either_exp_agree(sparse, dtype, request):
    """The estimators' results do not depend on which exp ran (to rounding)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 40)).astype(dtype)
    X[rng.random(X.shape) < 0.7] = 0
    y = rng.integers(0, 7, 3000)
    y[X[:, 0] > 0.5] = 7
    if sparse:
        X = sp.csr_matrix(X)
    vector = _fits(X, y)
    request.getfixturevalue("libm_exp")
    libm = _fits(X, y)
    rtol = 1e-9 if dtype == np.float64 else 1e-4
    scale = np.abs(libm.coef_).max()
    assert_allclose(vector.coef_, libm.coef_, rtol=0, atol=rtol * scale)
    assert_allclose(vector.intercept_, libm.intercept_, rtol=0, atol=rtol * scale)
    assert_allclose(vector.loss_curve_, libm.loss_curve_, rtol=rtol)
