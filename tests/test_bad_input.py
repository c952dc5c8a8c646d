"""Bad input fails loudly, with a message that names the problem.

Every case asserts on the message as well as on the type: a ``ValueError`` (or
scikit-learn's own ``InvalidParameterError``, a subclass) raised for the wrong
reason would otherwise pass. A final group checks that the caller's ``X``,
``y`` and ``sample_weight`` are never written to, read-only arrays included.
"""

import re

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import DataConversionWarning
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_linclf import HingeClassifier, SoftmaxClassifier

ESTIMATORS = [HingeClassifier, SoftmaxClassifier]
CLASSES = [0, 1, 2]
# Fits that succeed only need a fitted model, not a converged one.
FAST = {"max_iter": 10, "tol": None}


@pytest.fixture(params=ESTIMATORS, ids=lambda cls: cls.__name__)
def Estimator(request):
    return request.param


def make_data(n_samples=30, n_features=4, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n_samples, n_features))
    y = np.arange(n_samples) % 3
    return X, y


def fitted(Estimator, **params):
    X, y = make_data()
    return Estimator(random_state=0, **FAST, **params).fit(X, y)


# ---------------------------------------------------------------------------
# X


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_non_finite_X(Estimator, value, sparse, method):
    X, y = make_data()
    X[3, 1] = value
    if sparse:
        X = sp.csr_matrix(X)
    kwargs = {"classes": CLASSES} if method == "partial_fit" else {}
    match = "Input X contains NaN" if np.isnan(value) else "Input X contains infinity"
    with pytest.raises(ValueError, match=match):
        getattr(Estimator(), method)(X, y, **kwargs)


@pytest.mark.parametrize("method", ["predict", "decision_function", "score"])
def test_non_finite_X_at_prediction(Estimator, method):
    model = fitted(Estimator)
    X, y = make_data(seed=1)
    X[0, 0] = np.nan
    args = (X, y) if method == "score" else (X,)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        getattr(model, method)(*args)


def test_non_finite_X_in_a_later_partial_fit_chunk(Estimator):
    X, y = make_data()
    model = Estimator(random_state=0).partial_fit(X, y, classes=CLASSES)
    X_bad = X.copy()
    X_bad[5, 2] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        model.partial_fit(X_bad, y)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_empty_X(Estimator, method):
    kwargs = {"classes": CLASSES} if method == "partial_fit" else {}
    with pytest.raises(ValueError, match=r"0 sample\(s\) \(shape=\(0, 4\)\)"):
        getattr(Estimator(), method)(np.empty((0, 4)), np.empty(0), **kwargs)
    with pytest.raises(ValueError, match=r"0 feature\(s\) \(shape=\(30, 0\)\)"):
        getattr(Estimator(), method)(np.empty((30, 0)), make_data()[1], **kwargs)


def test_X_of_wrong_dimension(Estimator):
    X, y = make_data()
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        Estimator().fit(X[:, 0], y)
    with pytest.raises(ValueError, match="Found array with dim 3"):
        Estimator().fit(X[:, :, None], y)


def test_complex_X(Estimator):
    X, y = make_data()
    with pytest.raises(ValueError, match="Complex data not supported"):
        Estimator().fit(X + 1j, y)
    model = fitted(Estimator)
    with pytest.raises(ValueError, match="Complex data not supported"):
        model.predict(X + 1j)
    with pytest.raises(ValueError, match="Complex data not supported"):
        model.partial_fit(X + 1j, y)


def test_object_X(Estimator):
    X, y = make_data()
    strings = np.full(X.shape, "a", dtype=object)
    with pytest.raises(ValueError, match="could not convert string to float: 'a'"):
        Estimator().fit(strings, y)
    # Object arrays of numbers are converted, as everywhere in scikit-learn,
    # and give the same model as the float array.
    as_object = Estimator(random_state=0, **FAST).fit(X.astype(object), y)
    as_float = Estimator(random_state=0, **FAST).fit(X, y)
    np.testing.assert_array_equal(as_object.coef_, as_float.coef_)


