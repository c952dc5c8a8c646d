"""Tests of the score-space losses against naive loops and finite differences."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sklearn_linclf._loss import (
    SoftmaxCrossEntropy,
    WestonWatkinsHinge,
    log_softmax,
    softmax,
)

N_SAMPLES, N_CLASSES = 30, 4


def _random_problem(seed, dtype=np.float64, scale=3.0):
    rng = np.random.default_rng(seed)
    raw = (scale * rng.standard_normal((N_SAMPLES, N_CLASSES))).astype(dtype)
    y = rng.integers(N_CLASSES, size=N_SAMPLES)
    sample_weight = rng.uniform(0.1, 3.0, size=N_SAMPLES).astype(dtype)
    return y, raw, sample_weight


def _min_abs_hinge_margin(y, raw, delta):
    """Smallest |s_j - s_y + delta| over j != y: the distance to a kink."""
    rows = np.arange(raw.shape[0])
    margins = raw - raw[rows, y][:, None] + delta
    margins[rows, y] = np.inf
    return np.abs(margins).min()


def naive_hinge(y, raw, delta, sample_weight=None):
    """The SPEC formulas, one sample and one class at a time."""
    n, k = raw.shape
    loss, grad = np.zeros(n), np.zeros((n, k))
    for i in range(n):
        w = 1.0 if sample_weight is None else float(sample_weight[i])
        for j in range(k):
            if j == y[i]:
                continue
            margin = float(raw[i, j]) - float(raw[i, y[i]]) + delta
            if margin > 0:
                loss[i] += w * margin
                grad[i, j] += w
                grad[i, y[i]] -= w
    return loss, grad


def naive_softmax(y, raw, sample_weight=None):
    n, k = raw.shape
    loss, grad = np.zeros(n), np.zeros((n, k))
    for i in range(n):
        w = 1.0 if sample_weight is None else float(sample_weight[i])
        top = max(float(s) for s in raw[i])
        exps = [math.exp(float(s) - top) for s in raw[i]]
        total = math.fsum(exps)
        loss[i] = w * (top + math.log(total) - float(raw[i, y[i]]))
        for j in range(k):
            grad[i, j] = w * (exps[j] / total - (1.0 if j == y[i] else 0.0))
    return loss, grad


LOSSES = [
    pytest.param(WestonWatkinsHinge(delta=1.0), id="hinge-delta1"),
    pytest.param(WestonWatkinsHinge(delta=0.3), id="hinge-delta0.3"),
    pytest.param(SoftmaxCrossEntropy(), id="softmax"),
]


def _naive(loss, y, raw, sample_weight):
    if isinstance(loss, WestonWatkinsHinge):
        return naive_hinge(y, raw, loss.delta, sample_weight)
    return naive_softmax(y, raw, sample_weight)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("weighted", [False, True])
def test_loss_matches_naive_loop(loss, weighted):
    y, raw, sample_weight = _random_problem(0)
    sample_weight = sample_weight if weighted else None
    value, grad = loss.loss_gradient(y, raw, sample_weight)
    expected_value, expected_grad = _naive(loss, y, raw, sample_weight)
    assert value.shape == (N_SAMPLES,)
    assert grad.shape == (N_SAMPLES, N_CLASSES)
    assert_allclose(value, expected_value, rtol=1e-12, atol=1e-13)
    assert_allclose(grad, expected_grad, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("delta", [1.0, 0.5])
def test_hinge_kink_takes_zero_subgradient(delta):
    """At a margin of exactly 0 the SPEC's strict ``>`` contributes nothing."""
    # Row 0: both margins are kinks. Row 1: one kink (class 0), one active.
    raw = np.array([[2.0, 2.0 - delta, 2.0 - delta], [4.0 - delta, 4.0, 4.0]])
    y = np.array([0, 2])
    value, grad = WestonWatkinsHinge(delta).loss_gradient(y, raw)
    assert_array_equal(value, [0.0, delta])
    assert_array_equal(grad, [[0.0, 0.0, 0.0], [0.0, 1.0, -1.0]])


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_loss_gradient_finite_differences(loss, weighted, seed):
    y, raw, sample_weight = _random_problem(seed)
    sample_weight = sample_weight if weighted else None
    eps = 1e-6
    if isinstance(loss, WestonWatkinsHinge):
        # Central differences are exact on a linear piece; stay off the kinks.
        assert _min_abs_hinge_margin(y, raw, loss.delta) > 100 * eps
    _, grad = loss.loss_gradient(y, raw, sample_weight)
    numerical = np.empty_like(raw)
    for k in range(N_CLASSES):
        # Column k of sample i only changes L_i: one perturbation per column.
        step = np.zeros_like(raw)
        step[:, k] = eps
        plus, _ = loss.loss_gradient(y, raw + step, sample_weight)
        minus, _ = loss.loss_gradient(y, raw - step, sample_weight)
        numerical[:, k] = (plus - minus) / (2 * eps)
    rel_err = np.linalg.norm(grad - numerical) / np.linalg.norm(numerical)
    assert rel_err <= 1e-6


