"""Tests of the estimators against independent solvers and the scikit-learn API.

Optima (LogisticRegression, a QP for the hinge), input formats and dtypes,
weights, the scikit-learn workflow, fitted attributes, and untuned defaults.
"""

import math
import pickle
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import Bounds, minimize
from scipy.special import expit
from sklearn.base import clone
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from sklearn_linclf import HingeClassifier, SoftmaxClassifier
from sklearn_linclf._loss import SoftmaxCrossEntropy, WestonWatkinsHinge
from sklearn_linclf._objective import LinearObjective

ESTIMATORS = [HingeClassifier, SoftmaxClassifier]
EST_IDS = ["hinge", "softmax"]


def _standardised(n_samples, n_features, n_classes, seed, **kwargs):
    params = dict(
        n_informative=min(n_features, max(3, n_classes)),
        n_redundant=0,
        n_clusters_per_class=1,
        random_state=seed,
    )
    params.update(kwargs)
    X, y = make_classification(
        n_samples=n_samples, n_features=n_features, n_classes=n_classes, **params
    )
    return StandardScaler().fit_transform(X), y


def _sparse_data(n_samples=120, n_features=10, n_classes=3, seed=0):
    """Standardised data with about half of the entries set to zero."""
    X, y = _standardised(n_samples, n_features, n_classes, seed)
    X[np.random.default_rng(seed).random(X.shape) < 0.5] = 0.0
    return X, y


def _objective_value(objective, clf, X, y, sample_weight=None):
    """Our objective at a fitted model (multiclass or collapsed binary)."""
    W, b = clf.coef_, clf.intercept_
    if W.shape[0] == 1:
        # Both losses depend on s_1 - s_0 only; the symmetric split is the
        # minimum-norm pair with that difference.
        W, b = np.vstack([-W / 2, W / 2]), np.concatenate([-b / 2, b / 2])
    coef = np.hstack([W, b[:, None]]).astype(np.float64)
    y_idx = np.searchsorted(clf.classes_, y)
    if sample_weight is None:
        sample_weight = np.ones(len(y))
    return objective.value(coef, X, y_idx, sample_weight)


# ---------------------------------------------------------------------------
# Optima against independent full-batch solvers


# Full batch in both. "fixed epochs" checks the point the iteration converges
# to; "small tol" also checks that the stopping rule does not stop short of it.
SOFTMAX_SETTINGS = {
    "fixed epochs": dict(learning_rate="constant", tol=None, max_iter=300),
    "small tol": dict(tol=1e-10, n_iter_no_change=10, max_iter=5000),
}


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("settings", list(SOFTMAX_SETTINGS))
def test_softmax_matches_logistic_regression(weighted, settings):
    X, y = _standardised(300, 8, 4, seed=0, n_informative=5)
    n = X.shape[0]
    sample_weight = (
        np.random.default_rng(0).uniform(0.5, 2.0, n) if weighted else np.ones(n)
    )
    alpha = 1e-2
    # LogisticRegression minimises C sum_i w_i L_i + ||W||^2 / 2; dividing by
    # C sum_i w_i gives our objective with alpha = 1 / (2 C sum_i w_i).
    lr = LogisticRegression(
        C=1 / (2 * alpha * sample_weight.sum()), tol=1e-12, max_iter=10_000
    )
    lr.fit(X, y, sample_weight=sample_weight)
    clf = SoftmaxClassifier(
        alpha=alpha, batch_size=n, random_state=0, **SOFTMAX_SETTINGS[settings]
    )
    clf.fit(X, y, sample_weight=sample_weight)

    objective = LinearObjective(SoftmaxCrossEntropy(), alpha, True)
    ours = _objective_value(objective, clf, X, y, sample_weight)
    reference = _objective_value(objective, lr, X, y, sample_weight)
    assert abs(ours - reference) <= 1e-4 * reference, (
        f"objective {ours:.10g} vs {reference:.10g} after {clf.n_iter_} epochs"
    )
    assert_allclose(clf.predict_proba(X), lr.predict_proba(X), atol=1e-3)
    assert_array_equal(clf.predict(X), lr.predict(X))


