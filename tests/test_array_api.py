"""Array API input: the same models in any namespace, NumPy unchanged.

With ``array_api_dispatch=True`` dense input of a non-NumPy namespace is
trained in that namespace. The model must be the one NumPy input gives, up to
rounding (same rows in the same batches, same steps, same stopping epoch), and
its fitted arrays must live in the input's namespace and on its device.
NumPy and sparse input must not notice the dispatch at all: bit for bit.

array-api-strict runs everywhere (it is in the ``test`` extra); PyTorch (CPU)
runs when it is installed.
"""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import clone, config_context
from sklearn.datasets import make_classification
from sklearn.utils._array_api import (
    _atol_for_type,
    get_namespace_and_device,
    yield_namespace_device_dtype_combinations,
)
from sklearn.utils._testing import _array_api_for_tests
from sklearn.utils.estimator_checks import (
    check_array_api_input,
    check_array_api_input_and_values,
)

from sklearn_linclf import HingeClassifier, SoftmaxClassifier
from sklearn_linclf._array_api import to_host

array_api_strict = pytest.importorskip("array_api_strict")

ESTIMATORS = [HingeClassifier, SoftmaxClassifier]
EST_IDS = [cls.__name__ for cls in ESTIMATORS]

# Training settings that take different routes through the solver: many
# minibatches (no momentum), few minibatches (momentum), the full batch (the
# softmax's accelerated solver), early stopping, the binary collapse and no
# intercept, and the other schedules.
SETTINGS = {
    "minibatch": dict(batch_size=16),
    "momentum": dict(batch_size=64),
    "full-batch": dict(),
    "early-stopping": dict(batch_size=32, early_stopping=True),
    "no-intercept": dict(batch_size=32, fit_intercept=False),
    "invscaling": dict(
        batch_size=32, learning_rate="invscaling", max_iter=20, tol=None
    ),
}


def make_data(n_classes=3, n_samples=200, dtype=np.float64, seed=0):
    X, y = make_classification(
        n_samples=n_samples,
        n_features=8,
        n_informative=5,
        n_classes=n_classes,
        random_state=seed,
    )
    return X.astype(dtype), y


def strict_namespace():
    return _array_api_for_tests("array_api_strict", None)


def fitted_arrays(model):
    """The NumPy arrays a NumPy-fitted model holds (public and private)."""
    return {
        key: value
        for key, value in vars(model).items()
        if isinstance(value, np.ndarray) and key != "classes_"
    }


def assert_same_model(model_xp, model_np, dtype):
    """Same model to rounding, and every fitted array in the right place.

    Rounding differs between namespaces (another summation order in a matrix
    product), and hundreds of minibatch steps amplify it, most of all for the
    hinge, whose active set a rounding can flip: float32 allows 1e-3 of the
    coefficients' scale.
    """
    rtol = 1e-3 if dtype == np.float32 else 1e-9
    atol = 1e-3 if dtype == np.float32 else 1e-10
    assert model_xp.n_iter_ == model_np.n_iter_
    assert model_xp.t_ == model_np.t_
    assert_array_equal(model_xp.classes_, model_np.classes_)
    assert_allclose(model_xp.loss_curve_, model_np.loss_curve_, rtol=rtol)
    for key, expected in fitted_arrays(model_np).items():
        got = to_host(getattr(model_xp, key))
        assert got.dtype == expected.dtype, key
        scale = max(1.0, float(np.abs(expected).max(initial=0)))
        assert_allclose(got, expected, rtol=rtol, atol=atol * scale, err_msg=key)


def predictions(model, X):
    methods = ["decision_function", "predict"]
    if hasattr(model, "predict_proba"):
        methods += ["predict_proba", "predict_log_proba"]
    return {name: getattr(model, name)(X) for name in methods}


def fit_both(estimator, X, y, xp, device, **fit_params):
    model_np = clone(estimator).fit(X, y, **fit_params)
    with config_context(array_api_dispatch=True):
        fit_params_xp = {
            key: xp.asarray(value, device=device) for key, value in fit_params.items()
        }
        model_xp = clone(estimator).fit(
            xp.asarray(X, device=device), xp.asarray(y, device=device), **fit_params_xp
        )
    return model_np, model_xp


def assert_in_namespace(model, X_xp):
    """Fitted arrays and predictions live in the namespace and device of X."""
    with config_context(array_api_dispatch=True):
        xp, _, device = get_namespace_and_device(X_xp)
        for key in ("coef_", "intercept_", "_center", "_velocity"):
            value = getattr(model, key)
            if value is None:
                continue
            value_xp, _, value_device = get_namespace_and_device(value)
            assert value_xp is xp, key
            assert value_device == device, key
        for name, value in predictions(model, X_xp).items():
            value_xp, _, value_device = get_namespace_and_device(value)
            assert value_xp is xp, name
            assert value_device == device, name


