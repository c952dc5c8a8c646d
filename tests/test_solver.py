"""The solver's pieces: the update rules' affine form and the lazy sparse path."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from threadpoolctl import threadpool_limits

from sklearn_linclf import HingeClassifier, SoftmaxClassifier
from sklearn_linclf._loss import WestonWatkinsHinge
from sklearn_linclf._objective import LinearObjective
from sklearn_linclf._solver import (
    MomentumUpdate,
    estimate_curvature,
    make_state,
)
from sklearn_linclf._solver import sparse as sparse_module
from sklearn_linclf._solver import steps as steps_module
from sklearn_linclf._solver import threads as threads_module
from sklearn_linclf._solver.loop import _take_rows

RULES = {
    "plain": MomentumUpdate(momentum=0.0),
    "heavy ball": MomentumUpdate(momentum=0.8, nesterov=False),
    "nesterov": MomentumUpdate(momentum=0.9, nesterov=True),
}


@pytest.mark.parametrize("rule", list(RULES))
def test_affine_form_is_the_update(rule):
    rule = RULES[rule]
    rng = np.random.default_rng(0)
    p, v, g = rng.standard_normal((3, 5, 4))
    lr, alpha = 0.3, 0.05
    expected_p = p.copy()
    expected_v = None if rule.momentum == 0 else v.copy()
    rule.apply(expected_p, g + 2 * alpha * p, expected_v, lr)

    A, c = rule.affine_form(lr, alpha)
    stacked = np.stack([p, v])[: A.shape[0]]
    got = np.einsum("ij,jkl->ikl", A, stacked) - lr * c[:, None, None] * g
    assert_allclose(got[0], expected_p, rtol=1e-13, atol=1e-13)
    if expected_v is not None:
        assert_allclose(got[1], expected_v, rtol=1e-13, atol=1e-13)


def _sparse_problem(n_samples=90, n_features=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    X[rng.random(X.shape) < 0.85] = 0.0  # many features absent per minibatch
    X[5] = 0.0  # an empty row
    y = (X @ rng.standard_normal((n_features, 3))).argmax(axis=1)
    return X, y


@pytest.mark.parametrize("Estimator", [HingeClassifier, SoftmaxClassifier])
@pytest.mark.parametrize(
    "momentum, nesterov",
    [(0.0, True), (0.8, False), (0.9, True), (1e-4, True)],
    ids=["plain", "heavy-ball", "nesterov", "tiny-momentum"],
)
@pytest.mark.parametrize("max_pending", [3, 1024], ids=["refresh", "no-refresh"])
def test_lazy_sparse_updates_equal_dense(
    Estimator, momentum, nesterov, max_pending, monkeypatch
):
    # Every update rule, the explicit path (a tiny momentum makes the update
    # map nearly singular), the catch-up of all rows when Q fills, and a step
    # that changes at every update.
    monkeypatch.setattr(sparse_module, "MAX_PENDING", max_pending)
    X, y = _sparse_problem()
    params = dict(
        alpha=0.01,
        batch_size=8,
        max_iter=4,
        tol=None,
        random_state=0,
        momentum=momentum,
        nesterovs_momentum=nesterov,
        learning_rate="invscaling",
        learning_rate_init=0.05,
    )
    dense = Estimator(**params).fit(X, y)
    lazy = Estimator(**params).fit(sp.csr_matrix(X), y)
    assert_allclose(lazy.coef_, dense.coef_, rtol=1e-10, atol=1e-12)
    assert_allclose(lazy.intercept_, dense.intercept_, rtol=1e-10, atol=1e-12)
    assert_allclose(lazy.loss_curve_, dense.loss_curve_, rtol=1e-10)


@pytest.mark.parametrize("Estimator", [HingeClassifier, SoftmaxClassifier])
@pytest.mark.parametrize("shrink", [0.0, 1e-13, 1e-3, 0.2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sparse_step_without_momentum_survives_a_vanishing_scale(
    Estimator, shrink, dtype
):
    # Without momentum the sparse rows are stored scaled by the product of
    # the shrinks 1 - 2 lr alpha so far. A shrink of 0 (the penalty step
    # lands on 0), or one that drives the product below what the dtype holds
    # safely (1e-150 for float64: 12 steps of 1e-13; 1e-20 for float32: 2 or
    # 7 steps) within an epoch of 23 steps, makes the kernel rewrite the
    # rows; the model must still be the dense one.
    X, y = _sparse_problem()
    X = X.astype(dtype)
    lr = 0.05
    params = dict(
        alpha=(1 - shrink) / (2 * lr),
        batch_size=4,
        max_iter=3,
        tol=None,
        random_state=0,
        momentum=0.0,
        learning_rate="constant",
        learning_rate_init=lr,
    )
    dense = Estimator(**params).fit(X, y)
    lazy = Estimator(**params).fit(sp.csr_matrix(X), y)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(
        rtol=1e-4, atol=1e-6)
    assert np.abs(dense.coef_).max() > 0  # the data moves the model each step
    assert_allclose(lazy.coef_, dense.coef_, **tol)
    assert_allclose(lazy.intercept_, dense.intercept_, **tol)


@pytest.mark.parametrize("Estimator", [HingeClassifier, SoftmaxClassifier])
def test_partial_fit_mixing_sparse_and_dense_chunks(Estimator):
    # The velocity continues across calls whatever the storage of a chunk.
    X, y = _sparse_problem(n_samples=120)
    chunks = [slice(0, 40), slice(40, 80), slice(80, 120)]
    params = dict(alpha=0.01, batch_size=10, random_state=0)
    dense = Estimator(**params)
    mixed = Estimator(**params)
    for i, rows in enumerate(chunks):
        dense.partial_fit(X[rows], y[rows], classes=np.arange(3))
        chunk = sp.csr_matrix(X[rows]) if i != 1 else X[rows]
        mixed.partial_fit(chunk, y[rows], classes=np.arange(3))
    assert_allclose(mixed.coef_, dense.coef_, rtol=1e-10, atol=1e-12)
    assert_allclose(mixed.intercept_, dense.intercept_, rtol=1e-10, atol=1e-12)


def test_interleaved_state_views_one_table():
    rule = MomentumUpdate(momentum=0.9)
    params = np.arange(12.0).reshape(4, 3)
    velocity = -params
    state = make_state(params, rule, velocity=velocity, interleave=True)
    assert state.table.shape == (4, 2, 3)
    assert np.shares_memory(state.params, state.table)
    assert np.shares_memory(state.velocity, state.table)
    assert_array_equal(state.params, params)
    assert_array_equal(state.velocity, velocity)
    assert not np.shares_memory(state.params, params)  # the inputs are copied
    plain = make_state(params, MomentumUpdate(momentum=0.0), interleave=True)
    assert plain.velocity is None and plain.table is None
    assert plain.interleave().shape == (4, 1, 3)


@pytest.mark.parametrize("fmt", [np.asarray, sp.csr_matrix, sp.csr_array])
def test_take_rows_equals_fancy_indexing(fmt):
    X, _ = _sparse_problem()
    X = fmt(X)
    dense = X if isinstance(X, np.ndarray) else X.toarray()
    idx = np.array([0, 3, 5, 5, 17, 89])  # includes an empty and a repeated row
    got = _take_rows(X, idx)
    assert type(got) is type(X)
    got = got if isinstance(got, np.ndarray) else got.toarray()
    assert_array_equal(got, dense[idx])


def _exact_curvature(X, w, center):
    """Largest eigenvalue of the weighted Gram of ``X - center``, by eigvalsh."""
    Z = (X.toarray() if sp.issparse(X) else X) - center
    gram = Z.T @ (Z * (w / w.sum())[:, None])
    return np.linalg.eigvalsh(gram)[-1]


@pytest.mark.parametrize("fmt", [np.asarray, sp.csr_matrix])
def test_curvature_of_a_full_batch_is_the_top_eigenvalue(fmt):
    X, _ = _sparse_problem(n_samples=60, n_features=12)
    w = np.random.default_rng(1).uniform(0.5, 2.0, size=60)
    center = X.T @ w / w.sum()
    curvature = estimate_curvature(fmt(X), w, 60, center=center, n_iter=200)
    assert_allclose(curvature.coef, _exact_curvature(X, w, center), rtol=1e-6)
    # Centred features and the intercept are uncoupled over the whole data.
    assert_allclose(curvature.coupling, 1.0, rtol=1e-6)
    plain = estimate_curvature(fmt(X), w, 60, center=None, n_iter=200)
    assert_allclose(plain.coef, _exact_curvature(X, w, 0.0), rtol=1e-6)
    assert 1.0 <= plain.coupling <= 2.0


def test_curvature_is_the_same_for_dense_and_sparse_and_for_repeated_rows():
    X, _ = _sparse_problem(n_samples=80, n_features=30)
    center = X.mean(axis=0)
    dense = estimate_curvature(X, np.ones(80), 16, center=center)
    sparse = estimate_curvature(sp.csr_matrix(X), np.ones(80), 16, center=center)
    assert_allclose(sparse.coef, dense.coef, rtol=1e-10)
    assert_allclose(sparse.coupling, dense.coupling, rtol=1e-10)
    # Integer weights of a full batch equal repeated rows.
    counts = np.arange(80) % 3
    weighted = estimate_curvature(X, counts.astype(float), 80, center=None)
    repeated = estimate_curvature(np.repeat(X, counts, axis=0), np.ones(counts.sum()),
                                  counts.sum(), center=None)
    assert_allclose(weighted.coef, repeated.coef, rtol=1e-8)
    # A minibatch sees more curvature than the whole data (its noise adds).
    whole = estimate_curvature(X, np.ones(80), 80, center=center, n_iter=100)
    assert dense.coef > whole.coef


def test_centring_mean_direction_is_removed_from_the_curvature():
    # Uncentred positive features: the mean direction dominates the Gram.
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, size=(500, 20))
    w = np.ones(500)
    plain = estimate_curvature(X, w, 500, center=None, n_iter=100)
    centred = estimate_curvature(X, w, 500, center=X.mean(axis=0), n_iter=100)
    assert centred.coef < plain.coef / 20


@pytest.mark.parametrize("Estimator", [HingeClassifier, SoftmaxClassifier])
def test_centred_solver_reaches_the_plain_minimiser(Estimator):
    # A shift of X changes only the intercept of the minimiser. The solver
    # centres the features, so both fits run in the same centred coordinates;
    # what is checked is that the plain (W, b) it stores is the minimiser of
    # the plain problem on each data set.
    X, y = _sparse_problem(n_samples=120, n_features=8)
    params = dict(alpha=0.01, batch_size=120, max_iter=3000, tol=1e-10,
                  random_state=0)
    a = Estimator(**params).fit(X, y)
    b = Estimator(**params).fit(X + 5.0, y)
    objective = a._objective()
    w = np.ones(len(y))

    def value(clf, X):
        coef = np.hstack([clf.coef_, clf.intercept_[:, None]])
        return objective.value(coef, X, y, w)

    assert_allclose(value(b, X + 5.0), value(a, X), rtol=1e-4)
    # The same model: b's intercept is a's shifted.
    shifted = np.hstack([b.coef_, (b.intercept_ + 5.0 * b.coef_.sum(axis=1))[:, None]])
    assert_allclose(objective.value(shifted, X, y, w), value(a, X), rtol=1e-4)
    if Estimator is SoftmaxClassifier:  # a unique minimiser
        assert_allclose(b.coef_, a.coef_, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("Estimator", [HingeClassifier, SoftmaxClassifier])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sparse_results_do_not_depend_on_the_thread_count(
    Estimator, dtype, momentum, monkeypatch
):
    # Batches large enough for the compiled step to split them between
    # threads; every sum has a fixed order, so the models are bitwise equal.
    # The thread choice runs the batches in small chunks (several calls of
    # the kernel per epoch, on 1 or 2 threads).
    monkeypatch.setattr(threads_module.ThreadChoice, "chunk", 2)
    monkeypatch.setattr(threads_module.ThreadChoice, "probe_chunk", 1)
    monkeypatch.setattr(threads_module, "_CHOICES", {})
    rng = np.random.default_rng(0)
    X = sp.random(3000, 400, density=0.08, random_state=0, format="csr")
    X = X.astype(dtype)
    y = (X @ rng.standard_normal((400, 10))).argmax(axis=1)
    weights = rng.uniform(0.5, 2.0, size=3000)
    params = dict(alpha=1e-4, batch_size=512, max_iter=3, tol=None,
                  momentum=momentum, random_state=0)
    models = []
    for n_threads in (1, 2):
        with threadpool_limits(n_threads, user_api="openmp"):
            models.append(Estimator(**params).fit(X, y, sample_weight=weights))
    one, two = models
    assert_array_equal(two.coef_, one.coef_)
    assert_array_equal(two.intercept_, one.intercept_)
    assert_array_equal(two.loss_curve_, one.loss_curve_)


def test_kernel_threads_follow_the_openmp_limit():
    # The user's threadpoolctl limit caps the kernels' threads, and is theirs
    # again afterwards.
    before = threads_module.openmp_threads()
    with threadpool_limits(1, user_api="openmp"):
        assert threads_module.openmp_threads() == 1
        X, y = _sparse_problem(n_samples=200)
        SoftmaxClassifier(max_iter=2, tol=None).fit(sp.csr_matrix(X), y)
        assert threads_module.openmp_threads() == 1
    assert threads_module.openmp_threads() == before


@pytest.mark.parametrize(
    "schedule",
    [
        steps_module.ConstantSchedule(0.3),
        steps_module.InvScalingSchedule(0.3, 0.5),
        steps_module.InvScalingSchedule(0.3, 0.25),
        steps_module.AdaptiveSchedule(0.3),
    ],
    ids=["constant", "invscaling", "invscaling-0.25", "adaptive"],
)
@pytest.mark.parametrize("n_decays", [0, 2])
def test_schedule_rates_equal_one_call_per_update(schedule, n_decays):
    # An epoch's step sizes come from one call; they must be exactly the
    # per-update values.
    expected = [schedule(17 + i, n_decays) for i in range(40)]
    got = schedule.rates(17, 40, n_decays)
    assert got.dtype == np.float64
    assert_array_equal(got, expected)
    assert schedule.rates(17, 0, n_decays).shape == (0,)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ahead", [0, 1, 16])
@pytest.mark.parametrize("n_picks, n_threads", [(1000, 1), (1001, 2), (5, 8)])
def test_gather_timing_loop_computes_its_sum(dtype, ahead, n_picks, n_threads):
    # The loop behind the benchmark's rate and read floor: whatever it reads
    # ahead, and however many threads share the picks (more threads than
    # picks included), it sums x * rows[j] over every pick once.
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((300, 45)).astype(dtype)
    picks = rng.integers(0, 300, n_picks).astype(np.int32)
    seconds, checksum = sparse_module._sparse_kernel.gather_axpy_seconds(
        rows, picks, 0.5, ahead, n_threads
    )
    assert seconds >= 0
    expected = 0.5 * rows.astype(float)[picks].sum()
    rel = 1e-4 if dtype == np.float32 else 1e-10
    assert checksum == pytest.approx(expected, rel=rel)


@pytest.mark.parametrize("momentum", [0.0, 0.9], ids=["scaled", "lazy"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sparse_hinge_margins_at_exactly_zero_are_inactive(dtype, momentum):
    # Integer data, parameters and margin: many margins are exactly 0, and
    # the label's own term (also delta) must never count. The kernel keeps
    # the active terms without a branch; it must agree with numpy's > 0.
    rng = np.random.default_rng(4)
    n_samples, n_features, n_classes = 150, 6, 5
    X = rng.integers(-1, 2, (n_samples, n_features)).astype(dtype)
    X[rng.random(X.shape) < 0.3] = 0
    y = rng.integers(0, n_classes, n_samples)
    params = rng.integers(-1, 2, (n_features + 1, n_classes)).astype(dtype)
    scores = X @ params[:-1] + params[-1]
    margins = scores - scores[np.arange(n_samples), y][:, None] + 1.0
    margins[np.arange(n_samples), y] = np.nan
    assert (margins == 0).sum() > n_samples // 4
    objective = LinearObjective(WestonWatkinsHinge(delta=1.0), 0.0, True)
    rule = MomentumUpdate(momentum=momentum)
    lr = 0.5

    expected = params.copy()
    velocity = None if momentum == 0 else np.zeros_like(expected)
    _, grad = objective.params_gradient(expected, X, y, None, float(n_samples))
    rule.apply(expected, grad, velocity, lr)

    state = make_state(params.copy(), rule, t=1)
    losses, _ = sparse_module.sparse_epoch(
        objective, rule, state, sp.csr_matrix(X), y, None, np.arange(n_samples),
        np.array([0]), np.array([n_samples]), np.array([lr]),
        np.array([1.0 / n_samples]),
    )
    # The batch's loss is the sum of the positive margins, an integer.
    assert losses[0] == np.nansum(np.maximum(margins, 0))
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    assert_allclose(state.params, expected, rtol=rtol, atol=rtol)
    assert not np.array_equal(state.params, params)