def test_binary_softmax_matches_binary_logistic_regression():
    """The collapsed binary model is the score difference s_1 - s_0.

    With two classes the optimum has W_0 = -W_1 (softmax gradients sum to zero
    over classes), so for c = W_1 - W_0 the penalty is alpha * ||c||^2 / 2 and
    the objective is binary logistic regression with C = 1 / (alpha * n).
    """
    X, y = _standardised(200, 5, 2, seed=1, flip_y=0.1)
    n, alpha = X.shape[0], 1e-2
    lr = LogisticRegression(C=1 / (alpha * n), tol=1e-12, max_iter=10_000).fit(X, y)
    clf = SoftmaxClassifier(
        alpha=alpha, batch_size=n, random_state=0, **SOFTMAX_SETTINGS["fixed epochs"]
    ).fit(X, y)
    assert clf.coef_.shape == (1, X.shape[1])
    assert clf.intercept_.shape == (1,)
    assert_allclose(clf.coef_, lr.coef_, rtol=1e-4, atol=1e-6)
    assert_allclose(clf.intercept_, lr.intercept_, rtol=1e-4, atol=1e-6)
    assert_allclose(clf.decision_function(X), lr.decision_function(X), atol=1e-4)


def _hinge_qp(X, y_idx, n_classes, alpha, delta, sample_weight):
    """Minimum of the Weston–Watkins objective as a QP in (W, b, xi).

    minimise  sum_{i, j != y_i} c_i xi_ij + alpha ||W||^2,  c_i = w_i / sum(w)
    s.t.      xi_ij >= s_ij - s_iy_i + delta,  xi_ij >= 0,   s_i = W x_i + b

    solved by SLSQP (full batch, exact constraints). Returns ``coef`` in the
    ``(n_classes, n_features + 1)`` layout.
    """
    n, d = X.shape
    k = n_classes
    n_wb = k * d + k
    pairs = [(i, j) for i in range(n) for j in range(k) if j != y_idx[i]]
    m = len(pairs)
    A = np.zeros((m, n_wb + m))  # A z >= delta
    for r, (i, j) in enumerate(pairs):
        yi = y_idx[i]
        A[r, yi * d : (yi + 1) * d] += X[i]
        A[r, j * d : (j + 1) * d] -= X[i]
        A[r, k * d + yi] += 1
        A[r, k * d + j] -= 1
        A[r, n_wb + r] = 1
    c = np.zeros(n_wb + m)
    c[n_wb:] = sample_weight[[i for i, _ in pairs]] / sample_weight.sum()

    def fun(z):
        W = z[: k * d]
        grad = c.copy()
        grad[: k * d] += 2 * alpha * W
        return c @ z + alpha * (W @ W), grad

    z0 = np.concatenate([np.zeros(n_wb), np.full(m, delta)])  # feasible
    # Products this small only lose time to BLAS threads.
    with threadpool_limits(1):
        result = minimize(
            fun,
            z0,
            jac=True,
            method="SLSQP",
            bounds=Bounds(np.r_[np.full(n_wb, -np.inf), np.zeros(m)], np.inf),
            constraints=[
                {"type": "ineq", "fun": lambda z: A @ z - delta, "jac": lambda z: A}
            ],
            options={"maxiter": 1000, "ftol": 1e-12},
        )
    assert result.success, result.message
    z = result.x
    return np.hstack([z[: k * d].reshape(k, d), z[k * d : n_wb, None]])


HINGE_ALPHA, HINGE_DELTA = 0.05, 1.0


