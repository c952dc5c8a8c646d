"""Scaling out: streaming through ``partial_fit``, and training on a Dask cluster.

The first half needs no Dask: it pins down what one ``partial_fit`` call does
(the semantics documented in ``docs/scaling.rst``) and streams a memory-mapped
``.npy`` file and an svmlight file in chunks. The second half runs dask-ml's
``Incremental`` wrapper, scikit-learn's ``GridSearchCV`` on joblib's Dask
backend and dask-ml's ``GridSearchCV`` on a two-worker in-process
``LocalCluster`` started by a fixture; it is skipped when the ``dask`` extra
is not installed.
"""

import math
import os

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import softmax as scipy_softmax
from sklearn.datasets import dump_svmlight_file, load_svmlight_file, make_classification
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split

from sklearn_linclf import HingeClassifier, SoftmaxClassifier

ESTIMATORS = [HingeClassifier, SoftmaxClassifier]
CLASSES = np.array([0, 1, 2])


def _classification(n_samples, n_features=20, seed=0):
    X, y = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=min(8, n_features),
        n_redundant=0,
        n_classes=3,
        random_state=seed,
    )
    # About 40% exact zeros, so that the CSR versions are genuinely sparse.
    X[np.abs(X) < 0.5] = 0.0
    return X, y


def _reference_softmax_gradient(W, b, X, y, alpha):
    """Gradient of mean softmax cross-entropy + alpha ||W||^2, written out."""
    proba = scipy_softmax(X @ W.T + b, axis=1)
    proba[np.arange(X.shape[0]), y] -= 1.0
    G = proba / X.shape[0]
    return G.T @ X + 2 * alpha * W, G.sum(axis=0)


def _reference_step(W, b, vW, vb, X, y, *, alpha, lr, intercept_step, center, mu,
                    nesterov=True):
    """One full-batch step of the solver, written out.

    The solver works in centred coordinates, ``(W, c = b + W center)``, where
    the gradient of ``W`` at fixed ``c`` is ``gW - gb centerᵀ``, and steps the
    intercept by ``lr * intercept_step``; the velocity is converted like the
    parameters. Returns ``(W, b, vW, vb)`` in plain coordinates.
    """
    c, vc = b + W @ center, vb + vW @ center
    gW, gb = _reference_softmax_gradient(W, b, X, y, alpha)
    gW = gW - np.outer(gb, center)
    lr_b = lr * intercept_step
    vW, vc = mu * vW - lr * gW, mu * vc - lr_b * gb
    if nesterov:
        W, c = W + mu * vW - lr * gW, c + mu * vc - lr_b * gb
    else:
        W, c = W + vW, c + vc
    return W, c - W @ center, vW, vc - vW @ center


# ---------------------------------------------------------------------------
# partial_fit semantics (no Dask needed)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_one_partial_fit_call_is_one_epoch_over_the_chunk(Estimator):
    X, y = _classification(300)
    params = dict(batch_size=64, random_state=0)
    streamed = Estimator(**params).partial_fit(X, y, classes=CLASSES)
    # momentum="auto" is 0 for a stream of chunks, and 0.9 for fit on 300 rows.
    one_epoch = Estimator(max_iter=1, tol=None, momentum=0.0, **params).fit(X, y)

    assert_allclose(streamed.coef_, one_epoch.coef_, rtol=1e-12, atol=1e-14)
    assert_allclose(streamed.intercept_, one_epoch.intercept_, rtol=1e-12, atol=1e-14)
    assert streamed.t_ == math.ceil(300 / 64) == one_epoch.t_
    assert streamed.n_iter_ == 1
    assert len(streamed.loss_curve_) == 1

    streamed.partial_fit(X[:100], y[:100])
    assert streamed.t_ == math.ceil(300 / 64) + math.ceil(100 / 64)
    assert streamed.n_iter_ == 2
    assert len(streamed.loss_curve_) == 2