@pytest.mark.parametrize("loss", LOSSES)
def test_unit_weights_equal_no_weights(loss):
    y, raw, _ = _random_problem(3)
    value, grad = loss.loss_gradient(y, raw)
    value_1, grad_1 = loss.loss_gradient(y, raw, np.ones(N_SAMPLES))
    assert_array_equal(value, value_1)
    assert_array_equal(grad, grad_1)


@pytest.mark.parametrize("loss", LOSSES)
def test_sample_weight_scales_rows(loss):
    y, raw, sample_weight = _random_problem(4)
    value, grad = loss.loss_gradient(y, raw)
    value_w, grad_w = loss.loss_gradient(y, raw, sample_weight)
    assert_allclose(value_w, sample_weight * value, rtol=1e-14)
    assert_allclose(grad_w, sample_weight[:, None] * grad, rtol=1e-14)


@pytest.mark.parametrize("loss", LOSSES)
def test_inputs_not_mutated(loss):
    y, raw, sample_weight = _random_problem(5)
    copies = y.copy(), raw.copy(), sample_weight.copy()
    loss.loss_gradient(y, raw, sample_weight)
    loss.loss_gradient(y, raw)
    for before, after in zip(copies, (y, raw, sample_weight), strict=True):
        assert_array_equal(before, after)
    softmax(raw)
    log_softmax(raw)
    assert_array_equal(copies[1], raw)


@pytest.mark.parametrize("loss", LOSSES)
def test_float32_in_float32_out(loss):
    y, raw, sample_weight = _random_problem(6, dtype=np.float32)
    for sw in (None, sample_weight):
        value, grad = loss.loss_gradient(y, raw, sw)
        assert value.dtype == np.float32
        assert grad.dtype == np.float32
        expected_value, expected_grad = _naive(loss, y, raw.astype(np.float64), sw)
        assert_allclose(value, expected_value, rtol=1e-5, atol=1e-5)
        assert_allclose(grad, expected_grad, rtol=1e-5, atol=1e-5)
    assert softmax(raw).dtype == np.float32
    assert log_softmax(raw).dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_stable_for_large_scores(dtype):
    raw = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 1e4 - 1.0], [1e4, 1e4, 1e4]], dtype)
    y = np.array([0, 0, 2])
    loss, grad = SoftmaxCrossEntropy().loss_gradient(y, raw)
    assert np.isfinite(loss).all() and np.isfinite(grad).all()
    # Exact values: log(1 + e^-1e4 + ...) = 0, 2e4 + log(1 + e^-1), log(3).
    assert_allclose(
        loss, [0.0, 2e4 + math.log1p(math.exp(-1.0)), math.log(3)], rtol=1e-6
    )
    proba = softmax(raw)
    log_proba = log_softmax(raw)
    assert np.isfinite(proba).all() and np.isfinite(log_proba).all()
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert_allclose(proba[2], [1 / 3] * 3, rtol=1e-6)
    assert_allclose(log_proba[0], [0.0, -1e4, -2e4], rtol=1e-6)
    assert_allclose(np.exp(log_proba), proba, rtol=1e-6, atol=1e-30)


def test_softmax_matches_naive_definition():
    _, raw, _ = _random_problem(7)
    expected = np.exp(raw) / np.exp(raw).sum(axis=1, keepdims=True)
    assert_allclose(softmax(raw), expected, rtol=1e-13)
    assert_allclose(log_softmax(raw), np.log(expected), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("loss", LOSSES)
def test_shape_mismatch_raises(loss):
    y, raw, _ = _random_problem(8)
    with pytest.raises(ValueError, match="raw must be 2-D"):
        loss.loss_gradient(y[:-1], raw)
    with pytest.raises(ValueError, match="raw must be 2-D"):
        loss.loss_gradient(y, raw[:, 0])
