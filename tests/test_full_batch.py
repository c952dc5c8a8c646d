"""The full-batch solvers: accelerated descent, the smoothed hinge, continuation.

References are independent: a quadratic with a known minimiser,
scikit-learn's ``LogisticRegression`` for the softmax objective, and a QP
solved by SLSQP for the hinge.
"""

import math
import tracemalloc

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from test_estimators import _hinge_qp as _hinge_qp_coef
from threadpoolctl import threadpool_limits

from sklearn_linclf._loss import SmoothedHinge, SoftmaxCrossEntropy, WestonWatkinsHinge
from sklearn_linclf._objective import LinearObjective
from sklearn_linclf._solver.full_batch import (
    accelerated_descent,
    smoothing_continuation,
)


class Quadratic:
    """``f(x) = 1 + sum_i h_i (x_i - m_i)^2 / 2``, spectrum from ``mu`` to ``L``.

    The constant makes ``f* = 1``, so the relative ``tol`` is meaningful.
    Counts its calls.
    """

    def __init__(self, shape, mu, L, seed=0, dtype=np.float64):
        rng = np.random.default_rng(seed)
        size = math.prod(shape)
        self.h = np.geomspace(mu, L, size).reshape(shape).astype(dtype)
        rng.shuffle(self.h.reshape(-1))
        self.minimiser = rng.standard_normal(shape).astype(dtype)
        self.n_calls = 0

    def __call__(self, x):
        self.n_calls += 1
        r = x - self.minimiser
        grad = self.h * r
        return 1.0 + 0.5 * float(np.einsum("ij,ij->", r, grad)), grad


def _standardised(n_samples, n_features, n_classes, seed, dtype=np.float64):
    X, y = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_classes=n_classes,
        n_informative=min(n_features, max(3, n_classes)),
        n_redundant=0,
        n_clusters_per_class=1,
        class_sep=0.8,
        flip_y=0.05,
        random_state=seed,
    )
    return StandardScaler().fit_transform(X).astype(dtype), y


def _value_grad(objective, X, y):
    """``value_grad`` of the whole objective in the solver layout."""
    sample_weight = np.ones(X.shape[0], dtype=X.dtype)

    def value_grad(params):
        value, grad = objective.params_gradient(params, X, y, sample_weight, X.shape[0])
        return value + objective.penalty(objective.split_params(params)[0]), grad

    return value_grad


def _initial_step(loss_curvature, X, alpha):
    """``1 / L`` for a bound ``loss_curvature`` on the loss's score Hessian."""
    mean_sq_norm = float(np.einsum("ij,ij->", X, X)) / X.shape[0] + 1.0
    return 1.0 / (loss_curvature * mean_sq_norm + 2 * alpha)


# ---------------------------------------------------------- accelerated descent