# --------------------------------------------------------- scikit-learn checks


NAMESPACES = [
    pytest.param(namespace, device, dtype, id=f"{namespace}-{device}-{dtype}")
    for namespace, device, dtype in yield_namespace_device_dtype_combinations(
        include_numpy_namespaces=False
    )
]


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("namespace, device, dtype", NAMESPACES)
def test_sklearn_array_api_values(Estimator, namespace, device, dtype):
    # test_common runs the checks on types, shapes and devices; these compare
    # values too, with sample weights. Namespaces not installed (or devices
    # not present) are skipped by _array_api_for_tests. The check's data (30
    # separable rows) with the default alpha is ill-conditioned: in float32,
    # rounding alone moves the coefficients by more than the check's atol
    # (1.2e-4) at an objective equal to 1e-9, so float32 is checked with a
    # larger alpha (float32 at the default alpha: test_strict_gives_numpy_model).
    _array_api_for_tests(namespace, device, dtype)
    estimator = Estimator(random_state=0, alpha=1e-4 if dtype == "float64" else 1e-2)
    check_array_api_input_and_values(
        Estimator.__name__,
        estimator,
        array_namespace=namespace,
        device_name=device,
        dtype_name=dtype,
        check_sample_weight=True,
    )
    check_array_api_input(
        Estimator.__name__,
        Estimator(random_state=0, batch_size=8, alpha=estimator.alpha),
        array_namespace=namespace,
        device_name=device,
        dtype_name=dtype,
        check_values=True,
    )


# ------------------------------------------------ NumPy and sparse: unchanged


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("input_type", ["dense", "csr"])
def test_numpy_input_unchanged_by_dispatch(Estimator, setting, input_type):
    # The dispatch must not move NumPy or sparse input off its own path:
    # the same model bit for bit, and NumPy arrays out.
    X, y = make_data()
    if input_type == "csr":
        X = sp.csr_matrix(np.where(X > 0.5, X, 0.0))
    sample_weight = np.random.RandomState(1).randint(0, 3, size=y.size)
    estimator = Estimator(random_state=0, **SETTINGS[setting])
    expected = clone(estimator).fit(X, y, sample_weight=sample_weight)
    with config_context(array_api_dispatch=True):
        got = clone(estimator).fit(X, y, sample_weight=sample_weight)
        got_predictions = predictions(got, X)
    assert got.loss_curve_ == expected.loss_curve_
    for key, value in fitted_arrays(expected).items():
        assert type(getattr(got, key)) is np.ndarray
        assert_array_equal(getattr(got, key), value, strict=True, err_msg=key)
    for name, value in predictions(expected, X).items():
        assert_array_equal(got_predictions[name], value, strict=True, err_msg=name)