@pytest.mark.parametrize(
    "method", ["predict", "decision_function", "score", "partial_fit"]
)
def test_wrong_number_of_features(Estimator, method):
    model = fitted(Estimator)
    X, y = make_data(n_features=3)
    args = (X,) if method in ("predict", "decision_function") else (X, y)
    match = f"X has 3 features, but {Estimator.__name__} is expecting 4 features"
    with pytest.raises(ValueError, match=match):
        getattr(model, method)(*args)


def test_wrong_number_of_features_predict_proba():
    model = fitted(SoftmaxClassifier)
    X, _ = make_data(n_features=5)
    match = "X has 5 features, but SoftmaxClassifier is expecting 4 features"
    for method in ("predict_proba", "predict_log_proba"):
        with pytest.raises(ValueError, match=match):
            getattr(model, method)(X)


# ---------------------------------------------------------------------------
# y


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_too_few_classes(Estimator, method):
    X, y = make_data()
    match = r"at least 2 classes.*got 1 class: \[0\]"
    if method == "fit":
        with pytest.raises(ValueError, match=match):
            Estimator().fit(X[:1], y[:1])  # one sample
        with pytest.raises(ValueError, match=match):
            Estimator().fit(X, np.zeros_like(y))  # one class
    else:
        with pytest.raises(ValueError, match=r"at least 2 classes; got classes=\[0\]"):
            Estimator().partial_fit(X, np.zeros_like(y), classes=[0])


def test_one_class_with_positive_weight(Estimator):
    # Two labels are present, but only one carries weight: nothing to separate.
    X, y = make_data()
    y = y % 2
    sample_weight = (y == 1).astype(float)
    with pytest.raises(ValueError, match=r"at least 2 classes .*got 1 class: \[1\]"):
        Estimator().fit(X, y, sample_weight=sample_weight)


def test_validation_split_of_zero_weight_samples(Estimator, monkeypatch):
    # Validation accuracy weighted by all-zero weights is undefined: say so
    # before training (not a ZeroDivisionError after the first epoch).
    X, y = make_data()
    n_val = 10

    def last_rows_for_validation(indices, **kwargs):
        return indices[:-n_val], indices[-n_val:]

    monkeypatch.setattr(
        "sklearn_linclf._base.train_test_split", last_rows_for_validation
    )
    sample_weight = np.ones(len(y))
    sample_weight[-n_val:] = 0.0
    model = Estimator(early_stopping=True)
    with pytest.raises(ValueError, match="validation samples of positive weight"):
        model.fit(X, y, sample_weight=sample_weight)
    sample_weight[-1] = 1.0  # one positive validation weight is enough
    model.fit(X, y, sample_weight=sample_weight)
    assert model.best_validation_score_ is not None


def test_one_sample_partial_fit_is_a_valid_update(Estimator):
    # Streaming one row at a time is legitimate once the classes are known.
    X, y = make_data()
    model = Estimator(random_state=0).partial_fit(X[:1], y[:1], classes=CLASSES)
    assert model.t_ == 1
    assert np.isfinite(model.coef_).all()
    # The solver centres the features on the rows seen so far: one row alone
    # is explained by the intercept, which now favours its label ...
    assert np.any(model.intercept_ != 0)
    assert model.predict(X[:1])[0] == y[0]
    # ... and the next row of another label moves the coefficients too.
    other = np.flatnonzero(y != y[0])[0]
    model.partial_fit(X[other : other + 1], y[other : other + 1])
    assert model.t_ == 2
    assert np.isfinite(model.coef_).all()
    assert np.any(model.coef_ != 0)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_y_with_nan(Estimator, method):
    X, y = make_data()
    y = y.astype(float)
    y[4] = np.nan
    kwargs = {"classes": CLASSES} if method == "partial_fit" else {}
    with pytest.raises(ValueError, match="Input y contains NaN"):
        getattr(Estimator(), method)(X, y, **kwargs)


