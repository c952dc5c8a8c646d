"""A failed ``fit`` or ``partial_fit`` leaves the estimator exactly as it was.

Failures are injected part-way: a ``KeyboardInterrupt`` (or another
exception) raised by the loss at its k-th gradient evaluation, in the middle
of an epoch; divergence; and bad chunks. The fault goes through the
estimator's ``_get_loss``, so it reaches every minibatch of the dense and the
lazy sparse solver paths alike. Afterwards every attribute of the estimator,
public and private (coefficients, ``t_``, ``n_iter_``, ``loss_curve_``,
``classes_``, the momentum state, ...), must equal what it was before the
call, and training must continue as if the failed call had never happened.
"""

import copy

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from sklearn_linclf import HingeClassifier, SoftmaxClassifier
from sklearn_linclf._solver import loop

ESTIMATORS = [HingeClassifier, SoftmaxClassifier]
CLASSES = [0, 1, 2]
# 60 rows in batches of 10: six updates per epoch or per partial_fit call.
PARAMS = {"batch_size": 10, "random_state": 0}
N_BATCHES = 6


@pytest.fixture(params=ESTIMATORS, ids=lambda cls: cls.__name__)
def Estimator(request):
    return request.param


def make_chunks(n_chunks=3, n_samples=60, n_features=4, sparse=False):
    rng = np.random.RandomState(0)
    chunks = []
    for _ in range(n_chunks):
        X = rng.standard_normal((n_samples, n_features))
        X[X < -0.8] = 0.0
        y = rng.permutation(np.arange(n_samples) % 3)
        chunks.append((sp.csr_matrix(X) if sparse else X, y))
    return chunks


class FailingLoss:
    """A real loss that raises ``error`` on the ``fail_at``-th gradient call.

    ``calls`` is shared between all instances made for one estimator, since
    the estimator may build its loss more than once per call.
    """

    def __init__(self, loss, calls, fail_at, error):
        self._loss, self._calls = loss, calls
        self._fail_at, self._error = fail_at, error

    def __getattr__(self, name):
        return getattr(self._loss, name)

    def loss_gradient(self, y, raw, sample_weight=None):
        self._calls[0] += 1
        if self._calls[0] == self._fail_at:
            raise self._error
        return self._loss.loss_gradient(y, raw, sample_weight)


def inject_failure(monkeypatch, model, fail_at, error):
    """Make ``model`` fail at the ``fail_at``-th evaluation of its loss."""
    make_loss = type(model)._get_loss
    calls = [0]
    monkeypatch.setattr(
        model,
        "_get_loss",
        lambda: FailingLoss(make_loss(model), calls, fail_at, error),
        raising=False,
    )
    # The compiled sparse epoch evaluates the loss in C, once per minibatch:
    # if one of its batches is the failing one, the epoch runs (changing the
    # solver's state) and then fails.
    sparse_epoch = loop.sparse_epoch

    def failing_sparse_epoch(*args, **kwargs):
        starts = args[7]
        result = sparse_epoch(*args, **kwargs)
        if calls[0] < fail_at <= calls[0] + starts.size:
            calls[0] = fail_at
            raise error
        calls[0] += starts.size
        return result

    monkeypatch.setattr(loop, "sparse_epoch", failing_sparse_epoch)
    return calls


def snapshot(model):
    # The injected `_get_loss` is the test's, not the estimator's state.
    return copy.deepcopy({k: v for k, v in vars(model).items() if k != "_get_loss"})


def assert_same_state(before, after):
    assert sorted(after) == sorted(before), "attributes were added or removed"
    for name, old in before.items():
        new = after[name]
        if isinstance(old, np.ndarray):
            assert isinstance(new, np.ndarray), name
            assert new.dtype == old.dtype, name
            np.testing.assert_array_equal(new, old, err_msg=name)
        elif isinstance(old, (list, tuple)):
            assert type(new) is type(old) and len(new) == len(old), name
            np.testing.assert_array_equal(np.asarray(new), np.asarray(old), name)
        elif isinstance(old, dict):
            assert new == old, name
        else:
            assert new == old or (new is None and old is None), name