# ----------------------------------------------- array-api-strict vs NumPy


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_classes", [3, 2])
def test_strict_gives_numpy_model(Estimator, setting, dtype, n_classes):
    X, y = make_data(n_classes=n_classes, dtype=dtype)
    xp, device = strict_namespace()
    estimator = Estimator(random_state=0, **SETTINGS[setting])
    model_np, model_xp = fit_both(estimator, X, y, xp, device)
    assert_same_model(model_xp, model_np, dtype)
    X_xp = xp.asarray(X, device=device)
    assert_in_namespace(model_xp, X_xp)
    with config_context(array_api_dispatch=True):
        got = predictions(model_xp, X_xp)
    for name, expected in predictions(model_np, X).items():
        assert_allclose(
            to_host(got[name]), expected, atol=_atol_for_type(dtype), err_msg=name
        )


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("batch_size", [16, 200], ids=["minibatch", "full"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_strict_sample_weight(Estimator, batch_size, dtype):
    # Zero weights, integer weights, and a batch of zero weights only (the
    # first 16 rows): the skipped batch must be skipped on the device too.
    X, y = make_data(dtype=dtype)
    sample_weight = np.random.RandomState(1).randint(0, 4, size=y.size)
    sample_weight[:16] = 0
    sample_weight = sample_weight.astype(dtype)
    xp, device = strict_namespace()
    estimator = Estimator(random_state=0, batch_size=batch_size, shuffle=False)
    model_np, model_xp = fit_both(
        estimator, X, y, xp, device, sample_weight=sample_weight
    )
    assert_same_model(model_xp, model_np, dtype)


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_strict_class_weight_and_warm_start(Estimator, dtype):
    X, y = make_data(dtype=dtype)
    xp, device = strict_namespace()
    estimator = Estimator(
        random_state=0, batch_size=32, class_weight="balanced", max_iter=3, tol=None
    )
    model_np, model_xp = fit_both(estimator, X, y, xp, device)
    model_np.set_params(warm_start=True, max_iter=5).fit(X, y)
    with config_context(array_api_dispatch=True):
        model_xp.set_params(warm_start=True, max_iter=5).fit(
            xp.asarray(X, device=device), xp.asarray(y, device=device)
        )
    assert_same_model(model_xp, model_np, dtype)


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_classes", [3, 2])
def test_strict_partial_fit(Estimator, dtype, n_classes):
    X, y = make_data(n_classes=n_classes, dtype=dtype)
    sample_weight = np.random.RandomState(2).uniform(0.5, 2, size=y.size)
    sample_weight = sample_weight.astype(dtype)
    xp, device = strict_namespace()
    model_np = Estimator(random_state=0, batch_size=16, momentum=0.5)
    model_xp = clone(model_np)
    classes = np.unique(y)
    for chunk in np.array_split(np.arange(y.size), 3):
        model_np.partial_fit(
            X[chunk], y[chunk], classes=classes, sample_weight=sample_weight[chunk]
        )
        with config_context(array_api_dispatch=True):
            model_xp.partial_fit(
                xp.asarray(X[chunk], device=device),
                xp.asarray(y[chunk], device=device),
                classes=classes,
                sample_weight=xp.asarray(sample_weight[chunk], device=device),
            )
    assert_same_model(model_xp, model_np, dtype)
    assert_in_namespace(model_xp, xp.asarray(X, device=device))


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
def test_strict_model_pickles(Estimator):
    X, y = make_data()
    xp, device = _array_api_for_tests("array_api_strict", "device1")
    with config_context(array_api_dispatch=True):
        X_xp = xp.asarray(X, device=device)
        model = Estimator(random_state=0, batch_size=32).fit(
            X_xp, xp.asarray(y, device=device)
        )
        restored = pickle.loads(pickle.dumps(model))
        assert_in_namespace(restored, X_xp)
        expected, got = predictions(model, X_xp), predictions(restored, X_xp)
    for name in expected:
        assert_array_equal(to_host(got[name]), to_host(expected[name]), err_msg=name)


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
def test_strict_predict_needs_fit_namespace(Estimator):
    X, y = make_data()
    xp, device = strict_namespace()
    with config_context(array_api_dispatch=True):
        model = Estimator(random_state=0).fit(
            xp.asarray(X, device=device), xp.asarray(y, device=device)
        )
        for name in predictions(model, xp.asarray(X, device=device)):
            with pytest.raises(ValueError, match="must use the same namespace"):
                getattr(model, name)(X)


def test_no_host_round_trip_per_minibatch(monkeypatch):
    # The device reports to the host a fixed number of times per epoch,
    # however many minibatches it holds: count every conversion of a strict
    # array to a Python scalar or to another library.
    X, y = make_data(n_samples=480)
    xp, device = strict_namespace()
    Array = type(xp.asarray(0.0))
    counts = {"n": 0}
    for name in ("__float__", "__bool__", "__int__", "__dlpack__", "__array__"):
        original = getattr(Array, name, None)
        if original is None:
            continue

        def counted(self, *args, _original=original, **kwargs):
            counts["n"] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Array, name, counted)

    def transfers(batch_size):
        counts["n"] = 0
        estimator = HingeClassifier(
            random_state=0, batch_size=batch_size, max_iter=4, tol=None, momentum=0
        )
        with config_context(array_api_dispatch=True):
            estimator.fit(xp.asarray(X, device=device), xp.asarray(y, device=device))
        return counts["n"]

    # 480 rows: 3 batches per epoch against 30 (and in both cases the 3
    # batches the initial step is estimated on go to the host once).
    assert transfers(160) == transfers(16)


# ------------------------------------------------------------ PyTorch (CPU)


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("setting", ["minibatch", "full-batch", "early-stopping"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_torch_cpu_gives_numpy_model(Estimator, setting, dtype):
    pytest.importorskip("torch")
    xp, device = _array_api_for_tests("torch", "cpu")
    X, y = make_data(dtype=dtype)
    sample_weight = np.random.RandomState(1).randint(1, 3, size=y.size)
    estimator = Estimator(random_state=0, **SETTINGS[setting])
    model_np, model_xp = fit_both(
        estimator, X, y, xp, device, sample_weight=sample_weight.astype(dtype)
    )
    assert_same_model(model_xp, model_np, dtype)
    assert_in_namespace(model_xp, xp.asarray(X, device=device))
