"""Divergence is loud, never a silent NaN, infinite or exploded model.

A step that is far too large, or features around 1e30 with a fixed step, must
either end in a ``FloatingPointError`` that names the epoch and the remedy, or
produce a sound model: finite, and with a lower objective than the all-zero
model it started from. The objective is recomputed here from its definition,
independently of the package.

The losses themselves must stay finite (log-sum-exp, no ``exp`` overflow) for
huge but finite scores, and no ``RuntimeWarning`` may escape anywhere.
"""

import re

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import logsumexp
from scipy.special import softmax as scipy_softmax

from sklearn_linclf import HingeClassifier, SoftmaxClassifier
from sklearn_linclf._loss import (
    SoftmaxCrossEntropy,
    WestonWatkinsHinge,
    log_softmax,
    softmax,
)

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

ESTIMATORS = [HingeClassifier, SoftmaxClassifier]


@pytest.fixture(params=ESTIMATORS, ids=lambda cls: cls.__name__)
def Estimator(request):
    return request.param


def make_data(n_samples=60, n_features=4, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n_samples, n_features))
    y = np.arange(n_samples) % 3
    return X, y


def reference_objective(model, X, y):
    """The objective at the model's coefficients, from its definition."""
    X = X.toarray() if sp.issparse(X) else X
    y_idx = np.searchsorted(model.classes_, y)
    rows = np.arange(X.shape[0])
    with np.errstate(over="ignore", invalid="ignore"):
        S = X @ model.coef_.T + model.intercept_
        if isinstance(model, HingeClassifier):
            margins = S - S[rows, y_idx][:, None] + model.delta
            margins[rows, y_idx] = 0.0
            data_term = np.maximum(margins, 0.0).sum(axis=1).mean()
        else:
            data_term = (logsumexp(S, axis=1) - S[rows, y_idx]).mean()
        return data_term + model.alpha * np.sum(model.coef_**2)


def zero_model_objective(model):
    """Objective of W = 0, b = 0, where every score is 0."""
    n_classes = len(model.classes_)
    if isinstance(model, HingeClassifier):
        return (n_classes - 1) * model.delta
    return np.log(n_classes)


def assert_divergence_message(message):
    match = re.search(r"epoch (\d+)", message)
    assert match, f"the error does not name the epoch: {message!r}"
    assert "learning_rate_init" in message
    assert re.search(r"scal(e|ing)", message)
    return int(match.group(1))


def fit_or_fail_loudly(model, X, y):
    """Fit; a divergence error must be explicit and a returned model sound."""
    try:
        model.fit(X, y)
    except FloatingPointError as exc:
        epoch = assert_divergence_message(str(exc))
        assert 1 <= epoch <= model.max_iter
        assert not hasattr(model, "coef_")
        return
    except ValueError as exc:
        # Data that cannot be trained on at all (say, squared row norms that
        # overflow) may be rejected up front, with the remedy.
        assert re.search(r"scal(e|ing)", str(exc)), str(exc)
        assert not hasattr(model, "coef_")
        return
    assert np.isfinite(model.coef_).all() and np.isfinite(model.intercept_).all()
    value = reference_objective(model, X, y)
    zero = zero_model_objective(model)
    assert value < zero, (
        f"fit returned a model with objective {value:.3g}, no better than the "
        f"all-zero model's {zero:.3g}, without an error"
    )


# ---------------------------------------------------------------------------
# Training


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_divergence_error_names_epoch_and_remedy(Estimator, sparse):
    X, y = make_data()
    if sparse:
        X = sp.csr_matrix(X)
    model = Estimator(learning_rate_init=1e6, batch_size=10, random_state=0)
    with pytest.raises(FloatingPointError) as excinfo:
        model.fit(X, y)
    message = str(excinfo.value)
    epoch = assert_divergence_message(message)
    assert 1 <= epoch <= model.max_iter
    assert "StandardScaler" in message
    assert not hasattr(model, "coef_")


CASES = {
    # name: (feature scale, estimator parameters)
    "step-1e6-full-batch": (1.0, {"learning_rate_init": 1e6}),
    "step-1e6-minibatch": (1.0, {"learning_rate_init": 1e6, "batch_size": 10}),
    "step-1e6-constant": (
        1.0,
        {"learning_rate_init": 1e6, "learning_rate": "constant", "momentum": 0.0},
    ),
    "features-1e30-step-0.1": (1e30, {"learning_rate_init": 0.1}),
    "features-1e30-auto-step": (1e30, {}),
    "features-1e160-auto-step": (1e160, {}),
}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_no_silently_diverged_model(Estimator, case, sparse):
    scale, params = CASES[case]
    X, y = make_data()
    X = X * scale
    if sparse:
        X = sp.csr_matrix(X)
    fit_or_fail_loudly(Estimator(random_state=0, max_iter=50, **params), X, y)


def test_partial_fit_never_stores_a_non_finite_model(Estimator):
    X, y = make_data()
    model = Estimator(learning_rate_init=1e6, batch_size=10, random_state=0)
    for _ in range(60):
        before = None if not hasattr(model, "coef_") else model.coef_.copy()
        try:
            model.partial_fit(X, y, classes=[0, 1, 2])
        except FloatingPointError as exc:
            message = str(exc)
            assert "learning_rate_init" in message
            assert re.search(r"scal(e|ing)", message)
            if before is None:
                assert not hasattr(model, "coef_")
            else:
                np.testing.assert_array_equal(model.coef_, before)
            break
        assert np.isfinite(model.coef_).all()
        assert np.isfinite(model.intercept_).all()
    else:
        # Never raised: then the stream must have produced a sound model.
        assert reference_objective(model, X, y) < zero_model_objective(model)