def assert_same_model(model, reference):
    for name in ("coef_", "intercept_", "classes_"):
        np.testing.assert_array_equal(getattr(model, name), getattr(reference, name))
    assert model.t_ == reference.t_
    assert model.n_iter_ == reference.n_iter_
    np.testing.assert_array_equal(model.loss_curve_, reference.loss_curve_)


ERRORS = [
    pytest.param(KeyboardInterrupt(), id="KeyboardInterrupt"),
    pytest.param(MemoryError("injected"), id="MemoryError"),
    pytest.param(FloatingPointError("injected"), id="FloatingPointError"),
]


# ---------------------------------------------------------------------------
# partial_fit


@pytest.mark.parametrize("error", ERRORS)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("fail_at", [1, 4])
def test_interrupted_partial_fit_keeps_the_model(
    Estimator, monkeypatch, error, sparse, fail_at
):
    (X1, y1), (X2, y2), (X3, y3) = make_chunks(sparse=sparse)
    model = Estimator(**PARAMS).partial_fit(X1, y1, classes=CLASSES)
    reference = clone(model).partial_fit(X1, y1, classes=CLASSES)
    before = snapshot(model)

    calls = inject_failure(monkeypatch, model, fail_at, error)
    with pytest.raises(type(error)):
        model.partial_fit(X2, y2)
    assert calls[0] == fail_at
    assert_same_state(before, snapshot(model))

    # Without the fault, the stream continues exactly as if the failed call
    # had never been made: the hidden state (momentum, step) is intact too.
    monkeypatch.undo()
    model.partial_fit(X3, y3)
    reference.partial_fit(X3, y3)
    assert_same_model(model, reference)


