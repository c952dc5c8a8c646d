"""The margin and the penalty of the Weston–Watkins hinge are one parameter.

Substituting ``W = delta * W'`` and ``b = delta * b'`` in the objective gives

    L_{delta, alpha}(delta W', delta b') = delta * L_{1, alpha * delta}(W', b'),

so the minimiser for ``(delta, alpha)`` is ``delta`` times the minimiser for
``(1, alpha * delta)`` and the two models predict the same (docs/math.rst,
"The margin and the penalty"). With ``learning_rate_init="auto"`` (a step
proportional to ``delta``) every update of the first run is also ``delta``
times the corresponding update of the second, so whole training paths scale.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.preprocessing import StandardScaler

from sklearn_linclf import HingeClassifier


def _data(n_classes, class_sep, n_samples=150, random_state=1):
    X, y = make_classification(
        n_samples=n_samples,
        n_features=4,
        n_informative=3,
        n_redundant=0,
        n_classes=n_classes,
        n_clusters_per_class=1,
        class_sep=class_sep,
        random_state=random_state,
    )
    return StandardScaler().fit_transform(X), y


def _hinge_objective(clf, X, y, delta, alpha):
    """(data term, penalty) at a fitted model, written out in numpy.

    Independent of the library's objective code: scores from the public
    ``coef_`` / ``intercept_``, with the binary single row ``c = W_1 - W_0``
    expanded to ``W = (-c / 2, c / 2)`` (the zero-sum rows the solver keeps).
    """
    W, b = clf.coef_, clf.intercept_
    if W.shape[0] == 1:
        W, b = np.vstack([-W / 2, W / 2]), np.concatenate([-b / 2, b / 2])
    y_idx = np.searchsorted(clf.classes_, y)
    scores = X @ W.T + b
    true = scores[np.arange(len(y)), y_idx][:, None]
    hinges = np.maximum(0.0, scores - true + delta)
    hinges[np.arange(len(y)), y_idx] = 0.0
    return hinges.sum(axis=1).mean(), alpha * np.sum(W**2)


@pytest.mark.parametrize("n_classes, delta", [(2, 0.25), (3, 4.0)])
def test_minimiser_scales_with_delta_at_convergence(n_classes, delta):
    # Two full-batch runs on *different* paths (the second uses a fixed step
    # that is not the first one's scaled by delta), run to convergence: they
    # must reach the same minimiser up to the factor delta.
    X, y = _data(n_classes, class_sep=2.0)
    alpha = 0.05
    mean_sq_norm = np.mean(np.sum(X**2, axis=1)) + 1.0
    common = dict(tol=1e-9, n_iter_no_change=30, max_iter=3000, batch_size=len(y))
    big = HingeClassifier(delta=delta, alpha=alpha, **common).fit(X, y)
    unit = HingeClassifier(
        delta=1.0, alpha=alpha * delta, learning_rate_init=0.3 / mean_sq_norm, **common
    ).fit(X, y)

    # The paths differ from the first epoch on ...
    assert not np.allclose(
        big.loss_curve_[:3], delta * np.asarray(unit.loss_curve_[:3])
    )
    # ... but the optima agree: W, the objective value and every prediction.
    scale = np.abs(big.coef_).max()
    np.testing.assert_allclose(big.coef_, delta * unit.coef_, rtol=0, atol=5e-2 * scale)
    data_big, penalty_big = _hinge_objective(big, X, y, delta, alpha)
    data_unit, penalty_unit = _hinge_objective(unit, X, y, 1.0, alpha * delta)
    np.testing.assert_allclose(
        data_big + penalty_big, delta * (data_unit + penalty_unit), rtol=1e-4
    )
    # Hinges are active at the optimum: the margin shapes this solution.
    assert data_big > 0.1 * penalty_big
    np.testing.assert_array_equal(big.predict(X), unit.predict(X))


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("delta", [0.3, 3.0])
@pytest.mark.parametrize("learning_rate", ["adaptive", "invscaling"])
def test_auto_step_training_path_scales_exactly(
    learning_rate, delta, n_classes, sparse
):
    # Minibatches, shuffling and Nesterov momentum: with the same random_state
    # every update of (delta, alpha) is delta times that of (1, alpha * delta).
    X, y = _data(n_classes, class_sep=1.0)
    if sparse:
        X[np.abs(X) < 0.7] = 0.0
        X = sp.csr_matrix(X)
    alpha = 1e-2
    common = dict(
        batch_size=16, max_iter=8, tol=None, random_state=0, learning_rate=learning_rate
    )
    big = HingeClassifier(delta=delta, alpha=alpha, **common).fit(X, y)
    unit = HingeClassifier(delta=1.0, alpha=alpha * delta, **common).fit(X, y)

    assert big.t_ == unit.t_ == 8 * 10
    np.testing.assert_allclose(big.coef_, delta * unit.coef_, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(
        big.intercept_, delta * unit.intercept_, rtol=1e-10, atol=1e-14
    )
    np.testing.assert_allclose(
        big.loss_curve_, delta * np.asarray(unit.loss_curve_), rtol=1e-10
    )
    np.testing.assert_allclose(
        big.decision_function(X),
        delta * unit.decision_function(X),
        rtol=1e-9,
        atol=1e-12,
    )
    np.testing.assert_array_equal(big.predict(X), unit.predict(X))


def test_auto_step_paths_scale_with_early_stopping():
    # Early stopping monitors accuracy, which does not scale with delta, so the
    # runs stop at the same epoch and keep the same (scaled) best coefficients.
    X, y = _data(3, class_sep=1.0, n_samples=300)
    common = dict(batch_size=32, early_stopping=True, random_state=0, max_iter=100)
    big = HingeClassifier(delta=3.0, alpha=1e-3, **common).fit(X, y)
    unit = HingeClassifier(delta=1.0, alpha=3e-3, **common).fit(X, y)

    assert big.n_iter_ == unit.n_iter_ < 100
    assert big.validation_scores_ == unit.validation_scores_
    np.testing.assert_allclose(big.coef_, 3.0 * unit.coef_, rtol=1e-10, atol=1e-14)


def test_partial_fit_paths_scale():
    X, y = _data(3, class_sep=1.0, n_samples=240)
    big = HingeClassifier(delta=0.3, alpha=1e-2, batch_size=20, random_state=0)
    unit = HingeClassifier(delta=1.0, alpha=3e-3, batch_size=20, random_state=0)
    classes = np.unique(y)
    for chunk in np.array_split(np.arange(len(y)), 4):
        big.partial_fit(X[chunk], y[chunk], classes=classes)
        unit.partial_fit(X[chunk], y[chunk], classes=classes)
    np.testing.assert_allclose(big.coef_, 0.3 * unit.coef_, rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(big.predict(X), unit.predict(X))


def test_grid_search_scores_constant_along_alpha_times_delta():
    # A grid over both parameters refits one model per value of alpha * delta:
    # candidates with the same product get the same score on every split.
    X, y = _data(3, class_sep=1.0, n_samples=180)
    product = 1e-2
    deltas = [0.5, 1.0, 3.0]
    grid = [{"delta": [d], "alpha": [product / d]} for d in deltas]
    search = GridSearchCV(
        HingeClassifier(max_iter=15, tol=None, batch_size=32, random_state=0),
        grid,
        cv=StratifiedKFold(3),
    ).fit(X, y)
    splits = np.array([search.cv_results_[f"split{k}_test_score"] for k in range(3)]).T
    for row in splits[1:]:
        np.testing.assert_array_equal(row, splits[0])


@pytest.mark.parametrize("alpha, delta", [(30.0, 1.0), (3.0, 10.0)])
def test_auto_step_stable_when_alpha_times_delta_is_large(alpha, delta):
    # The penalty alone has curvature 2 * alpha, so the automatic step must stay
    # below about 1 / alpha however large delta / mean ||x||^2 is. A fitted
    # model must never be worse than all-zero coefficients, whose objective is
    # (n_classes - 1) * delta.
    X, y = _data(3, class_sep=1.0, n_samples=300)
    X = np.hstack([X, StandardScaler().fit_transform(X**2)])
    clf = HingeClassifier(alpha=alpha, delta=delta, random_state=0).fit(X, y)
    data_term, penalty = _hinge_objective(clf, X, y, delta, alpha)
    assert data_term + penalty <= 2 * delta