def test_quadratic_minimiser_and_linear_rate():
    mu, L = 1e-2, 10.0
    kappa = L / mu
    f = Quadratic((20, 3), mu, L)
    x = np.zeros((20, 3))
    values, calls = [], []

    def callback(iteration, value):
        values.append(value)
        calls.append(f.n_calls)

    n_iter, converged = accelerated_descent(
        f,
        x,
        step=1.0,  # ten times too large: backtracking must find 1/L
        max_iter=3000,
        tol=1e-20,
        callback=callback,
    )
    assert converged
    error = np.linalg.norm(x - f.minimiser) / np.linalg.norm(f.minimiser)
    assert error <= 1e-8
    # Linear convergence: the gap f - f* shrinks geometrically, by at least 10x
    # every 5 sqrt(kappa) iterations until it reaches rounding (the optimal
    # accelerated rate is 10x per ~2.3 sqrt(kappa), plain gradient descent's
    # 10x per ~1.2 kappa).
    gaps = np.array(values) - 1.0
    window = int(5 * math.sqrt(kappa))
    floor = 1e-12
    below = np.flatnonzero(gaps < floor)[0]
    for start in range(0, below - window, window // 4):
        assert gaps[start + window] <= 0.1 * gaps[start]
    assert below <= 1.5 * math.sqrt(kappa) * math.log(gaps[0] / floor)
    # Calls: one to start, then two per iteration (fewer after a restart) plus
    # one per halving of the step, which is rare.
    assert calls[below] <= 1 + 2.2 * (below + 1)


def test_tiny_initial_step_grows_back():
    mu, L = 1e-2, 10.0
    good = Quadratic((20, 3), mu, L)
    x = np.zeros((20, 3))
    n_good, _ = accelerated_descent(good, x, step=1 / L, max_iter=5000, tol=1e-14)
    tiny = Quadratic((20, 3), mu, L)
    x = np.zeros((20, 3))
    n_tiny, converged = accelerated_descent(
        tiny, x, step=1e-6, max_iter=5000, tol=1e-14
    )
    assert converged
    assert_allclose(x, tiny.minimiser, atol=1e-4)
    # 1e-6 to 1/L is 17 doublings; the path differs after that. A fixed step
    # of 1e-6 would need ~1e6 iterations.
    assert n_tiny <= 2 * n_good


def test_tiny_step_does_not_pass_for_convergence():
    """While the step is still growing it says nothing about ``L``: no stop."""
    f = Quadratic((20, 3), 1e-2, 10.0)
    x = np.zeros((20, 3))
    values = []
    _, converged = accelerated_descent(
        f, x, step=1e-9, max_iter=5000, tol=1e-3, callback=lambda i, v: values.append(v)
    )
    assert converged
    assert values[-1] - 1 < 1e-2 * (values[0] - 1)


def test_preconditioner_fixes_bad_scaling():
    """A diagonal ``scale``, the inverse curvature, undoes a condition number 1e6."""
    f = Quadratic((30, 2), 1e-4, 1e2)
    x = np.zeros((30, 2))
    n_iter, converged = accelerated_descent(
        f, x, step=0.3, max_iter=100, tol=1e-16, scale=1 / f.h
    )
    assert converged
    assert_allclose(x, f.minimiser, atol=1e-6)
    x = np.zeros((30, 2))
    _, converged = accelerated_descent(f, x, step=0.3, max_iter=100, tol=1e-16)
    assert not converged


def test_callback_sees_every_iteration_and_may_abort():
    f = Quadratic((5, 2), 0.1, 1.0)
    seen = []
    x = np.zeros((5, 2))
    n_iter, _ = accelerated_descent(
        f, x, step=1.0, max_iter=15, tol=0, callback=lambda it, v: seen.append(it)
    )
    assert n_iter == 15
    assert seen == list(range(1, 16))

    class Abort(Exception):
        pass

    def callback(iteration, value):
        if iteration == 3:
            raise Abort

    x = np.zeros((5, 2))
    with pytest.raises(Abort):
        accelerated_descent(f, x, step=1.0, max_iter=15, tol=0, callback=callback)
    # params holds the iterate the callback was shown: finite, moved.
    assert np.isfinite(x).all() and np.abs(x).max() > 0


def test_non_finite_start_is_an_error_and_overflow_a_failed_step():
    def blows_up(x):
        return float("inf"), np.ones_like(x)

    with pytest.raises(FloatingPointError, match="not finite"):
        accelerated_descent(blows_up, np.zeros(3), step=1.0, max_iter=5, tol=0)

    # exp overflows for a long step: the step is halved, not accepted.
    def exp_sum(x):
        with np.errstate(over="ignore"):
            e = np.exp(x)
        return float(e.sum() - x.sum()), e - 1  # minimum at x = 0

    x = np.full(4, 3.0)
    _, converged = accelerated_descent(exp_sum, x, step=1e6, max_iter=500, tol=1e-15)
    assert converged
    assert_allclose(x, 0, atol=1e-6)


def test_float32_stays_float32():
    X, y = _standardised(120, 6, 3, seed=0, dtype=np.float32)
    objective = LinearObjective(SoftmaxCrossEntropy(), 1e-2, fit_intercept=True)
    value_grad = _value_grad(objective, X, y)
    dtypes = set()

    def checked(params):
        dtypes.add(params.dtype)
        value, grad = value_grad(params)
        dtypes.add(grad.dtype)
        return value, grad

    params = np.zeros((7, 3), dtype=np.float32)
    step = _initial_step(0.5, X, 1e-2)
    _, converged = accelerated_descent(
        checked, params, step=step, max_iter=500, tol=1e-7, scale=np.ones((7, 1))
    )
    assert converged
    assert params.dtype == np.float32
    assert dtypes == {np.dtype(np.float32)}


def test_memory_is_a_few_copies_of_params():
    f = Quadratic((50_000, 4), 0.1, 1.0)
    x = np.zeros((50_000, 4))
    tracemalloc.start()
    try:
        accelerated_descent(f, x, step=1.0, max_iter=30, tol=0, scale=1.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Four work arrays with scale, two gradients alive during a call, and the
    # two arrays the call itself makes.
    assert peak < 8.5 * x.nbytes


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_softmax_matches_logistic_regression(fit_intercept):
    X, y = _standardised(150, 5, 3, seed=1)
    n, alpha = X.shape[0], 1e-2
    with threadpool_limits(1):
        lr = LogisticRegression(
            C=1 / (2 * n * alpha),
            fit_intercept=fit_intercept,
            tol=1e-12,
            max_iter=10_000,
        ).fit(X, y)
    objective = LinearObjective(SoftmaxCrossEntropy(), alpha, fit_intercept)
    sample_weight = np.ones(n)
    reference = np.hstack([lr.coef_, lr.intercept_[:, None]])[:, : 5 + fit_intercept]
    reference_value = objective.value(reference, X, y, sample_weight)

    params = np.zeros((5 + fit_intercept, 3))
    step = _initial_step(0.5, X, alpha)
    _, converged = accelerated_descent(
        _value_grad(objective, X, y), params, step=step, max_iter=2000, tol=1e-12
    )
    assert converged
    value = objective.value(params.T, X, y, sample_weight)
    assert value <= reference_value * (1 + 1e-6)
    assert value >= reference_value * (1 - 1e-6)  # LogisticRegression is exact
    assert_allclose(params.T, reference, atol=1e-3)


# ------------------------------------------------------------- smoothed hinge


@pytest.mark.parametrize("weighted", [False, True])
def test_smoothed_hinge_gradient_matches_finite_differences(weighted):
    rng = np.random.default_rng(0)
    n, k, mu = 40, 4, 0.3
    raw = rng.standard_normal((n, k))
    y = rng.integers(0, k, n)
    sample_weight = rng.uniform(0.5, 2, n) if weighted else None
    loss = SmoothedHinge(delta=0.7, smoothing=mu)
    _, grad = loss.loss_gradient(y, raw, sample_weight)
    eps = 1e-6
    numeric = np.empty_like(raw)
    for idx in np.ndindex(raw.shape):
        up, down = raw.copy(), raw.copy()
        up[idx] += eps
        down[idx] -= eps
        numeric[idx] = (
            loss.loss_gradient(y, up, sample_weight)[0].sum()
            - loss.loss_gradient(y, down, sample_weight)[0].sum()
        ) / (2 * eps)
    assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)
    # Each row's gradient sums to zero (shifting all scores changes nothing).
    assert_allclose(grad.sum(axis=1), 0, atol=1e-12)


def test_smoothed_hinge_is_within_its_bound_of_the_hinge():
    rng = np.random.default_rng(1)
    n, k, delta = 500, 5, 1.0
    raw = 2 * rng.standard_normal((n, k))
    y = rng.integers(0, k, n)
    hinge, _ = WestonWatkinsHinge(delta).loss_gradient(y, raw)
    for mu in [1.0, 0.1, 1e-3]:
        loss = SmoothedHinge(delta, mu)
        smoothed, _ = loss.loss_gradient(y, raw)
        excess = smoothed - hinge
        assert excess.min() >= -1e-12
        assert excess.max() <= loss.max_excess(k) + 1e-12
        # Where no margin is within mu/2 of its kink, it is the hinge.
        margins = raw - raw[np.arange(n), y][:, None] + delta
        margins[np.arange(n), y] = -np.inf
        far = (np.abs(margins) >= mu / 2).all(axis=1)
        assert far.any()
        assert_allclose(smoothed[far], hinge[far], rtol=1e-12, atol=1e-12)
    # The bound is attained: a single margin exactly at the kink.
    raw = np.array([[0.0, -delta]])
    smoothed, _ = SmoothedHinge(delta, 0.4).loss_gradient(np.array([0]), raw)
    assert_allclose(smoothed, 0.4 / 8)


def test_smoothed_hinge_overflow_is_inf_not_nan():
    big = np.finfo(np.float64).max
    raw = np.array([[big, -big, 0.0], [-big, big, 0.0]])
    loss, grad = SmoothedHinge(1.0, 0.5).loss_gradient(np.array([0, 0]), raw)
    assert_allclose(loss, [0.0, np.inf])
    assert np.isfinite(grad).all()


def test_smoothed_hinge_keeps_float32():
    raw = np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32)
    y = np.arange(10) % 3
    loss, grad = SmoothedHinge(1.0, 0.5).loss_gradient(
        y, raw, np.ones(10, dtype=np.float32)
    )
    assert loss.dtype == np.float32 and grad.dtype == np.float32