def test_interrupted_first_partial_fit_leaves_the_estimator_unfitted(
    Estimator, monkeypatch
):
    ((X, y),) = make_chunks(n_chunks=1)
    model = Estimator(**PARAMS)
    inject_failure(monkeypatch, model, 3, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        model.partial_fit(X, y, classes=CLASSES)
    assert not hasattr(model, "coef_")
    with pytest.raises(NotFittedError):
        check_is_fitted(model)
    with pytest.raises(NotFittedError):
        model.predict(X)


def _bad_chunks():
    ((X, y),) = make_chunks(n_chunks=1)
    nan_X = X.copy()
    nan_X[7, 1] = np.nan
    negative = np.ones(len(y))
    negative[3] = -1.0
    return [
        pytest.param(nan_X, y, {}, ValueError, "Input X contains NaN", id="nan-X"),
        pytest.param(X[:, :3], y, {}, ValueError, "X has 3 features", id="n-features"),
        pytest.param(
            X,
            y + 1,
            {},
            ValueError,
            r"labels not in classes: \[3\]",
            id="unknown-label",
        ),
        pytest.param(
            X,
            y,
            {"sample_weight": negative},
            ValueError,
            "Negative values",
            id="negative-weight",
        ),
        pytest.param(
            X,
            y,
            {"classes": [0, 1]},
            ValueError,
            "differs from the classes",
            id="other-classes",
        ),
    ]


@pytest.mark.parametrize("X_bad, y_bad, kwargs, error, match", _bad_chunks())
def test_bad_partial_fit_chunk_keeps_the_model(
    Estimator, X_bad, y_bad, kwargs, error, match
):
    (X1, y1), (X2, y2) = make_chunks(n_chunks=2)
    model = Estimator(**PARAMS).partial_fit(X1, y1, classes=CLASSES)
    model.partial_fit(X2, y2)
    before = snapshot(model)
    with pytest.raises(error, match=match):
        model.partial_fit(X_bad, y_bad, **kwargs)
    assert_same_state(before, snapshot(model))


def test_diverging_partial_fit_keeps_the_model(Estimator):
    # Far too large a step: the parameters grow from call to call until the
    # divergence is detected (on the first call or a later one); the call that
    # reports it must change nothing.
    ((X, y),) = make_chunks(n_chunks=1)
    model = Estimator(learning_rate_init=1e6, **PARAMS)
    for _ in range(100):
        before = snapshot(model)
        try:
            model.partial_fit(X, y, classes=CLASSES)
        except FloatingPointError as exc:
            assert "learning_rate_init" in str(exc)
            break
    else:
        pytest.fail("partial_fit never reported the divergence")
    assert_same_state(before, snapshot(model))


# ---------------------------------------------------------------------------
# fit with warm_start


@pytest.mark.parametrize("error", ERRORS)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_interrupted_warm_start_fit_keeps_the_model(
    Estimator, monkeypatch, error, sparse
):
    (X1, y1), (X2, y2) = make_chunks(n_chunks=2, sparse=sparse)
    model = Estimator(warm_start=True, max_iter=5, tol=None, **PARAMS).fit(X1, y1)
    reference = clone(model).fit(X1, y1)
    before = snapshot(model)

    # Fail in the middle of the third epoch of the warm-started fit.
    fail_at = 2 * N_BATCHES + 3
    calls = inject_failure(monkeypatch, model, fail_at, error)
    with pytest.raises(type(error)):
        model.fit(X2, y2)
    assert calls[0] == fail_at
    assert_same_state(before, snapshot(model))

    monkeypatch.undo()
    model.fit(X2, y2)
    reference.fit(X2, y2)
    assert_same_model(model, reference)


@pytest.mark.parametrize("warm_start", [True, False])
def test_interrupted_first_fit_leaves_the_estimator_unfitted(
    Estimator, monkeypatch, warm_start
):
    ((X, y),) = make_chunks(n_chunks=1)
    model = Estimator(warm_start=warm_start, **PARAMS)
    inject_failure(monkeypatch, model, N_BATCHES + 2, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, y)
    assert not hasattr(model, "coef_")
    with pytest.raises(NotFittedError):
        check_is_fitted(model)
    with pytest.raises(NotFittedError):
        model.predict(X)


def test_diverged_first_fit_leaves_the_estimator_unfitted(Estimator):
    ((X, y),) = make_chunks(n_chunks=1)
    model = Estimator(learning_rate_init=1e6, **PARAMS)
    with pytest.raises(FloatingPointError, match="learning_rate_init"):
        model.fit(X, y)
    with pytest.raises(NotFittedError):
        model.predict(X)


FAILING_REFITS = {
    # name: (change to X, change to y, parameters, error, message)
    "nan-X": ("nan", None, {}, ValueError, "Input X contains NaN"),
    "n-features": (
        "drop-column",
        None,
        {},
        ValueError,
        "(X has 3 features, but .* is expecting 4 features|feature names should match)",
    ),
    "other-classes": (None, "binary", {}, ValueError, "same classes"),
    "divergence": (
        None,
        None,
        {"learning_rate_init": 1e6, "max_iter": 200},
        FloatingPointError,
        "learning_rate_init",
    ),
}


@pytest.mark.parametrize("container", ["DataFrame", "ndarray"])
@pytest.mark.parametrize("case", list(FAILING_REFITS))
def test_failed_warm_start_fit_keeps_the_model(Estimator, case, container):
    # Trained on a DataFrame, so that feature_names_in_ is part of the state;
    # the failing call gets a DataFrame or a bare array.
    change_X, change_y, params, error, match = FAILING_REFITS[case]
    ((X, y),) = make_chunks(n_chunks=1)
    columns = ["a", "b", "c", "d"]
    model = Estimator(warm_start=True, max_iter=5, tol=None, **PARAMS)
    model.fit(pd.DataFrame(X, columns=columns), y)

    X_bad, y_bad = X.copy(), y
    if change_X == "nan":
        X_bad[7, 1] = np.nan
    elif change_X == "drop-column":
        X_bad, columns = X_bad[:, :3], columns[:3]
    if change_y == "binary":
        y_bad = y % 2
    if container == "DataFrame":
        X_bad = pd.DataFrame(X_bad, columns=columns)

    model.set_params(**params)
    before = snapshot(model)
    with pytest.raises(error, match=match):
        model.fit(X_bad, y_bad)
    assert_same_state(before, snapshot(model))


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_failed_refit_keeps_the_model(Estimator, sparse):
    # Without warm_start a refit starts afresh, but a failed one still must
    # not damage the model already there.
    ((X, y),) = make_chunks(n_chunks=1, sparse=sparse)
    model = Estimator(max_iter=5, tol=None, **PARAMS).fit(X, y)
    # Data of another width, and a step that diverges.
    model.set_params(learning_rate_init=1e6, max_iter=200)
    before = snapshot(model)
    with pytest.raises(FloatingPointError, match="learning_rate_init"):
        model.fit(X[:, :3], y)
    assert_same_state(before, snapshot(model))