@pytest.mark.parametrize("nesterov", [False, True])
def test_schedule_and_momentum_continue_across_calls(nesterov):
    # Full-batch chunks make each call exactly one gradient step, so the whole
    # stream can be replayed with the gradient written out by hand.
    X, y = _classification(360, n_features=6, seed=1)
    chunks = [slice(0, 120), slice(120, 240), slice(240, 360)]
    alpha, eta0, power_t, mu = 1e-2, 0.5, 0.5, 0.9
    clf = SoftmaxClassifier(
        alpha=alpha,
        batch_size=120,
        learning_rate="invscaling",
        learning_rate_init=eta0,
        power_t=power_t,
        momentum=mu,
        nesterovs_momentum=nesterov,
    )
    for chunk in chunks:
        clf.partial_fit(X[chunk], y[chunk], classes=CLASSES)

    def replay(restart_each_call):
        W, b = np.zeros((3, X.shape[1])), np.zeros(3)
        vW, vb = np.zeros_like(W), np.zeros_like(b)
        for t, chunk in enumerate(chunks):
            if restart_each_call:
                t, vW, vb = 0, np.zeros_like(W), np.zeros_like(b)
            W, b, vW, vb = _reference_step(
                W, b, vW, vb, X[chunk], y[chunk],
                alpha=alpha,
                lr=eta0 / (t + 1) ** power_t,
                intercept_step=clf._intercept_step,
                center=X[: chunk.stop].mean(axis=0),  # the running mean
                mu=mu,
                nesterov=nesterov,
            )
        return W, b

    W, b = replay(restart_each_call=False)
    assert clf.t_ == len(chunks)
    assert_allclose(clf.coef_, W, rtol=1e-10, atol=1e-13)
    assert_allclose(clf.intercept_, b, rtol=1e-10, atol=1e-13)
    # The comparison can tell the two behaviours apart.
    W_restarted, _ = replay(restart_each_call=True)
    assert not np.allclose(W, W_restarted, rtol=1e-3)


def test_auto_initial_step_is_set_by_the_first_chunk():
    X, y = _classification(200, n_features=5, seed=2)
    first, second = slice(0, 100), slice(100, 200)
    X_second = 3.0 * X[second]  # its own "auto" step would be ~9 times smaller
    alpha = 1e-3
    params = dict(alpha=alpha, batch_size=100, learning_rate="constant", momentum=0.0)
    clf = SoftmaxClassifier(**params).partial_fit(X[first], y[first], classes=CLASSES)
    # From zero, one plain step is W1 = -eta0 * grad (the gradient at fixed
    # centred intercept): read eta0 off it.
    def first_gradient(X, y):
        gW, gb = _reference_softmax_gradient(
            np.zeros((3, 5)), np.zeros(3), X, y, alpha
        )
        return gW - np.outer(gb, X.mean(axis=0))

    gW0 = first_gradient(X[first], y[first])
    eta0 = -(clf.coef_ / gW0).mean()
    assert_allclose(clf.coef_, -eta0 * gW0, rtol=1e-10)

    W1, b1 = clf.coef_.copy(), clf.intercept_.copy()
    clf.partial_fit(X_second, y[second])
    zero = np.zeros((3, 5)), np.zeros(3)
    W2, b2, _, _ = _reference_step(
        W1, b1, *zero, X_second, y[second],
        alpha=alpha,
        lr=eta0,
        intercept_step=clf._intercept_step,
        center=np.vstack([X[first], X_second]).mean(axis=0),
        mu=0.0,
    )
    assert_allclose(clf.coef_, W2, rtol=1e-10, atol=1e-13)
    assert_allclose(clf.intercept_, b2, rtol=1e-10, atol=1e-13)

    alone = SoftmaxClassifier(**params).partial_fit(
        X_second, y[second], classes=CLASSES
    )
    eta0_second = -(alone.coef_ / first_gradient(X_second, y[second])).mean()
    assert eta0_second < eta0 / 4


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_partial_fit_continues_after_fit(Estimator):
    X, y = _classification(300, n_features=5, seed=9)
    clf = Estimator(batch_size=64, max_iter=5, tol=None, random_state=0).fit(X, y)
    t_fit, coef_fit = clf.t_, clf.coef_.copy()
    assert t_fit == 5 * math.ceil(300 / 64)
    clf.partial_fit(X[:100], y[:100])  # classes come from fit
    assert clf.t_ == t_fit + math.ceil(100 / 64)
    assert clf.n_iter_ == 6
    assert_array_equal(clf.classes_, CLASSES)
    assert not np.allclose(clf.coef_, coef_fit)