@pytest.mark.parametrize("batch_size", ["auto", 10])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_partial_fit_with_a_chunk_of_huge_features(Estimator, sparse, batch_size):
    # The step was set by the first chunk; a later chunk around 1e200 makes it
    # far too large.
    X, y = make_data()
    model = Estimator(batch_size=batch_size, random_state=0)
    model.partial_fit(X, y, classes=[0, 1, 2])
    before = model.coef_.copy()
    X_huge = X * 1e200
    if sparse:
        X_huge = sp.csr_matrix(X_huge)
    try:
        model.partial_fit(X_huge, y)
    except FloatingPointError as exc:
        assert "learning_rate_init" in str(exc)
        assert re.search(r"scal(e|ing)", str(exc))
        assert "partial_fit call 2" in str(exc)  # not "epoch 1"
        np.testing.assert_array_equal(model.coef_, before)
        return
    assert np.isfinite(model.coef_).all() and np.isfinite(model.intercept_).all()


# ---------------------------------------------------------------------------
# The losses at huge scores


LOSSES = [WestonWatkinsHinge(delta=1.0), SoftmaxCrossEntropy()]


def reference_loss_gradient(loss, y, raw):
    """Per-sample loss and score gradient, written out row by row."""
    n_samples, n_classes = raw.shape
    values = np.empty(n_samples)
    grad = np.zeros_like(raw)
    for i in range(n_samples):
        s, yi = raw[i], y[i]
        if isinstance(loss, WestonWatkinsHinge):
            total = 0.0
            for j in range(n_classes):
                if j == yi:
                    continue
                margin = s[j] - s[yi] + loss.delta
                if margin > 0:
                    total += margin
                    grad[i, j] = 1.0
                    grad[i, yi] -= 1.0
            values[i] = total
        else:
            values[i] = logsumexp(s) - s[yi]
            grad[i] = scipy_softmax(s)
            grad[i, yi] -= 1.0
    return values, grad


@pytest.mark.parametrize("loss", LOSSES, ids=lambda loss: type(loss).__name__)
@pytest.mark.parametrize("scale", [1e250, 1e300])
def test_loss_finite_for_huge_scores(loss, scale):
    # Differences of the scores stay below the largest float: every loss value
    # and gradient is finite and must be computed without overflow.
    rng = np.random.RandomState(0)
    raw = rng.uniform(-1, 1, size=(30, 4)) * scale
    y = rng.randint(0, 4, size=30)
    value, grad = loss.loss_gradient(y, raw)
    expected_value, expected_grad = reference_loss_gradient(loss, y, raw)
    assert np.isfinite(value).all() and np.isfinite(grad).all()
    np.testing.assert_allclose(value, expected_value, rtol=1e-12)
    np.testing.assert_array_equal(grad, expected_grad)


@pytest.mark.parametrize("loss", LOSSES, ids=lambda loss: type(loss).__name__)
def test_loss_at_scores_near_float_max(loss):
    # s_j - s_y of row 0 is 3e308, beyond the largest float: the loss of that
    # row is +inf (its exact value rounds to +inf), but the gradient is
    # bounded and exact, nothing is NaN, and no RuntimeWarning escapes.
    big = 1.5e308
    raw = np.array([[big, -big, 0.0], [big, -big, 0.0], [-big, big, big]])
    y = np.array([1, 0, 0])
    value, grad = loss.loss_gradient(y, raw)
    assert np.isposinf(value[0])
    assert value[1] == 0.0
    assert np.isposinf(value[2])
    if isinstance(loss, WestonWatkinsHinge):
        expected_grad = [[1, -2, 1], [0, 0, 0], [-2, 1, 1]]
    else:
        expected_grad = [[1, -1, 0], [0, 0, 0], [-1, 0.5, 0.5]]
    np.testing.assert_array_equal(grad, expected_grad)


@pytest.mark.parametrize("big", [1e300, 1.5e308])
def test_softmax_and_log_softmax_for_huge_scores(big):
    raw = np.array([[big, -big, 0.0], [0.0, 1.0, 2.0]])
    proba = softmax(raw)
    log_proba = log_softmax(raw)
    np.testing.assert_array_equal(proba[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(proba[1], scipy_softmax(raw[1]), rtol=1e-14)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-15)
    assert log_proba[0, 0] == 0.0
    # log p = -2 * big for class 1, which rounds to -inf beyond the float range.
    expected = -2 * big if np.isfinite(-2 * big) else -np.inf
    assert log_proba[0, 1] == expected
    assert log_proba[0, 2] == -big
    np.testing.assert_allclose(log_proba[1], np.log(scipy_softmax(raw[1])), rtol=1e-13)


def test_predict_proba_for_inputs_far_outside_the_training_range():
    X, y = make_data()
    model = SoftmaxClassifier(max_iter=20, tol=None, random_state=0).fit(X, y)
    X_far = X[:10] * 1e290  # scores around 1e290: finite
    proba = model.predict_proba(X_far)
    log_proba = model.predict_log_proba(X_far)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-15)
    np.testing.assert_array_equal(
        model.classes_[proba.argmax(axis=1)], model.predict(X_far)
    )
    assert not np.isnan(log_proba).any()
    np.testing.assert_array_equal(log_proba.argmax(axis=1), proba.argmax(axis=1))