@pytest.fixture(scope="module")
def hinge_reference():
    """Small problems and the reference minimum of the hinge objective."""
    cases = {}
    for name, n_classes, weighted in [
        ("3 classes", 3, False),
        ("3 classes, weighted", 3, True),
        ("binary", 2, False),
    ]:
        X, y = _standardised(50, 4, n_classes, seed=0, class_sep=0.8)
        rng = np.random.default_rng(1)
        sample_weight = rng.uniform(0.5, 2.0, 50) if weighted else np.ones(50)
        objective = LinearObjective(WestonWatkinsHinge(HINGE_DELTA), HINGE_ALPHA, True)
        coef = _hinge_qp(X, y, n_classes, HINGE_ALPHA, HINGE_DELTA, sample_weight)
        value = objective.value(coef, X, y, sample_weight)
        cases[name] = X, y, sample_weight, objective, value
    return cases


HINGE_SETTINGS = {
    # Full batch (50 rows) and many epochs; either schedule gets there.
    "adaptive": dict(batch_size=50, max_iter=3000, tol=1e-8, n_iter_no_change=20),
    "invscaling": dict(
        batch_size=50, max_iter=300, tol=None, learning_rate="invscaling"
    ),
}


@pytest.mark.parametrize("case", ["3 classes", "3 classes, weighted", "binary"])
@pytest.mark.parametrize("settings", list(HINGE_SETTINGS))
def test_hinge_reaches_reference_optimum(hinge_reference, case, settings):
    X, y, sample_weight, objective, reference = hinge_reference[case]
    clf = HingeClassifier(
        alpha=HINGE_ALPHA, delta=HINGE_DELTA, random_state=0, **HINGE_SETTINGS[settings]
    )
    clf.fit(X, y, sample_weight=sample_weight)
    ours = _objective_value(objective, clf, X, y, sample_weight)
    # The reference is a true minimum (nothing we find is lower) ...
    assert reference <= ours * (1 + 1e-7)
    # ... and we get within 1% of it.
    assert ours <= 1.01 * reference


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
def test_default_solver_settings_reach_optimum_on_small_data(
    hinge_reference, Estimator
):
    """Defaults (only alpha set) on 50 rows land within 1% of the optimum.

    50 rows are one full batch, so an epoch is a single update.
    """
    X, y, sample_weight, hinge_objective, hinge_min = hinge_reference["3 classes"]
    if Estimator is HingeClassifier:
        objective, reference = hinge_objective, hinge_min
    else:
        objective = LinearObjective(SoftmaxCrossEntropy(), HINGE_ALPHA, True)
        lr = LogisticRegression(
            C=1 / (2 * HINGE_ALPHA * len(y)), tol=1e-12, max_iter=10_000
        ).fit(X, y)
        reference = _objective_value(objective, lr, X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = Estimator(alpha=HINGE_ALPHA, random_state=0).fit(X, y)
    ours = _objective_value(objective, clf, X, y)
    assert ours <= 1.01 * reference, (
        f"objective {ours:.6g} vs minimum {reference:.6g} after {clf.n_iter_} epochs"
    )


# ---------------------------------------------------------------------------
# Input formats, dtypes, repeatability


SPARSE_FORMATS = [
    sp.csr_matrix,
    sp.csc_matrix,
    sp.coo_matrix,
    sp.csr_array,
    sp.coo_array,
]


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("batch_size", [16, 120], ids=["minibatch", "full"])
def test_sparse_input_gives_dense_model(Estimator, batch_size):
    X, y = _sparse_data()
    params = dict(
        alpha=1e-3, batch_size=batch_size, max_iter=20, tol=None, random_state=0
    )
    dense = Estimator(**params).fit(X, y)
    for to_sparse in SPARSE_FORMATS:
        clf = Estimator(**params).fit(to_sparse(X), y)
        assert clf.n_iter_ == dense.n_iter_
        assert clf.t_ == dense.t_
        assert_allclose(clf.coef_, dense.coef_, rtol=1e-10, atol=1e-12)
        assert_allclose(clf.intercept_, dense.intercept_, rtol=1e-10, atol=1e-12)
        assert_allclose(clf.loss_curve_, dense.loss_curve_, rtol=1e-10)
        assert_allclose(
            clf.decision_function(to_sparse(X)),
            dense.decision_function(X),
            rtol=1e-10,
            atol=1e-12,
        )


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("n_classes", [3, 2])
def test_float32_stays_float32(Estimator, sparse, n_classes):
    X, y = _sparse_data(n_classes=n_classes)
    params = dict(alpha=1e-3, batch_size=16, max_iter=20, tol=None, random_state=0)
    X32 = X.astype(np.float32)
    X32 = sp.csr_matrix(X32) if sparse else X32
    clf = Estimator(**params).fit(X32, y)
    clf64 = Estimator(**params).fit(X, y)
    assert clf.coef_.dtype == np.float32
    assert clf.intercept_.dtype == np.float32
    scores = clf.decision_function(X32)
    assert scores.dtype == np.float32
    if Estimator is SoftmaxClassifier:
        assert clf.predict_proba(X32).dtype == np.float32
        assert clf.predict_log_proba(X32).dtype == np.float32
    # Same algorithm, rounded differently: close to the float64 model.
    scale = np.abs(clf64.decision_function(X)).max()
    assert_allclose(scores, clf64.decision_function(X), atol=1e-3 * scale)


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_refit_is_bitwise_repeatable(Estimator, sparse, early_stopping):
    X, y = _sparse_data()
    X = sp.csr_matrix(X) if sparse else X
    clf = Estimator(
        batch_size=16, max_iter=15, early_stopping=early_stopping, random_state=42
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        first = clf.fit(X, y)
        coef, intercept, curve = (
            first.coef_.copy(),
            first.intercept_.copy(),
            list(first.loss_curve_),
        )
        second = clf.fit(X, y)
        third = clone(clf).fit(X, y)
    for other in (second, third):
        assert np.array_equal(other.coef_, coef)
        assert np.array_equal(other.intercept_, intercept)
        assert other.loss_curve_ == curve


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
def test_random_state_changes_minibatch_order(Estimator):
    X, y = _sparse_data()
    params = dict(batch_size=16, max_iter=5, tol=None)
    a = Estimator(random_state=0, **params).fit(X, y)
    b = Estimator(random_state=1, **params).fit(X, y)
    assert not np.array_equal(a.coef_, b.coef_)
    # Without shuffling the order is fixed whatever the seed.
    c = Estimator(random_state=0, shuffle=False, **params).fit(X, y)
    d = Estimator(random_state=1, shuffle=False, **params).fit(X, y)
    assert np.array_equal(c.coef_, d.coef_)


# ---------------------------------------------------------------------------
# Sample and class weights


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
def test_unit_sample_weight_equals_none(Estimator):
    X, y = _sparse_data()
    params = dict(batch_size=16, max_iter=10, tol=None, random_state=0)
    a = Estimator(**params).fit(X, y)
    b = Estimator(**params).fit(X, y, sample_weight=np.ones(len(y)))
    assert np.array_equal(a.coef_, b.coef_)
    assert np.array_equal(a.intercept_, b.intercept_)


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_integer_weights_equal_repeated_rows_full_batch(Estimator, sparse):
    X, y = _sparse_data(n_samples=60)
    repeats = np.random.default_rng(0).integers(0, 4, size=len(y))
    X_rep, y_rep = np.repeat(X, repeats, axis=0), np.repeat(y, repeats)
    if sparse:
        X, X_rep = sp.csr_matrix(X), sp.csr_matrix(X_rep)
    params = dict(batch_size=1000, max_iter=30, tol=None, random_state=0)
    weighted = Estimator(**params).fit(X, y, sample_weight=repeats)
    repeated = Estimator(**params).fit(X_rep, y_rep)
    assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-9, atol=1e-12)
    assert_allclose(weighted.intercept_, repeated.intercept_, rtol=1e-9, atol=1e-12)


def _imbalanced_data():
    X, y = _standardised(150, 6, 3, seed=3, weights=[0.6, 0.3, 0.1])
    return X, y


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
def test_class_weight_balanced_equals_sample_weight(Estimator):
    X, y = _imbalanced_data()
    n, k = len(y), 3
    params = dict(batch_size=32, max_iter=10, tol=None, random_state=0)
    balanced = Estimator(class_weight="balanced", **params).fit(X, y)
    per_class = n / (k * np.bincount(y))
    by_hand = Estimator(**params).fit(X, y, sample_weight=per_class[y])
    assert np.array_equal(balanced.coef_, by_hand.coef_)
    assert np.array_equal(balanced.intercept_, by_hand.intercept_)
    unweighted = Estimator(**params).fit(X, y)
    assert not np.array_equal(balanced.coef_, unweighted.coef_)


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
def test_class_weight_dict_multiplies_sample_weight(Estimator):
    X, y = _imbalanced_data()
    class_weight = {0: 0.5, 1: 2.0, 2: 3.0}
    sample_weight = np.random.default_rng(0).uniform(0.5, 1.5, len(y))
    params = dict(batch_size=32, max_iter=10, tol=None, random_state=0)
    with_dict = Estimator(class_weight=class_weight, **params).fit(
        X, y, sample_weight=sample_weight
    )
    factors = np.array([class_weight[label] for label in y])
    by_hand = Estimator(**params).fit(X, y, sample_weight=sample_weight * factors)
    assert np.array_equal(with_dict.coef_, by_hand.coef_)
    assert np.array_equal(with_dict.intercept_, by_hand.intercept_)


# ---------------------------------------------------------------------------
# The scikit-learn workflow


def test_pipeline_grid_search_picks_sensible_values():
    X, y = _standardised(300, 6, 3, seed=4, flip_y=0.05)
    # Features on wildly different scales: the scaler has work to do.
    X = X * np.logspace(-2, 3, X.shape[1])
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    # A fixed budget of epochs keeps the fits of the searches cheap.
    budget = dict(max_iter=60, tol=None, random_state=0)
    pipe = Pipeline([("scale", StandardScaler()), ("clf", HingeClassifier(**budget))])
    grid = {"clf__alpha": [1e-4, 1e-2, 10.0], "clf__delta": [0.5, 2.0]}
    search = GridSearchCV(pipe, grid, cv=3).fit(X_train, y_train)
    # alpha=10 shrinks W to almost nothing: it must not win.
    assert search.best_params_["clf__alpha"] < 10.0
    assert search.best_params_["clf__delta"] in grid["clf__delta"]
    scores = search.cv_results_["mean_test_score"]
    heavy = np.asarray(search.cv_results_["param_clf__alpha"]) == 10.0
    assert scores[~heavy].min() > scores[heavy].max()
    assert search.score(X_test, y_test) > 0.7  # three classes: chance is 1/3

    soft = GridSearchCV(
        Pipeline([("scale", StandardScaler()), ("clf", SoftmaxClassifier(**budget))]),
        {"clf__alpha": [1e-4, 1e-2, 10.0]},
        cv=3,
    ).fit(X_train, y_train)
    assert soft.best_params_["clf__alpha"] < 10.0
    assert soft.score(X_test, y_test) > 0.7


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
def test_pickle_round_trip(Estimator):
    X, y = _sparse_data()
    clf = Estimator(batch_size=16, max_iter=10, tol=None, random_state=0).fit(X, y)
    restored = pickle.loads(pickle.dumps(clf))
    assert_array_equal(restored.predict(X), clf.predict(X))
    assert np.array_equal(restored.decision_function(X), clf.decision_function(X))
    if Estimator is SoftmaxClassifier:
        assert np.array_equal(restored.predict_proba(X), clf.predict_proba(X))
    assert restored.get_params() == clf.get_params()
    # The restored model keeps training exactly like the original.
    restored.partial_fit(X, y)
    clf.partial_fit(X, y)
    assert np.array_equal(restored.coef_, clf.coef_)


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("n_classes", [3, 2])
def test_string_labels(Estimator, n_classes):
    X, y = _sparse_data(n_classes=n_classes)
    names = np.array(["setosa", "versicolor", "virginica"])[:n_classes]
    if n_classes == 2:
        names = np.array(["no", "yes"])
    y_str = names[y]
    params = dict(batch_size=16, max_iter=10, tol=None, random_state=0)
    clf = Estimator(**params).fit(X, y_str)
    clf_int = Estimator(**params).fit(X, y)
    assert_array_equal(clf.classes_, names)
    # Sorted string labels map onto 0..k-1 like the integers: the same model.
    assert np.array_equal(clf.coef_, clf_int.coef_)
    pred = clf.predict(X)
    assert pred.dtype.kind == "U"
    assert_array_equal(pred, names[clf_int.predict(X)])
    assert clf.score(X, y_str) == clf_int.score(X, y)
    # Object arrays of strings work the same way.
    clf_obj = Estimator(**params).fit(X, y_str.astype(object))
    assert np.array_equal(clf_obj.coef_, clf.coef_)


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
def test_partial_fit_reaches_fit_accuracy(Estimator):
    X, y = _standardised(4000, 10, 3, seed=5, n_informative=6, flip_y=0.05)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.5, stratify=y, random_state=0
    )
    fitted = Estimator(random_state=0).fit(X_train, y_train)
    streamed = Estimator(random_state=0)
    chunks = np.array_split(np.arange(len(y_train)), 5)
    n_passes = 6
    for _ in range(n_passes):
        for chunk in chunks:
            streamed.partial_fit(X_train[chunk], y_train[chunk], classes=[0, 1, 2])
    assert streamed.n_iter_ == n_passes * len(chunks)
    batches = sum(math.ceil(len(c) / 256) for c in chunks)
    assert streamed.t_ == n_passes * batches
    assert len(streamed.loss_curve_) == streamed.n_iter_
    assert streamed.score(X_test, y_test) >= fitted.score(X_test, y_test) - 0.02


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
def test_partial_fit_one_pass_equals_one_epoch_of_fit(Estimator):
    """One partial_fit call over all rows is fit's first epoch."""
    X, y = _sparse_data()
    params = dict(batch_size=16, random_state=0, learning_rate="constant")
    # momentum="auto" is 0 for a stream; fit's "auto" depends on the data size.
    fitted = Estimator(max_iter=1, tol=None, momentum=0.0, **params).fit(X, y)
    streamed = Estimator(**params).partial_fit(X, y, classes=np.unique(y))
    assert_allclose(streamed.coef_, fitted.coef_, rtol=1e-12, atol=1e-14)
    assert streamed.t_ == fitted.t_ == math.ceil(len(y) / 16)
    assert_allclose(streamed.loss_curve_, fitted.loss_curve_, rtol=1e-12)


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
def test_warm_start_continues(Estimator):
    X, y = _standardised(400, 8, 3, seed=6, flip_y=0.05)
    params = dict(batch_size=64, max_iter=10, tol=None, random_state=0)
    cold = Estimator(**params).fit(X, y)
    cold_curve = list(cold.loss_curve_)
    warm = clone(cold).set_params(warm_start=True)
    warm.fit(X, y)  # the first fit of a fresh estimator is a cold start
    assert np.array_equal(warm.coef_, cold.coef_)
    warm.fit(X, y)
    # The second fit starts at the first one's level, not from zero ...
    assert warm.loss_curve_[0] < cold_curve[0]
    assert warm.loss_curve_[0] <= cold_curve[1]
    # ... and ends at least as low.
    assert warm.loss_curve_[-1] <= cold_curve[-1]
    # Without warm_start a refit forgets the previous model.
    cold.fit(X, y)
    assert cold.loss_curve_ == cold_curve


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
def test_warm_start_needs_same_classes(Estimator):
    X, y = _standardised(100, 4, 3, seed=7)
    clf = Estimator(max_iter=3, tol=None, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="warm_start"):
        clf.fit(X[y < 2], y[y < 2])