def test_auto_step_is_kept_but_an_explicit_step_takes_effect():
    X, y = _classification(300, n_features=5, seed=10)
    kept = SoftmaxClassifier(random_state=0).partial_fit(X, y, classes=CLASSES)
    changed = SoftmaxClassifier(random_state=0).partial_fit(X, y, classes=CLASSES)
    before = changed.coef_.copy()
    changed.set_params(learning_rate_init=1e-12)
    kept.partial_fit(X, y)
    changed.partial_fit(X, y)
    assert not np.allclose(changed.coef_, kept.coef_, rtol=1e-3)
    # With a step of 1e-12 only the leftover momentum moves it, less far than
    # the auto step's further descent.
    moved = np.abs(changed.coef_ - before).max()
    assert moved < np.abs(kept.coef_ - before).max()
    # A new schedule, by contrast, takes effect on the next call.
    rescheduled = SoftmaxClassifier(random_state=0).partial_fit(X, y, classes=CLASSES)
    rescheduled.set_params(learning_rate="invscaling").partial_fit(X, y)
    assert not np.allclose(rescheduled.coef_, kept.coef_)


def _first_plateau(curve, tol=1e-4, n_iter_no_change=5):
    """Index of the epoch where ``fit``'s rule would shrink an adaptive step."""
    best, stale = np.inf, 0
    for epoch, loss in enumerate(curve):
        stale = 0 if loss < best - tol else stale + 1
        best = min(best, loss)
        if stale >= n_iter_no_change:
            return epoch
    return None


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_adaptive_schedule_does_not_decay_within_partial_fit(Estimator):
    X, y = _classification(200, n_features=5, seed=3)
    adaptive = Estimator(learning_rate="adaptive", random_state=0)
    constant = Estimator(learning_rate="constant", random_state=0)
    for _ in range(50):
        adaptive.partial_fit(X, y, classes=CLASSES)
        constant.partial_fit(X, y, classes=CLASSES)
    # The objective per call stalls somewhere in this stream, which would make
    # fit (tol=1e-4, n_iter_no_change=5) divide the step by 5...
    assert _first_plateau(adaptive.loss_curve_) is not None
    # ... yet every call used the same step as the constant schedule.
    assert_array_equal(adaptive.coef_, constant.coef_)
    assert_array_equal(adaptive.intercept_, constant.intercept_)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_classes_are_required_first_and_fixed_after(Estimator):
    X, y = _classification(150, n_features=4, seed=4)
    with pytest.raises(ValueError, match="classes must be passed"):
        Estimator().partial_fit(X, y)

    # The first chunk may lack a class; the model still has a row for it.
    clf = Estimator(random_state=0)
    not_two = y != 2
    clf.partial_fit(X[not_two], y[not_two], classes=[2, 0, 1])
    assert_array_equal(clf.classes_, CLASSES)
    assert clf.coef_.shape == (3, 4)

    clf.partial_fit(X, y)  # classes may be omitted after the first call
    clf.partial_fit(X, y, classes=CLASSES)  # or repeated unchanged
    with pytest.raises(ValueError, match="differs from the classes"):
        clf.partial_fit(X, y, classes=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="not in classes"):
        clf.partial_fit(X, np.where(y == 2, 7, y))
    assert_array_equal(clf.classes_, CLASSES)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_class_weight_dict_applies_to_each_chunk(Estimator):
    X, y = _classification(300, n_features=5, seed=5)
    weights = {0: 3.0, 1: 1.0, 2: 0.5}
    by_class = Estimator(class_weight=weights, batch_size=50, random_state=0)
    by_row = Estimator(batch_size=50, random_state=0)
    for chunk in (slice(0, 100), slice(100, 300)):
        by_class.partial_fit(X[chunk], y[chunk], classes=CLASSES)
        sample_weight = np.array([weights[label] for label in y[chunk]])
        by_row.partial_fit(
            X[chunk], y[chunk], classes=CLASSES, sample_weight=sample_weight
        )
    assert_allclose(by_class.coef_, by_row.coef_, rtol=1e-12, atol=1e-14)
    assert_allclose(by_class.intercept_, by_row.intercept_, rtol=1e-12, atol=1e-14)

    # Weights are relative to the running mean weight of the stream, not to
    # each minibatch: a class weight counts even on a chunk that holds that
    # class alone (the second call's steps are ten times larger here).
    only_0 = y == 0
    # (A fixed step: the auto step sits near the stability limit of the
    # unweighted data, and ten times that on one class overshoots.)
    light = Estimator(class_weight={0: 1.0}, learning_rate_init=0.05, random_state=0)
    heavy = Estimator(class_weight={0: 10.0}, learning_rate_init=0.05, random_state=0)
    for clf in (light, heavy):
        clf.partial_fit(X[~only_0], y[~only_0], classes=CLASSES)
    assert_array_equal(light.coef_, heavy.coef_)
    for clf in (light, heavy):
        clf.partial_fit(X[only_0], y[only_0])
    assert not np.allclose(light.coef_, heavy.coef_, rtol=1e-3)
    # The heavier class 0 gets the higher score on its own rows.
    def class0_margin(clf):
        scores = clf.decision_function(X[only_0])
        return np.mean(scores[:, 0] - scores[:, 1:].max(axis=1))

    assert class0_margin(heavy) > class0_margin(light)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_balanced_class_weight_is_refused_by_partial_fit(Estimator):
    X, y = _classification(60, n_features=4)
    with pytest.raises(ValueError, match="'balanced' is not supported"):
        Estimator(class_weight="balanced").partial_fit(X, y, classes=CLASSES)


