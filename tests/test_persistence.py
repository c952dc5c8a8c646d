"""Pickle and joblib round-trips keep the model exactly.

A restored model must predict exactly as the original (bit for bit), for
dense- and sparse-trained, binary and multiclass, float64 and float32 models,
and must continue training with ``partial_fit`` exactly as the original would.
Pickles are meant to be loaded by the same version of the package.
"""

import pickle

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification

from sklearn_linclf import HingeClassifier, SoftmaxClassifier

ESTIMATORS = [HingeClassifier, SoftmaxClassifier]


@pytest.fixture(params=ESTIMATORS, ids=lambda cls: cls.__name__)
def Estimator(request):
    return request.param


def make_data(n_classes=3, sparse=False, dtype=np.float64, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((90, 5)).astype(dtype)
    X[X < -0.6] = 0.0
    y = np.array(["ant", "bee", "cat"])[np.arange(90) % n_classes]
    return (sp.csr_matrix(X) if sparse else X), y


def pickle_round_trip(model, tmp_path):
    return pickle.loads(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))


def joblib_round_trip(model, tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    return joblib.load(path)


ROUND_TRIPS = [
    pytest.param(pickle_round_trip, id="pickle"),
    pytest.param(joblib_round_trip, id="joblib"),
]


def prediction_methods(model):
    methods = ["predict", "decision_function"]
    if hasattr(model, "predict_proba"):
        methods += ["predict_proba", "predict_log_proba"]
    return methods


def assert_same_predictions(restored, model, X):
    for method in prediction_methods(model):
        expected = getattr(model, method)(X)
        got = getattr(restored, method)(X)
        assert got.dtype == expected.dtype, method
        np.testing.assert_array_equal(got, expected, err_msg=method)


@pytest.mark.parametrize("round_trip", ROUND_TRIPS)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_round_trip_predicts_identically(
    Estimator, round_trip, sparse, n_classes, dtype, tmp_path
):
    X, y = make_data(n_classes=n_classes, sparse=sparse, dtype=dtype)
    model = Estimator(max_iter=10, tol=None, random_state=0).fit(X, y)
    restored = round_trip(model, tmp_path)

    assert type(restored) is type(model)
    assert restored.get_params() == model.get_params()
    for name in ("coef_", "intercept_", "classes_"):
        got, expected = getattr(restored, name), getattr(model, name)
        assert got.dtype == expected.dtype, name
        np.testing.assert_array_equal(got, expected, err_msg=name)
    for name in ("n_features_in_", "n_iter_", "t_", "loss_curve_", "best_loss_"):
        assert getattr(restored, name) == getattr(model, name), name

    X_test, _ = make_data(n_classes=n_classes, sparse=sparse, dtype=dtype, seed=1)
    assert_same_predictions(restored, model, X_test)
    # Dense input to a sparse-trained model (and the reverse) as well.
    other = X_test.toarray() if sparse else sp.csr_matrix(X_test)
    assert_same_predictions(restored, model, other)
    assert restored.score(X_test, make_data(n_classes, seed=1)[1]) == model.score(
        X_test, make_data(n_classes, seed=1)[1]
    )


@pytest.mark.parametrize("round_trip", ROUND_TRIPS)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("trained_by", ["fit", "partial_fit"])
def test_restored_model_continues_with_partial_fit(
    Estimator, round_trip, sparse, trained_by, tmp_path
):
    X, y = make_data(sparse=sparse)
    X_next, y_next = make_data(sparse=sparse, seed=2)
    model = Estimator(batch_size=16, max_iter=10, tol=None, random_state=0)
    if trained_by == "fit":
        model.fit(X, y)
    else:
        model.partial_fit(X, y, classes=["ant", "bee", "cat"])
    restored = round_trip(model, tmp_path)

    # Both continue from the same state (coefficients, momentum, step, t_).
    for _ in range(2):
        model.partial_fit(X_next, y_next)
        restored.partial_fit(X_next, y_next)
    np.testing.assert_array_equal(restored.coef_, model.coef_)
    np.testing.assert_array_equal(restored.intercept_, model.intercept_)
    assert restored.t_ == model.t_
    assert restored.n_iter_ == model.n_iter_
    assert restored.loss_curve_ == model.loss_curve_
    assert_same_predictions(restored, model, X_next)


@pytest.mark.parametrize("round_trip", ROUND_TRIPS)
def test_restored_warm_start_fit_matches(Estimator, round_trip, tmp_path):
    X, y = make_data()
    model = Estimator(warm_start=True, max_iter=5, tol=None, random_state=0)
    model.fit(X, y)
    restored = round_trip(model, tmp_path)
    model.fit(X, y)
    restored.fit(X, y)
    np.testing.assert_array_equal(restored.coef_, model.coef_)
    np.testing.assert_array_equal(restored.intercept_, model.intercept_)


@pytest.mark.parametrize("round_trip", ROUND_TRIPS)
def test_unfitted_round_trip(Estimator, round_trip, tmp_path):
    X, y = make_data()
    estimator = Estimator(
        alpha=1e-3, batch_size=16, max_iter=10, tol=None, random_state=0
    )
    restored = round_trip(estimator, tmp_path)
    assert restored.get_params() == estimator.get_params()
    assert not hasattr(restored, "coef_")
    np.testing.assert_array_equal(restored.fit(X, y).coef_, estimator.fit(X, y).coef_)


def test_pickle_records_the_package_version():
    import warnings

    import sklearn_linclf

    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    clf = HingeClassifier(random_state=0, max_iter=5, tol=None).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same version loads silently
        pickle.loads(pickle.dumps(clf))
    state = clf.__getstate__()
    assert state["_sklearn_linclf_version"] == sklearn_linclf.__version__
    state["_sklearn_linclf_version"] = "0.0.0"
    other = HingeClassifier.__new__(HingeClassifier)
    with pytest.warns(UserWarning, match="pickled by sklearn_linclf 0.0.0"):
        other.__setstate__(state)
    np.testing.assert_array_equal(other.predict(X), clf.predict(X))