# ---------------------------------------------------------------------------
# Predictions and fitted attributes


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_binary_problem_shapes_and_decision(Estimator, sparse):
    X, y = _sparse_data(n_classes=2)
    X = sp.csr_matrix(X) if sparse else X
    clf = Estimator(batch_size=16, max_iter=10, tol=None, random_state=0).fit(X, y)
    n, d = X.shape
    assert clf.coef_.shape == (1, d)
    assert clf.intercept_.shape == (1,)
    scores = clf.decision_function(X)
    assert scores.shape == (n,)
    X_dense = X.toarray() if sparse else X
    assert_allclose(scores, X_dense @ clf.coef_[0] + clf.intercept_[0], rtol=1e-12)
    assert_array_equal(clf.predict(X), clf.classes_[(scores > 0).astype(int)])
    if Estimator is SoftmaxClassifier:
        proba = clf.predict_proba(X)
        assert proba.shape == (n, 2)
        # The decision function is the log-odds s_1 - s_0 of classes_[1].
        assert_allclose(proba[:, 1], expit(scores), rtol=1e-12)
        assert_allclose(np.log(proba[:, 1] / proba[:, 0]), scores, atol=1e-10)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_predict_proba_consistent_with_decision_function(sparse):
    X, y = _sparse_data(n_classes=3)
    X = sp.csr_matrix(X) if sparse else X
    clf = SoftmaxClassifier(max_iter=20, tol=None, random_state=0).fit(X, y)
    scores = clf.decision_function(X)
    proba = clf.predict_proba(X)
    assert proba.shape == scores.shape == (X.shape[0], 3)
    assert (proba >= 0).all()
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert_array_equal(proba.argmax(axis=1), scores.argmax(axis=1))
    assert_array_equal(clf.predict(X), clf.classes_[scores.argmax(axis=1)])
    assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=1e-12, atol=1e-14)
    expected = np.exp(scores - scores.max(axis=1, keepdims=True))
    assert_allclose(proba, expected / expected.sum(axis=1, keepdims=True), rtol=1e-12)


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("batch_size", [7, 32, "auto", 500])
def test_iteration_counters(Estimator, batch_size):
    X, y = _sparse_data()
    n = len(y)
    clf = Estimator(batch_size=batch_size, max_iter=12, tol=None, random_state=0)
    clf.fit(X, y)
    rows = min(n, 256 if batch_size == "auto" else batch_size)
    assert clf.n_iter_ == 12
    assert len(clf.loss_curve_) == clf.n_iter_
    assert clf.t_ == clf.n_iter_ * math.ceil(n / rows)
    assert clf.best_loss_ == min(clf.loss_curve_)
    assert clf.validation_scores_ is None
    assert clf.best_validation_score_ is None


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
def test_tol_stops_before_max_iter(Estimator):
    X, y = _standardised(200, 5, 3, seed=8)
    clf = Estimator(max_iter=500, random_state=0).fit(X, y)
    assert clf.n_iter_ < 500
    assert len(clf.loss_curve_) == clf.n_iter_
    assert clf.t_ == clf.n_iter_  # 200 rows: one full batch per epoch
    with pytest.warns(ConvergenceWarning):
        Estimator(max_iter=2, random_state=0).fit(X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
def test_early_stopping_sets_validation_scores(Estimator):
    X, y = _standardised(400, 6, 3, seed=9, flip_y=0.1)
    clf = Estimator(
        early_stopping=True,
        validation_fraction=0.2,
        batch_size=32,
        max_iter=200,
        random_state=0,
    ).fit(X, y)
    scores = clf.validation_scores_
    assert isinstance(scores, list) and len(scores) == clf.n_iter_
    assert clf.n_iter_ < 200
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert clf.best_validation_score_ == max(scores)
    assert clf.best_validation_score_ > 0.6
    # 320 training rows in batches of 32.
    assert clf.t_ == clf.n_iter_ * 10


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
def test_verbose_prints_one_line_per_epoch(Estimator, capsys):
    X, y = _sparse_data()
    clf = Estimator(verbose=1, max_iter=7, tol=None, random_state=0).fit(X, y)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == clf.n_iter_ == 7
    for epoch, (line, loss) in enumerate(zip(lines, clf.loss_curve_, strict=True)):
        # Full batch (these 60 rows) runs iterations of the accelerated method.
        assert re.search(rf"\b(Epoch|Iteration) {epoch + 1}\b", line)
        printed = re.search(r"objective = ([-+0-9.eE]+)", line)
        assert printed is not None
        assert_allclose(float(printed.group(1)), loss, rtol=1e-7)
    Estimator(verbose=0, max_iter=3, tol=None, random_state=0).fit(X, y)
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------------------
# Defaults work untuned


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
def test_defaults_on_digits(Estimator):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16, y, test_size=0.25, stratify=y, random_state=0
    )
    clf = Estimator(random_state=0).fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= 0.95