def test_continuous_y(Estimator):
    X, _ = make_data()
    y = np.linspace(0, 1, X.shape[0])
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        Estimator().fit(X, y)


def test_y_of_wrong_length(Estimator):
    X, y = make_data()
    match = r"inconsistent numbers of samples: \[30, 29\]"
    with pytest.raises(ValueError, match=match):
        Estimator().fit(X, y[:-1])


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_column_vector_y_warns_and_is_raveled(Estimator, method):
    X, y = make_data()
    kwargs = {"classes": CLASSES} if method == "partial_fit" else {}
    with pytest.warns(DataConversionWarning, match="column-vector y was passed"):
        column = getattr(Estimator(random_state=0, **FAST), method)(
            X, y[:, None], **kwargs
        )
    flat = getattr(Estimator(random_state=0, **FAST), method)(X, y, **kwargs)
    np.testing.assert_array_equal(column.coef_, flat.coef_)
    np.testing.assert_array_equal(column.intercept_, flat.intercept_)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_two_dimensional_y(Estimator, method):
    X, y = make_data()
    kwargs = {"classes": CLASSES} if method == "partial_fit" else {}
    with pytest.raises(ValueError, match=r"y should be a 1d array.*\(30, 2\)"):
        getattr(Estimator(), method)(X, np.column_stack([y, y]), **kwargs)


# ---------------------------------------------------------------------------
# partial_fit's classes


def test_partial_fit_needs_classes_first(Estimator):
    X, y = make_data()
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        Estimator().partial_fit(X, y)


def test_partial_fit_labels_outside_classes(Estimator):
    X, y = make_data()
    # On the first call ...
    with pytest.raises(ValueError, match=r"labels not in classes: \[2\]"):
        Estimator().partial_fit(X, y, classes=[0, 1])
    # ... and in a later chunk.
    model = Estimator(random_state=0).partial_fit(X, y % 2, classes=[0, 1])
    with pytest.raises(ValueError, match=r"labels not in classes: \[2\]"):
        model.partial_fit(X, y)


def test_partial_fit_classes_changed(Estimator):
    X, y = make_data()
    model = Estimator(random_state=0).partial_fit(X, y, classes=CLASSES)
    with pytest.raises(ValueError, match=r"differs from the classes of the first call"):
        model.partial_fit(X, y, classes=[0, 1, 2, 3])


# ---------------------------------------------------------------------------
# sample_weight


def _bad_weights():
    n = make_data()[0].shape[0]
    nan, inf = np.ones(n), np.ones(n)
    nan[2], inf[2] = np.nan, np.inf
    negative = np.ones(n)
    negative[2] = -1.0
    return [
        pytest.param(
            negative, "Negative values in data passed to `sample_weight`", id="negative"
        ),
        pytest.param(nan, "Input sample_weight contains NaN", id="nan"),
        pytest.param(inf, "sample_weight contains infinity", id="inf"),
        pytest.param(np.zeros(n), "at least one non-zero", id="all-zero"),
        pytest.param(
            np.ones(n - 1),
            re.escape(f"shape == ({n - 1},), expected ({n},)"),
            id="too-short",
        ),
        pytest.param(
            np.ones(n + 1),
            re.escape(f"shape == ({n + 1},), expected ({n},)"),
            id="too-long",
        ),
        pytest.param(np.ones((n, 1)), "Sample weights must be 1D", id="2-D"),
    ]


@pytest.mark.parametrize("sample_weight, match", _bad_weights())
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_bad_sample_weight(Estimator, method, sample_weight, match):
    X, y = make_data()
    kwargs = {"classes": CLASSES} if method == "partial_fit" else {}
    with pytest.raises(ValueError, match=match):
        getattr(Estimator(), method)(X, y, sample_weight=sample_weight, **kwargs)