# ---------------------------------------------------------------------------
# Out-of-core on one machine


def _stream(clf, chunks, n_passes):
    for _ in range(n_passes):
        for X_chunk, y_chunk in chunks():
            clf.partial_fit(X_chunk, y_chunk, classes=CLASSES)
    return clf


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_stream_memory_mapped_npy(Estimator, tmp_path):
    X, y = _classification(3000, seed=6)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=600, stratify=y, random_state=0
    )
    np.save(tmp_path / "X.npy", X_train)
    np.save(tmp_path / "y.npy", y_train)
    # Read-only maps: only the rows of the current chunk are paged in, and any
    # write to X by the estimator would raise.
    X_map = np.load(tmp_path / "X.npy", mmap_mode="r")
    y_map = np.load(tmp_path / "y.npy", mmap_mode="r")
    assert isinstance(X_map, np.memmap)
    step = 400

    def from_disk():
        for start in range(0, X_map.shape[0], step):
            yield X_map[start : start + step], y_map[start : start + step]

    def from_memory():
        for start in range(0, X_train.shape[0], step):
            yield X_train[start : start + step], y_train[start : start + step]

    streamed = _stream(Estimator(random_state=0), from_disk, n_passes=5)
    in_memory = _stream(Estimator(random_state=0), from_memory, n_passes=5)
    assert_array_equal(streamed.coef_, in_memory.coef_)
    assert streamed.n_iter_ == 5 * math.ceil(X_train.shape[0] / step)

    full = Estimator(random_state=0).fit(X_train, y_train)
    assert streamed.score(X_test, y_test) >= full.score(X_test, y_test) - 0.01