@pytest.fixture(scope="module")
def tuned_peers():
    """Standardised synthetic data and the test accuracy of tuned peers."""
    X, y = make_classification(
        n_samples=2000,
        n_features=20,
        n_informative=8,
        n_redundant=4,
        n_classes=4,
        n_clusters_per_class=1,
        flip_y=0.02,
        random_state=0,
    )
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.5, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    grid = {"C": [0.01, 0.1, 1.0, 10.0]}
    logistic = GridSearchCV(LogisticRegression(max_iter=1000), grid, cv=3)
    svc = GridSearchCV(
        LinearSVC(multi_class="crammer_singer", max_iter=5000),
        {"C": [0.01, 0.1, 1.0]},
        cv=3,
    )
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = {
            name: model.fit(X_train, y_train).score(X_test, y_test)
            for name, model in [("logistic", logistic), ("svc", svc)]
        }
    return (X_train, X_test, y_train, y_test), scores


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
def test_defaults_match_tuned_peer(Estimator, tuned_peers):
    (X_train, X_test, y_train, y_test), peer = tuned_peers
    clf = Estimator(random_state=0).fit(X_train, y_train)
    if Estimator is SoftmaxClassifier:
        target = peer["logistic"]
    else:
        target = max(peer["logistic"], peer["svc"])
    assert clf.score(X_test, y_test) >= target - 0.01