def _hinge_qp(X, y, n_classes, alpha, delta):
    """Minimum of the Weston–Watkins objective, from the SLSQP reference QP."""
    weights = np.ones(len(y))
    coef = _hinge_qp_coef(X, y, n_classes, alpha, delta, weights)
    objective = LinearObjective(WestonWatkinsHinge(delta), alpha, True)
    return objective.value(coef, X, y, weights)


@pytest.mark.parametrize("alpha", [1e-3, 1e-2])
def test_hinge_by_continuation_reaches_the_qp_optimum(alpha):
    X, y = _standardised(60, 4, 3, seed=2)
    delta = 1.0
    reference = _hinge_qp(X, y, 3, alpha, delta)
    widths = []

    def make_value_grad(mu):
        widths.append(mu)
        objective = LinearObjective(SmoothedHinge(delta, mu), alpha, True)
        return _value_grad(objective, X, y)

    params = np.zeros((5, 3))
    n_iter, converged = smoothing_continuation(
        make_value_grad,
        params,
        smoothing=delta,
        final_smoothing=1e-3 * delta,
        relative_smoothing=0.02,
        step=_initial_step(1 / delta, X, alpha),
        max_iter=5000,
        tol=1e-8,
    )
    assert converged
    hinge = LinearObjective(WestonWatkinsHinge(delta), alpha, True)
    value = hinge.value(params.T, X, y, np.ones(X.shape[0]))
    assert reference <= value * (1 + 1e-7)
    assert value <= reference * (1 + 1e-3)
    # Stages of widths 1, 1/4, 1/16, ... warm-started, the last one at 2% of
    # the objective (which the smoothed one bounds from above).
    assert_allclose(widths[:-1], 0.25 ** np.arange(len(widths) - 1))
    assert widths[-2] > widths[-1] >= 0.02 * value
    assert widths[-1] <= 0.02 * value * 1.05
    assert n_iter < 600


def test_continuation_stops_at_final_smoothing():
    f = Quadratic((4, 2), 0.5, 1.0)
    widths = []

    def make_value_grad(mu):
        widths.append(mu)
        return f

    smoothing_continuation(
        make_value_grad,
        np.zeros((4, 2)),
        smoothing=1.0,
        final_smoothing=0.05,
        step=1.0,
        max_iter=1000,
        tol=1e-10,
    )
    assert_allclose(widths, [1.0, 0.25, 0.0625, 0.05])


def test_continuation_checks_its_arguments():
    with pytest.raises(ValueError, match="final_smoothing"):
        smoothing_continuation(
            None,
            np.zeros(2),
            smoothing=0.1,
            final_smoothing=1.0,
            step=1.0,
            max_iter=1,
            tol=0,
        )
    with pytest.raises(ValueError, match="factor"):
        smoothing_continuation(
            None,
            np.zeros(2),
            smoothing=1.0,
            final_smoothing=0.1,
            factor=1.0,
            step=1.0,
            max_iter=1,
            tol=0,
        )