def test_stream_svmlight_in_byte_ranges(tmp_path):
    X, y = _classification(900, n_features=12, seed=7)
    path = str(tmp_path / "train.svmlight")
    dump_svmlight_file(sp.csr_matrix(X), y, path, zero_based=True)
    X_file, y_file = load_svmlight_file(path, n_features=12, zero_based=True)
    size = os.path.getsize(path)
    n_chunks = 4
    bounds = np.linspace(0, size, n_chunks + 1).astype(int)

    def from_file():
        # Each range is widened to whole lines by the reader; n_features and
        # zero_based must be given, or a chunk could infer them differently.
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
            X_chunk, y_chunk = load_svmlight_file(
                path,
                n_features=12,
                zero_based=True,
                offset=start,
                length=stop - start,
            )
            yield X_chunk, y_chunk.astype(int)

    chunks = list(from_file())
    assert all(sp.issparse(X_chunk) for X_chunk, _ in chunks)
    assert_array_equal(sp.vstack([c for c, _ in chunks]).toarray(), X_file.toarray())
    assert_array_equal(np.concatenate([c for _, c in chunks]), y_file)

    sizes = np.cumsum([0] + [c.shape[0] for c, _ in chunks])
    X_dense = X_file.toarray()

    def dense_rows():
        for start, stop in zip(sizes[:-1], sizes[1:], strict=True):
            yield X_dense[start:stop], y_file[start:stop].astype(int)

    sparse_model = _stream(HingeClassifier(random_state=0), from_file, n_passes=3)
    dense_model = _stream(HingeClassifier(random_state=0), dense_rows, n_passes=3)
    assert_allclose(sparse_model.coef_, dense_model.coef_, rtol=1e-9, atol=1e-12)
    assert_allclose(
        sparse_model.intercept_, dense_model.intercept_, rtol=1e-9, atol=1e-12
    )