def test_full_batch_loss_curve_is_the_exact_objective():
    """With one batch, each loss_curve_ entry is the objective at an iterate.

    So no entry lies below the minimum (found here by LogisticRegression), and
    the curve ends at it.
    """
    X, y = make_classification(
        n_samples=40, n_features=5, n_informative=3, n_classes=3, random_state=0
    )
    X = StandardScaler().fit_transform(X)
    alpha = 0.2
    clf = SoftmaxClassifier(
        alpha=alpha, batch_size=40, tol=1e-12, max_iter=3000, random_state=0
    ).fit(X, y)
    lr = LogisticRegression(
        C=1 / (2 * alpha * len(y)), tol=1e-12, max_iter=10_000
    ).fit(X, y)
    objective = LinearObjective(SoftmaxCrossEntropy(), alpha, True)
    minimum = objective.value(
        np.hstack([lr.coef_, lr.intercept_[:, None]]), X, y, np.ones(len(y))
    )
    assert min(clf.loss_curve_) >= minimum - 1e-12
    assert clf.loss_curve_[-1] <= minimum * (1 + 1e-6)


def test_partial_fit_calls_shuffle_differently_and_repeatably():
    """With an int seed, later chunks are not shuffled like the first one."""
    X, y = make_classification(
        n_samples=300, n_features=5, n_informative=3, n_classes=3, random_state=0
    )

    def stream():
        clf = SoftmaxClassifier(random_state=0, batch_size=32)
        for _ in range(3):
            clf.partial_fit(X, y, classes=[0, 1, 2])
        return clf

    clf = stream()
    first = np.random.RandomState(0).permutation(len(y))
    assert not np.array_equal(clf._chunk_rng().permutation(len(y)), first)
    assert_array_equal(stream().coef_, clf.coef_)