@pytest.mark.parametrize("case", ["huge", "tiny"])
def test_extreme_but_finite_sample_weight_scale(Estimator, case):
    # The objective divides by the weight sum, so it does not depend on the
    # scale of the weights; neither may the model, as long as every weight is
    # a finite float. Huge weights overflow a naive weight sum, and the
    # smallest subnormal overflows its reciprocal.
    X, y = make_data()
    if case == "huge":
        weights = np.random.RandomState(1).uniform(0.5, 2.0, size=X.shape[0])
        scaled_weights = weights * 1e307
    else:
        weights = np.ones(X.shape[0])
        scaled_weights = np.full(X.shape[0], 5e-324)
    reference = Estimator(random_state=0, **FAST).fit(X, y, sample_weight=weights)
    scaled = Estimator(random_state=0, **FAST).fit(X, y, sample_weight=scaled_weights)
    np.testing.assert_allclose(scaled.coef_, reference.coef_, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(
        scaled.intercept_, reference.intercept_, rtol=1e-7, atol=1e-10
    )


# ---------------------------------------------------------------------------
# class_weight


@pytest.mark.parametrize(
    "class_weight",
    [{5: 2.0}, {0: 1.0, 5: 2.0}, {0: 1.0, 1: 1.0, 2: 1.0, 5: 2.0}],
    ids=["only-unknown", "some-known", "all-known"],
)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_class_weight_naming_an_unknown_class(Estimator, method, class_weight):
    # A key that is no class at all is most likely a typo or a stale dict: it
    # must not be ignored, and the error must name it. (Classes left out of the
    # dict get weight 1, as in scikit-learn.)
    X, y = make_data()
    kwargs = {"classes": CLASSES} if method == "partial_fit" else {}
    estimator = Estimator(class_weight=class_weight, **FAST)
    with pytest.raises(ValueError, match="class_weight") as excinfo:
        getattr(estimator, method)(X, y, **kwargs)
    assert "5" in str(excinfo.value)


def test_class_weight_may_leave_out_classes(Estimator):
    X, y = make_data()
    partial = Estimator(class_weight={0: 2.0}, random_state=0, **FAST).fit(X, y)
    full = Estimator(class_weight={0: 2.0, 1: 1.0, 2: 1.0}, random_state=0, **FAST).fit(
        X, y
    )
    np.testing.assert_array_equal(partial.coef_, full.coef_)


@pytest.mark.parametrize("weight", [-1.0, np.nan, np.inf])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_class_weight_values_must_be_finite_and_non_negative(Estimator, method, weight):
    # A class weight multiplies sample weights, so it obeys their rules.
    X, y = make_data()
    kwargs = {"classes": CLASSES} if method == "partial_fit" else {}
    estimator = Estimator(class_weight={0: weight, 1: 1.0, 2: 1.0}, **FAST)
    with pytest.raises(ValueError, match="class_weight"):
        getattr(estimator, method)(X, y, **kwargs)


def test_balanced_class_weight_in_partial_fit(Estimator):
    X, y = make_data()
    with pytest.raises(ValueError, match="'balanced' is not supported by partial_fit"):
        Estimator(class_weight="balanced").partial_fit(X, y, classes=CLASSES)


# ---------------------------------------------------------------------------
# Parameters


INVALID_PARAMETERS = [
    ("alpha", -1, "a float in the range [0.0, inf)"),
    ("batch_size", 0, "an int in the range [1, inf)"),
    ("batch_size", 1.5, "an int in the range [1, inf)"),
    ("max_iter", 0, "an int in the range [1, inf)"),
    ("tol", -1e-3, "a float in the range [0.0, inf) or None"),
    ("n_iter_no_change", 0, "an int in the range [1, inf)"),
    ("learning_rate", "foo", "a str among"),
    ("learning_rate_init", 0, "a float in the range (0.0, inf)"),
    ("learning_rate_init", "fast", "a str among {'auto'}"),
    ("power_t", -0.5, "a float in the range [0.0, inf)"),
    ("momentum", 1.0, "a float in the range [0.0, 1.0)"),
    ("momentum", -0.1, "a float in the range [0.0, 1.0)"),
    ("validation_fraction", 1.0, "a float in the range (0.0, 1.0)"),
    ("validation_fraction", 0.0, "a float in the range (0.0, 1.0)"),
    ("class_weight", "uniform", "a str among {'balanced'}"),
    ("shuffle", "yes", "an instance of 'bool'"),
]


@pytest.mark.parametrize(
    "name, value, expected", INVALID_PARAMETERS, ids=lambda v: str(v)
)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_invalid_parameter(Estimator, method, name, value, expected):
    X, y = make_data()
    kwargs = {"classes": CLASSES} if method == "partial_fit" else {}
    estimator = Estimator(**{name: value})
    match = (
        rf"The '{name}' parameter of {Estimator.__name__} must be .*"
        rf"{re.escape(expected)}.*Got {re.escape(repr(value))} instead"
    )
    with pytest.raises(InvalidParameterError, match=match):
        getattr(estimator, method)(X, y, **kwargs)
    # scikit-learn's error type is a ValueError, so `except ValueError` works.
    assert issubclass(InvalidParameterError, ValueError)


@pytest.mark.parametrize("delta", [0, -1.0])
def test_invalid_delta(delta):
    X, y = make_data()
    match = (
        rf"The 'delta' parameter of HingeClassifier must be a float in the range "
        rf"\(0.0, inf\). Got {delta!r} instead"
    )
    with pytest.raises(InvalidParameterError, match=match):
        HingeClassifier(delta=delta).fit(X, y)


def test_softmax_has_no_delta():
    with pytest.raises(TypeError, match="unexpected keyword argument 'delta'"):
        SoftmaxClassifier(delta=1.0)


# ---------------------------------------------------------------------------
# The caller's data is never written to


def _inputs(sparse, dtype, read_only):
    X, y = make_data(n_samples=40)
    X = X.astype(dtype)
    X[X < -0.5] = 0.0  # some structural zeros for CSR
    sample_weight = np.random.RandomState(2).uniform(0.5, 2.0, 40).astype(dtype)
    if sparse:
        X = sp.csr_matrix(X)
        arrays = [X.data, X.indices, X.indptr]
    else:
        arrays = [X]
    if read_only:
        for array in [*arrays, y, sample_weight]:
            array.setflags(write=False)
    return X, y, sample_weight


def _copy(X):
    return X.copy()


def _assert_same(before, after):
    if sp.issparse(before):
        assert sp.issparse(after) and after.format == before.format
        for name in ("data", "indices", "indptr"):
            np.testing.assert_array_equal(getattr(after, name), getattr(before, name))
    else:
        np.testing.assert_array_equal(after, before)
    assert after.dtype == before.dtype


@pytest.mark.parametrize("read_only", [False, True], ids=["writeable", "read-only"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize(
    "params",
    [{}, {"class_weight": {0: 2.0, 1: 1.0, 2: 0.5}}, {"early_stopping": True}],
    ids=["plain", "class_weight", "early_stopping"],
)
def test_inputs_are_not_modified(Estimator, sparse, dtype, read_only, params):
    X, y, sample_weight = _inputs(sparse, dtype, read_only)
    X0, y0, sw0 = _copy(X), y.copy(), sample_weight.copy()

    model = Estimator(random_state=0, batch_size=16, max_iter=5, tol=None, **params)
    model.fit(X, y, sample_weight=sample_weight)
    model.decision_function(X)
    if "early_stopping" not in params:
        model.partial_fit(X, y, sample_weight=sample_weight)
        Estimator(random_state=0, **FAST, **params).partial_fit(
            X, y, classes=CLASSES, sample_weight=sample_weight
        )

    _assert_same(X0, X)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(sample_weight, sw0)
    assert sample_weight.dtype == sw0.dtype
