"""Tests of the linear objective: finite differences, sparse input, weights."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp

from sklearn_linclf._loss import SoftmaxCrossEntropy, WestonWatkinsHinge
from sklearn_linclf._objective import LinearObjective

N_SAMPLES, N_FEATURES, N_CLASSES = 25, 5, 3
ALPHA = 0.07


def _problem(seed, fit_intercept, density=0.6):
    """Sparse-ish data (explicit zeros in the dense copy) and a random model."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_SAMPLES, N_FEATURES))
    X[rng.random(X.shape) > density] = 0.0
    y = rng.integers(N_CLASSES, size=N_SAMPLES)
    sample_weight = rng.uniform(0.2, 3.0, size=N_SAMPLES)
    coef = rng.standard_normal((N_CLASSES, N_FEATURES + fit_intercept))
    return X, y, sample_weight, coef


def _reference_value(loss, alpha, fit_intercept, coef, X, y, sample_weight):
    """The SPEC objective written out independently of the library."""
    X = X.toarray() if sp.issparse(X) else X
    W = coef[:, :N_FEATURES]
    scores = X @ W.T
    if fit_intercept:
        scores = scores + coef[:, -1]
    rows = np.arange(X.shape[0])
    true = scores[rows, y]
    if isinstance(loss, WestonWatkinsHinge):
        hinges = np.maximum(scores - true[:, None] + loss.delta, 0.0)
        hinges[rows, y] = 0.0
        per_sample = hinges.sum(axis=1)
    else:
        per_sample = logsumexp(scores, axis=1) - true
    return (sample_weight @ per_sample) / sample_weight.sum() + alpha * np.sum(W**2)