# ---------------------------------------------------------------------------
# On a Dask cluster


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("dask.array")
    pytest.importorskip("dask_ml")
    with (
        distributed.LocalCluster(
            processes=False,
            n_workers=2,
            threads_per_worker=1,
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def _ran_on_cluster(client, task_stream, name):
    """Number of tasks whose key contains ``name``; checks where they ran."""
    tasks = [task for task in task_stream.data if name in str(task["key"])]
    workers = set(client.scheduler_info()["workers"])
    assert {task["worker"] for task in tasks} <= workers
    return len(tasks)


def _dask_chunks(X, y, rows, fmt):
    import dask.array as da

    X_dask = da.from_array(X, chunks=(rows, X.shape[1]))
    if fmt == "csr":
        X_dask = X_dask.map_blocks(
            sp.csr_matrix, dtype=X.dtype, meta=sp.csr_matrix((0, 0), dtype=X.dtype)
        )
    return X_dask, da.from_array(y, chunks=rows)


@pytest.fixture(scope="module")
def split_data():
    X, y = _classification(5000, seed=0)
    return train_test_split(X, y, test_size=1000, stratify=y, random_state=0)


@pytest.mark.parametrize("fmt", ["dense", "csr"])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_incremental_is_partial_fit_per_block(client, split_data, Estimator, fmt):
    from dask_ml.wrappers import Incremental
    from distributed import get_task_stream

    X_train, _, y_train, _ = split_data
    X_dask, y_dask = _dask_chunks(X_train, y_train, 500, fmt)
    with get_task_stream(client) as task_stream:
        inc = Incremental(Estimator(random_state=0), shuffle_blocks=False)
        inc.fit(X_dask, y_dask, classes=CLASSES)
    n_blocks = X_dask.numblocks[0]
    # One partial_fit task per block (dask may also list the initial model).
    assert _ran_on_cluster(client, task_stream, "fit-") >= n_blocks

    local = Estimator(random_state=0)
    to_format = sp.csr_matrix if fmt == "csr" else np.asarray
    for start in range(0, X_train.shape[0], 500):
        block = to_format(X_train[start : start + 500])
        local.partial_fit(block, y_train[start : start + 500], classes=CLASSES)
    assert_allclose(inc.estimator_.coef_, local.coef_, rtol=1e-12, atol=1e-14)
    assert_allclose(inc.estimator_.intercept_, local.intercept_, rtol=1e-12, atol=1e-14)
    assert inc.estimator_.n_iter_ == n_blocks


@pytest.mark.parametrize("fmt", ["dense", "csr"])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_incremental_passes_reach_in_memory_accuracy(
    client, split_data, Estimator, fmt
):
    from dask_ml.wrappers import Incremental

    X_train, X_test, y_train, y_test = split_data
    X_dask, y_dask = _dask_chunks(X_train, y_train, 500, fmt)
    X_test_dask, y_test_dask = _dask_chunks(X_test, y_test, 500, fmt)
    in_memory = Estimator(random_state=0).fit(X_train, y_train)

    # partial_fit never shrinks an "adaptive" step, so a stream of several
    # passes needs a schedule that decays with the update count.
    streamed = Estimator(learning_rate="invscaling", random_state=0)
    inc = Incremental(streamed, random_state=0)
    n_passes = 8
    for _ in range(n_passes):  # each call is one pass over all the blocks
        inc.partial_fit(X_dask, y_dask, classes=CLASSES)
    assert inc.estimator_.n_iter_ == n_passes * X_dask.numblocks[0]
    assert inc.estimator_.t_ == n_passes * X_dask.numblocks[0] * math.ceil(500 / 256)

    score = inc.score(X_test_dask, y_test_dask)
    assert score == pytest.approx(inc.estimator_.score(X_test, y_test))
    assert score >= in_memory.score(X_test, y_test) - 0.01
    predicted = inc.predict(X_test_dask).compute()
    assert_array_equal(predicted, inc.estimator_.predict(X_test))


GRID = {"alpha": [1e-4, 1e-2, 1e-1], "delta": [0.5, 1.0, 2.0]}


@pytest.fixture(scope="module")
def search_data():
    X, y = _classification(600, n_features=10, seed=8)
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    estimator = HingeClassifier(max_iter=20, tol=None, random_state=0)
    reference = GridSearchCV(estimator, GRID, cv=cv).fit(X, y)
    return X, y, cv, estimator, reference


def _assert_same_search(search, reference):
    assert search.best_params_ == reference.best_params_
    for split in range(3):
        key = f"split{split}_test_score"
        assert_array_equal(search.cv_results_[key], reference.cv_results_[key])
    assert_allclose(
        search.cv_results_["mean_test_score"],
        reference.cv_results_["mean_test_score"],
        rtol=1e-12,
    )
    assert [p for p in search.cv_results_["params"]] == list(
        reference.cv_results_["params"]
    )


@pytest.mark.parametrize("spelling", ["parallel_config", "parallel_backend"])
def test_sklearn_grid_search_on_joblib_dask_backend(client, search_data, spelling):
    import joblib
    from distributed import get_task_stream

    X, y, cv, estimator, reference = search_data
    with get_task_stream(client) as task_stream:
        with getattr(joblib, spelling)(backend="dask"):
            search = GridSearchCV(estimator, GRID, cv=cv, n_jobs=-1).fit(X, y)
    assert _ran_on_cluster(client, task_stream, "fit_and_score") > 0
    _assert_same_search(search, reference)


def test_dask_ml_grid_search(client, search_data):
    from dask_ml.model_selection import GridSearchCV as DaskGridSearchCV
    from distributed import get_task_stream

    X, y, cv, estimator, reference = search_data
    with get_task_stream(client) as task_stream:
        # iid=False: the plain mean over folds, as scikit-learn computes it
        # (dask-ml's default weights the folds by their sizes).
        search = DaskGridSearchCV(estimator, GRID, cv=cv, iid=False).fit(X, y)
    n_fits = len(reference.cv_results_["params"]) * cv.get_n_splits()
    assert _ran_on_cluster(client, task_stream, "fit-score") == n_fits
    _assert_same_search(search, reference)
    assert_array_equal(search.predict(X), reference.predict(X))