LOSSES = [
    pytest.param(WestonWatkinsHinge(delta=1.0), id="hinge"),
    pytest.param(WestonWatkinsHinge(delta=2.5), id="hinge-delta2.5"),
    pytest.param(SoftmaxCrossEntropy(), id="softmax"),
]


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_objective_gradient_finite_differences(loss, fit_intercept, weighted, sparse):
    X, y, sample_weight, coef = _problem(0, fit_intercept)
    if not weighted:
        sample_weight = np.ones(N_SAMPLES)
    X_in = sp.csr_matrix(X) if sparse else X
    objective = LinearObjective(loss, ALPHA, fit_intercept)
    eps = 1e-6
    if isinstance(loss, WestonWatkinsHinge):
        # One coefficient moves a score by at most eps * max|x| (or eps for b);
        # the nearest kink must be farther away for exact central differences.
        scores = objective.raw_prediction(coef, X)
        rows = np.arange(N_SAMPLES)
        margins = scores - scores[rows, y][:, None] + loss.delta
        margins[rows, y] = np.inf
        assert np.abs(margins).min() > 100 * eps * max(1.0, np.abs(X).max())

    value, grad = objective.loss_gradient(coef, X_in, y, sample_weight)
    assert grad.shape == coef.shape
    assert_allclose(
        value,
        _reference_value(loss, ALPHA, fit_intercept, coef, X, y, sample_weight),
        rtol=1e-12,
    )
    numerical = np.empty_like(coef)
    for idx in np.ndindex(coef.shape):
        step = np.zeros_like(coef)
        step[idx] = eps
        plus = objective.value(coef + step, X_in, y, sample_weight)
        minus = objective.value(coef - step, X_in, y, sample_weight)
        numerical[idx] = (plus - minus) / (2 * eps)
    rel_err = np.linalg.norm(grad - numerical) / np.linalg.norm(numerical)
    assert rel_err <= 1e-6


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_dense_equals_csr(loss, fit_intercept):
    X, y, sample_weight, coef = _problem(1, fit_intercept)
    objective = LinearObjective(loss, ALPHA, fit_intercept)
    value, grad = objective.loss_gradient(coef, X, y, sample_weight)
    for X_sparse in (sp.csr_matrix(X), sp.csr_array(X)):
        value_sp, grad_sp = objective.loss_gradient(coef, X_sparse, y, sample_weight)
        assert_allclose(value_sp, value, rtol=1e-12)
        assert_allclose(grad_sp, grad, rtol=1e-12, atol=1e-15)
        assert_allclose(
            objective.raw_prediction(coef, X_sparse),
            objective.raw_prediction(coef, X),
            rtol=1e-12,
            atol=1e-15,
        )


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_raw_prediction_and_split(loss, fit_intercept):
    X, _, _, coef = _problem(2, fit_intercept)
    objective = LinearObjective(loss, ALPHA, fit_intercept)
    W, b = objective.split(coef)
    assert_array_equal(W, coef[:, :N_FEATURES])
    expected = X @ coef[:, :N_FEATURES].T
    if fit_intercept:
        assert_array_equal(b, coef[:, -1])
        expected += coef[:, -1]
    else:
        assert b is None
    assert_allclose(objective.raw_prediction(coef, X), expected, rtol=1e-13)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_penalty_gradient_is_two_alpha_w_and_spares_intercept(loss, sparse):
    X, y, sample_weight, coef = _problem(3, fit_intercept=True)
    X = sp.csr_matrix(X) if sparse else X
    value_0, grad_0 = LinearObjective(loss, 0.0, True).loss_gradient(
        coef, X, y, sample_weight
    )
    value_a, grad_a = LinearObjective(loss, ALPHA, True).loss_gradient(
        coef, X, y, sample_weight
    )
    W = coef[:, :-1]
    assert_allclose(value_a - value_0, ALPHA * np.sum(W**2), rtol=1e-12)
    assert_allclose(grad_a[:, :-1] - grad_0[:, :-1], 2 * ALPHA * W, rtol=1e-10)
    # The intercept column carries no penalty at all.
    assert_array_equal(grad_a[:, -1], grad_0[:, -1])


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_integer_weights_equal_repeated_rows(loss, sparse):
    X, y, _, coef = _problem(4, fit_intercept=True)
    repeats = np.random.default_rng(4).integers(0, 4, size=N_SAMPLES)
    X_rep, y_rep = np.repeat(X, repeats, axis=0), np.repeat(y, repeats)
    if sparse:
        X, X_rep = sp.csr_matrix(X), sp.csr_matrix(X_rep)
    objective = LinearObjective(loss, ALPHA, True)
    value_w, grad_w = objective.loss_gradient(coef, X, y, repeats.astype(float))
    value_r, grad_r = objective.loss_gradient(coef, X_rep, y_rep, np.ones(y_rep.size))
    assert_allclose(value_w, value_r, rtol=1e-12)
    assert_allclose(grad_w, grad_r, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("loss", LOSSES)
def test_weight_normalisation(loss):
    """Constant weights equal no weights; ``weight_sum`` is the normaliser."""
    X, y, sample_weight, coef = _problem(5, fit_intercept=True)
    objective = LinearObjective(loss, ALPHA, True)
    value_1, grad_1 = objective.loss_gradient(coef, X, y, np.ones(N_SAMPLES))
    value_c, grad_c = objective.loss_gradient(coef, X, y, np.full(N_SAMPLES, 3.5))
    assert_allclose(value_c, value_1, rtol=1e-13)
    assert_allclose(grad_c, grad_1, rtol=1e-13, atol=1e-16)
    # The unweighted objective is the plain mean of the per-sample losses.
    raw = objective.raw_prediction(coef, X)
    per_sample, _ = loss.loss_gradient(y, raw)
    W = coef[:, :-1]
    assert_allclose(value_1, per_sample.mean() + ALPHA * np.sum(W**2), rtol=1e-13)

    # An explicit weight_sum equal to the sum changes nothing; another value
    # scales the data term (value and gradient) and leaves the penalty alone.
    value, grad = objective.loss_gradient(coef, X, y, sample_weight)
    value_s, grad_s = objective.loss_gradient(
        coef, X, y, sample_weight, weight_sum=sample_weight.sum()
    )
    assert_allclose(value_s, value, rtol=1e-15)
    assert_allclose(grad_s, grad, rtol=1e-15)
    data_objective = LinearObjective(loss, 0.0, True)
    data_value, data_grad = data_objective.loss_gradient(coef, X, y, sample_weight)
    factor = 0.25
    value_h, grad_h = objective.loss_gradient(
        coef, X, y, sample_weight, weight_sum=sample_weight.sum() / factor
    )
    assert_allclose(value_h, factor * data_value + ALPHA * np.sum(W**2), rtol=1e-12)
    expected_grad = factor * data_grad
    expected_grad[:, :-1] += 2 * ALPHA * W
    assert_allclose(grad_h, expected_grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_inputs_not_mutated(loss, sparse):
    X, y, sample_weight, coef = _problem(6, fit_intercept=True)
    X = sp.csr_matrix(X) if sparse else X
    X_copy = X.copy()
    copies = y.copy(), sample_weight.copy(), coef.copy()
    objective = LinearObjective(loss, ALPHA, True)
    objective.loss_gradient(coef, X, y, sample_weight)
    objective.raw_prediction(coef, X)
    for before, after in zip(copies, (y, sample_weight, coef), strict=True):
        assert_array_equal(before, after)
    if sparse:
        assert_array_equal(X.toarray(), X_copy.toarray())
        assert_array_equal(X.indices, X_copy.indices)
    else:
        assert_array_equal(X, X_copy)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_float32_gradient_stays_float32(loss, sparse):
    X, y, sample_weight, coef = _problem(7, fit_intercept=True)
    value_64, grad_64 = LinearObjective(loss, ALPHA, True).loss_gradient(
        coef, X, y, sample_weight
    )
    X32 = X.astype(np.float32)
    X32 = sp.csr_matrix(X32) if sparse else X32
    value, grad = LinearObjective(loss, ALPHA, True).loss_gradient(
        coef.astype(np.float32), X32, y, sample_weight.astype(np.float32)
    )
    assert grad.dtype == np.float32
    raw = LinearObjective(loss, ALPHA, True).raw_prediction(
        coef.astype(np.float32), X32
    )
    assert raw.dtype == np.float32
    assert_allclose(value, value_64, rtol=1e-5)
    assert_allclose(grad, grad_64, rtol=1e-4, atol=1e-5)
