"""The compiled dense epoch against a numpy epoch, and its thread invariance."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from threadpoolctl import threadpool_limits

from sklearn_linclf import HingeClassifier, SoftmaxClassifier
from sklearn_linclf._loss import SoftmaxCrossEntropy, WestonWatkinsHinge
from sklearn_linclf._objective import LinearObjective
from sklearn_linclf._solver import MomentumUpdate, make_state, run_epoch
from sklearn_linclf._solver import dense as dense_module
from sklearn_linclf._solver import threads as threads_module
from sklearn_linclf._solver.dense import dense_epoch, kernel_threads
from sklearn_linclf._solver.steps import InvScalingSchedule

LOSSES = {"softmax": SoftmaxCrossEntropy(), "hinge": WestonWatkinsHinge(delta=0.7)}
RULES = {
    "plain": MomentumUpdate(momentum=0.0),
    "heavy-ball": MomentumUpdate(momentum=0.8, nesterov=False),
    "nesterov": MomentumUpdate(momentum=0.9, nesterov=True),
}
# Tolerances relative to the largest entry: numpy and the kernel sum in
# different orders (BLAS blocks, the bias added by gemm's beta).
RTOL = {np.float64: 1e-12, np.float32: 2e-5}


def reference_epoch(objective, rule, state, X, y, sample_weight, order, bounds):
    """The epoch in numpy: ``params_gradient`` and ``MomentumUpdate.apply``.

    ``bounds`` holds ``(start, stop, lr, weight_sum)`` per batch; returns
    each batch's ``sum w_i L_i``.
    """
    losses = []
    for start, stop, lr, weight_sum in bounds:
        rows = np.arange(start, stop) if order is None else order[start:stop]
        sw = None if sample_weight is None else sample_weight[rows]
        value, grad = objective.params_gradient(
            state.params, X[rows], y[rows], sw, weight_sum, center=state.center
        )
        if objective.fit_intercept:
            grad[-1] *= state.intercept_step
        rule.apply(state.params, grad, state.velocity, lr)
        losses.append(value * weight_sum)
    return np.array(losses)


def _problem(n_samples, n_features, n_classes, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features)) + rng.standard_normal(n_features)
    W = rng.standard_normal((n_features, n_classes))
    y = (X @ W + 2 * rng.standard_normal((n_samples, n_classes))).argmax(axis=1)
    sample_weight = rng.uniform(0.2, 3.0, n_samples)
    return X.astype(dtype), y, sample_weight.astype(dtype), rng


def _state(objective, rule, n_features, n_classes, dtype, rng):
    n_rows = objective.n_params(n_features)
    params = (0.1 * rng.standard_normal((n_rows, n_classes))).astype(dtype)
    velocity = None
    if rule.momentum > 0:
        velocity = (0.01 * rng.standard_normal((n_rows, n_classes))).astype(dtype)
    state = make_state(params, rule, velocity=velocity, t=3)
    state.intercept_step = 1.7
    return state


def _batches(n_samples, batch_size, sample_weight, dtype):
    starts = np.arange(0, n_samples, batch_size)
    stops = np.minimum(starts + batch_size, n_samples)
    # A step that changes at every batch (inverse scaling from t = 3).
    lrs = 0.3 / np.sqrt(4 + np.arange(starts.size))
    mean = 1.0 if sample_weight is None else float(sample_weight.mean())
    weight_sums = (stops - starts) * mean
    return starts, stops, lrs, weight_sums


def _compare(
    loss,
    rule,
    dtype,
    *,
    weighted,
    intercept,
    layout="C",
    shuffled=True,
    n_samples=203,
    n_features=37,
    n_classes=5,
    batch_size=48,
    n_threads=None,
):
    X, y, sample_weight, rng = _problem(n_samples, n_features, n_classes, dtype)
    if layout == "F":
        X = np.asfortranarray(X)
    elif layout == "strided":
        wide = np.zeros((2 * n_samples, 3 * n_features), dtype=dtype)
        wide[::2, ::3] = X
        X = wide[::2, ::3]
    elif layout == "row-strided":
        tall = np.zeros((3 * n_samples, n_features), dtype=dtype)
        tall[::3] = X
        X = tall[::3]
    X.setflags(write=False)
    if not weighted:
        sample_weight = None
    objective = LinearObjective(LOSSES[loss], 0.05, intercept != "none")
    rule = RULES[rule]
    order = rng.permutation(n_samples) if shuffled else None
    starts, stops, lrs, weight_sums = _batches(
        n_samples, batch_size, sample_weight, dtype
    )
    states = []
    for _ in range(2):
        state = _state(
            objective, rule, n_features, n_classes, dtype, np.random.default_rng(1)
        )
        if intercept == "centred":
            state.center = X.mean(axis=0).astype(dtype)
        states.append(state)
    expected = reference_epoch(
        objective,
        rule,
        states[0],
        X,
        y,
        sample_weight,
        order,
        list(zip(starts, stops, lrs, weight_sums, strict=True)),
    )
    got = dense_epoch(
        objective,
        rule,
        states[1],
        X,
        y,
        sample_weight,
        order,
        starts,
        stops,
        lrs,
        1.0 / weight_sums,
        n_threads=n_threads,
    )
    rtol = RTOL[dtype]
    assert states[1].params.dtype == dtype
    assert_allclose(got, expected, rtol=rtol, atol=rtol * np.abs(expected).max())
    for attr in ("params", "velocity"):
        a, b = getattr(states[1], attr), getattr(states[0], attr)
        if b is None:
            assert a is None
            continue
        assert a.dtype == dtype
        assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())
    # The epoch moved the parameters: the comparison is not of two no-ops.
    start = _state(
        objective, rule, n_features, n_classes, dtype, np.random.default_rng(1)
    ).params
    assert np.abs(states[1].params - start).max() > 100 * rtol


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("intercept", ["none", "plain", "centred"])
@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("loss", list(LOSSES))
def test_epoch_equals_numpy_epoch(loss, weighted, rule, intercept, dtype):
    _compare(loss, rule, dtype, weighted=weighted, intercept=intercept)


@pytest.mark.parametrize("layout", ["C", "F", "strided", "row-strided"])
@pytest.mark.parametrize("shuffled", [True, False], ids=["shuffled", "in-order"])
@pytest.mark.parametrize("full_batch", [False, True], ids=["minibatch", "full"])
@pytest.mark.parametrize("loss", list(LOSSES))
def test_memory_layouts(loss, layout, shuffled, full_batch):
    n_samples = 150
    _compare(
        loss,
        "nesterov",
        np.float64,
        weighted=True,
        intercept="centred",
        layout=layout,
        shuffled=shuffled,
        n_samples=n_samples,
        batch_size=n_samples if full_batch else 40,
    )


# Few features and 2-4 classes take loops instead of gemm, and copies of the
# row loop per class count; (8, 4) and (5, 5) are just past those paths.
@pytest.mark.parametrize(
    "n_features, n_classes", [(2, 2), (2, 3), (8, 3), (12, 2), (3, 4), (8, 4), (5, 5)]
)
@pytest.mark.parametrize("layout", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss", list(LOSSES))
def test_few_features_and_classes_equal_numpy(
    loss, dtype, layout, n_features, n_classes
):
    for weighted in (False, True):
        _compare(
            loss,
            "nesterov",
            dtype,
            weighted=weighted,
            intercept="centred",
            layout=layout,
            n_features=n_features,
            n_classes=n_classes,
        )


@pytest.mark.parametrize("shape", [(2, 3), (12, 2), (3, 4)])
@pytest.mark.parametrize("loss", list(LOSSES))
def test_few_features_and_classes_bitwise_for_any_thread_count(loss, shape):
    n_features, n_classes = shape
    X, y, sample_weight, rng = _problem(700, n_features, n_classes, np.float64)
    objective = LinearObjective(LOSSES[loss], 1e-3, True)
    rule = RULES["nesterov"]
    order = rng.permutation(700)
    starts, stops, lrs, weight_sums = _batches(700, 64, sample_weight, np.float64)
    results = []
    for n_threads in (1, 2, 3):
        state = _state(
            objective, rule, n_features, n_classes, np.float64,
            np.random.default_rng(1),
        )
        state.center = X.mean(axis=0)
        losses = dense_epoch(
            objective, rule, state, X, y, sample_weight, order, starts, stops,
            lrs, 1.0 / weight_sums, n_threads=n_threads,
        )
        results.append((losses, state.params, state.velocity))
    for result in results[1:]:
        for got, expected in zip(result, results[0], strict=True):
            assert_array_equal(got, expected)


@pytest.mark.parametrize(
    "shape", [(300, 2, 3), (257, 64, 10)], ids=["tiny", "digits-like"]
)
@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("loss", list(LOSSES))
def test_any_thread_count_equals_numpy(loss, n_threads, shape):
    n_samples, n_features, n_classes = shape
    _compare(
        loss,
        "nesterov",
        np.float32,
        weighted=True,
        intercept="centred",
        n_samples=n_samples,
        n_features=n_features,
        n_classes=n_classes,
        batch_size=64,
        n_threads=n_threads,
    )


def _kernel_result(dtype, n_threads, loss, shuffled=True):
    n_samples, n_features, n_classes = 1000, 120, 7
    X, y, sample_weight, rng = _problem(n_samples, n_features, n_classes, dtype)
    objective = LinearObjective(LOSSES[loss], 1e-3, True)
    rule = RULES["nesterov"]
    state = _state(
        objective, rule, n_features, n_classes, dtype, np.random.default_rng(1)
    )
    state.center = X.mean(axis=0).astype(dtype)
    order = rng.permutation(n_samples) if shuffled else None
    starts, stops, lrs, weight_sums = _batches(n_samples, 256, sample_weight, dtype)
    losses = dense_epoch(
        objective,
        rule,
        state,
        X,
        y,
        sample_weight,
        order,
        starts,
        stops,
        lrs,
        1.0 / weight_sums,
        n_threads=n_threads,
    )
    return losses, state.params, state.velocity


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss", list(LOSSES))
def test_bitwise_identical_for_any_thread_count(loss, dtype):
    # Enough work per batch for the automatic choice to take 2 threads.
    results = {}
    for limit in (1, 2):
        with threadpool_limits(limits=limit, user_api="openmp"):
            assert dense_module._dense_kernel.max_threads() == limit
            assert kernel_threads(256, 120, 7) == limit
            results[limit] = _kernel_result(dtype, None, loss)
    for explicit in (3, 4):
        results[explicit] = _kernel_result(dtype, explicit, loss)
    for n_threads, result in results.items():
        for got, expected in zip(result, results[1], strict=True):
            assert_array_equal(got, expected, err_msg=f"{n_threads} threads")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_softmax_loss_of_many_rows_and_classes_stays_finite(dtype, n_threads):
    # With W = 0 every row's softmax total is the number of classes: over a
    # block of rows of this batch (at most 8 blocks of 250 rows) the product
    # of the totals (500**250) is far past float64's range, so the kernel
    # must take its log in pieces.
    n_samples, n_features, n_classes = 2000, 3, 500
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_samples, n_features)).astype(dtype)
    y = rng.integers(0, n_classes, n_samples)
    objective = LinearObjective(LOSSES["softmax"], 0.0, True)
    rule = RULES["plain"]
    params = np.zeros((objective.n_params(n_features), n_classes), dtype=dtype)
    state = make_state(params, rule, t=3)
    starts, stops = np.array([0]), np.array([n_samples])
    losses = dense_epoch(
        objective, rule, state, X, y, None, None, starts, stops,
        np.array([0.1]), np.array([1.0 / n_samples]), n_threads=n_threads,
    )
    assert_allclose(losses, [n_samples * np.log(n_classes)], rtol=1e-12)


def test_small_batches_run_on_one_thread():
    # Digits-sized batches gain little from a second thread and lose much
    # when the cores are busy (see dense.MIN_WORK_PER_THREAD).
    with threadpool_limits(limits=2, user_api="openmp"):
        assert kernel_threads(256, 64, 10) == 1
        assert kernel_threads(256, 200, 10) == 2


@pytest.mark.parametrize("Estimator", [SoftmaxClassifier, HingeClassifier])
def test_fit_is_bitwise_identical_on_one_and_two_threads(Estimator):
    # 200 features: enough work per batch for two threads (kernel_threads).
    X, y, sample_weight, _ = _problem(3000, 200, 6, np.float64)
    with threadpool_limits(limits=2, user_api="openmp"):
        assert kernel_threads(256, 200, 6) == 2
    models = []
    for limit in (1, 2):
        with threadpool_limits(limits=limit, user_api="openmp"):
            model = Estimator(max_iter=3, tol=None, random_state=0)
            models.append(model.fit(X, y, sample_weight=sample_weight))
    assert_array_equal(models[0].coef_, models[1].coef_)
    assert_array_equal(models[0].intercept_, models[1].intercept_)
    assert_array_equal(models[0].loss_curve_, models[1].loss_curve_)


def _run_epochs(monkeypatch, compiled, X, y, sample_weight, loss, rule, batch_size):
    monkeypatch.setattr(
        "sklearn_linclf._solver.loop.kernel_supports",
        dense_module.kernel_supports if compiled else (lambda *args: False),
    )
    objective = LinearObjective(LOSSES[loss], 1e-3, True)
    state = make_state(np.zeros((X.shape[1] + 1, 4), dtype=X.dtype), rule, t=2)
    state.center = X.mean(axis=0)
    state.intercept_step = 0.8
    rng = np.random.default_rng(5)
    values = [
        run_epoch(
            objective,
            state,
            X,
            y,
            sample_weight,
            batch_size=batch_size,
            shuffle=True,
            rng=rng,
            update_rule=rule,
            schedule=InvScalingSchedule(0.2, 0.5),
        )
        for _ in range(3)
    ]
    return np.array(values), state


@pytest.mark.parametrize("weights", ["equal", "uneven", "zero-batches"])
@pytest.mark.parametrize("batch_size", [32, 500], ids=["minibatch", "full"])
@pytest.mark.parametrize("loss", list(LOSSES))
def test_run_epoch_equals_the_stepper_loop(monkeypatch, loss, batch_size, weights):
    X, y, sample_weight, _ = _problem(200, 12, 4, np.float64, seed=3)
    if weights == "equal":
        sample_weight = np.full(200, 2.5)
    elif weights == "zero-batches":
        sample_weight[3:] = 0.0  # most batches hold only zero weights: skipped
    rule = RULES["nesterov"]
    results = [
        _run_epochs(monkeypatch, compiled, X, y, sample_weight, loss, rule, batch_size)
        for compiled in (False, True)
    ]
    (values_np, state_np), (values_c, state_c) = results
    assert_allclose(values_c, values_np, rtol=1e-12)
    assert state_c.t == state_np.t
    assert_allclose(state_c.params, state_np.params, rtol=1e-11, atol=1e-13)
    assert_allclose(state_c.velocity, state_np.velocity, rtol=1e-11, atol=1e-13)
    if weights == "zero-batches" and batch_size == 32:
        assert state_c.t <= 2 + 3 * 3  # at most 3 of the 7 batches a pass run


def test_kernel_declines_what_it_cannot_run():
    objective = LinearObjective(LOSSES["softmax"], 0.0, True)
    rule = RULES["plain"]
    state = make_state(np.zeros((4, 3)), rule)
    supports = dense_module.kernel_supports
    assert supports(objective, rule, state, np.zeros((5, 3)))
    assert not supports(objective, rule, state, np.zeros((5, 3), dtype=np.float32))
    assert not supports(objective, rule, state, np.zeros((5, 3), dtype=np.int64))
    smoothed = LinearObjective(object(), 0.0, True)
    assert not supports(smoothed, rule, state, np.zeros((5, 3)))


def test_bad_batches_are_refused():
    X, y, _, _ = _problem(20, 3, 2, np.float64)
    objective = LinearObjective(LOSSES["hinge"], 0.0, False)
    rule = RULES["plain"]
    state = make_state(np.zeros((3, 2)), rule)
    with pytest.raises(ValueError, match="outside"):
        dense_epoch(objective, rule, state, X, y, None, None, [0], [21], [1.0], [1.0])
    with pytest.raises(ValueError, match="outside"):
        dense_epoch(
            objective,
            rule,
            state,
            X,
            y,
            None,
            np.arange(20) + 1,
            [0],
            [20],
            [1.0],
            [1.0],
        )
    with pytest.raises(ValueError, match="class index"):
        dense_epoch(
            objective, rule, state, X, y + 5, None, None, [0], [20], [1.0], [1.0]
        )


def test_chunked_epoch_equals_one_call(monkeypatch):
    # Many batches in chunks of 3 (the thread choice's unit) give the same
    # bits as one call on one thread.
    monkeypatch.setattr(threads_module.ThreadChoice, "chunk", 3)
    monkeypatch.setattr(threads_module.ThreadChoice, "probe_chunk", 2)
    monkeypatch.setattr(threads_module, "_CHOICES", {})
    n_samples, n_features, n_classes = 2000, 120, 7
    X, y, sample_weight, rng = _problem(n_samples, n_features, n_classes, np.float64)
    objective = LinearObjective(LOSSES["softmax"], 1e-3, True)
    rule = RULES["heavy-ball"]
    order = rng.permutation(n_samples)
    # Batches of 256 rows: enough work for the automatic choice of threads.
    starts, stops, lrs, weight_sums = _batches(
        n_samples, 256, sample_weight, np.float64
    )
    results = []
    for n_threads, limit in ((1, 1), (None, 2)):
        state = _state(
            objective,
            rule,
            n_features,
            n_classes,
            np.float64,
            np.random.default_rng(1),
        )
        with threadpool_limits(limits=limit, user_api="openmp"):
            losses = dense_epoch(
                objective,
                rule,
                state,
                X,
                y,
                sample_weight,
                order,
                starts,
                stops,
                lrs,
                1.0 / weight_sums,
                n_threads=n_threads,
            )
        results.append((losses, state.params, state.velocity))
    choices = list(threads_module._CHOICES.values())
    assert len(choices) == 1 and set(choices[0].per_batch) == {1, 2}
    for got, expected in zip(results[1], results[0], strict=True):
        assert_array_equal(got, expected)


class _FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.mark.parametrize("faster", [1, 2])
def test_thread_choice_follows_the_faster(faster):
    clock = _FakeClock()
    choice = threads_module.ThreadChoice(2, clock=clock)
    used = []

    def run(lo, hi, threads):
        used.append(threads)
        clock.now += (hi - lo) * (1.0 if threads == faster else 10.0)
        return np.arange(lo, hi, dtype=float)

    n_batches = 100 * choice.chunk + 5
    losses = choice.run(run, n_batches)
    assert_array_equal(losses, np.arange(n_batches))  # every batch, in order
    # Stretches of calls with one thread count (a switch's first batch is a
    # call of its own).
    stretches = [t for i, t in enumerate(used) if i == 0 or used[i - 1] != t]
    assert set(stretches[:2]) == {1, 2}  # both were timed first
    assert choice.best() == faster
    # The slower one is retried less and less often: a few stretches of 101.
    assert 2 <= stretches.count(3 - faster) <= 10


def test_thread_choice_switches_when_the_speed_changes():
    clock = _FakeClock()
    choice = threads_module.ThreadChoice(2, clock=clock)
    cost = {1: 1.0, 2: 10.0}  # two threads stalled, then the cores free up

    def run(lo, hi, threads):
        clock.now += (hi - lo) * cost[threads]
        return np.zeros(hi - lo)

    choice.run(run, 20 * choice.chunk)
    assert choice.best() == 1
    cost[2] = 0.5
    choice.run(run, (choice.max_wait + 4) * choice.chunk)
    assert choice.best() == 2


def test_thread_choice_times_a_switch_after_its_first_batch():
    """Waking idle threads made a switch's first batch slow: n threads lost
    every probe after a stretch on one thread and stayed locked out."""
    clock = _FakeClock()
    choice = threads_module.ThreadChoice(2, clock=clock)
    last = [None]
    batches = {1: 0, 2: 0}

    def run(lo, hi, threads):
        cost = (hi - lo) * (0.5 if threads == 2 else 1.0)
        if threads != last[0]:
            cost += 30.0  # the first batch after a switch
        last[0] = threads
        batches[threads] += hi - lo
        clock.now += cost
        return np.zeros(hi - lo)

    choice.run(run, 200 * choice.chunk)
    assert choice.best() == 2
    assert batches[2] > 0.9 * (batches[1] + batches[2])


def test_thread_choice_keeps_the_faster_through_one_slow_chunk():
    clock = _FakeClock()
    choice = threads_module.ThreadChoice(2, clock=clock)
    used = []
    spike = 10  # the 2-thread chunk that is disturbed

    def run(lo, hi, threads):
        used.append(threads)
        slow = threads == 2 and used.count(2) == spike
        clock.now += (hi - lo) * (0.5 if threads == 2 else 1.0) * (40 if slow else 1)
        return np.zeros(hi - lo)

    choice.run(run, 60 * choice.chunk)
    assert used.count(2) > spike
    # The chunk after the disturbed one still runs on two threads.
    after = [i for i, t in enumerate(used) if t == 2][spike - 1] + 1
    assert used[after] == 2


@pytest.mark.parametrize("n_classes", [3, 6])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_hinge_margins_at_exactly_zero_are_inactive_as_in_numpy(dtype, n_classes):
    # Integer data, parameters and margin: many margins are exactly 0, and
    # the label's own term (also delta) must never count. The kernel selects
    # active margins without a branch; it must agree with numpy's > 0.
    rng = np.random.default_rng(3)
    n_samples, n_features = 120, 4
    X = rng.integers(-1, 2, (n_samples, n_features)).astype(dtype)
    y = rng.integers(0, n_classes, n_samples)
    objective = LinearObjective(WestonWatkinsHinge(delta=1.0), 0.0, True)
    rule = RULES["plain"]
    params = rng.integers(-1, 2, (n_features + 1, n_classes)).astype(dtype)
    scores = X @ params[:-1] + params[-1]
    margins = scores - scores[np.arange(n_samples), y][:, None] + 1.0
    margins[np.arange(n_samples), y] = np.nan
    assert (margins == 0).sum() > n_samples // 4
    states = [make_state(params.copy(), rule, t=1) for _ in range(2)]
    order = np.arange(n_samples)
    bounds = [(0, n_samples, 1.0, float(n_samples))]
    expected = reference_epoch(objective, rule, states[0], X, y, None, order, bounds)
    got = dense_epoch(
        objective, rule, states[1], X, y, None, order, [0], [n_samples], [1.0],
        [1.0 / n_samples], n_threads=1,
    )
    # The batch's loss is the sum of the positive margins, an integer (the
    # reference's is a mean times the batch size, so rounded).
    assert got[0] == np.nansum(np.maximum(margins, 0))
    rtol = RTOL[dtype]
    assert_allclose(got, expected, rtol=rtol)
    assert_allclose(states[1].params, states[0].params, rtol=rtol, atol=rtol)
    assert not np.array_equal(states[1].params, params)


def test_thread_choice_retries_the_former_faster_soon_after_it_loses():
    """Two threads, long the faster, slowed down for two chunks (a busy
    host): they were then locked out for as long as one thread's lost probes
    had made the wait (up to ``max_wait`` chunks)."""
    clock = _FakeClock()
    choice = threads_module.ThreadChoice(2, clock=clock)
    cost = {1: 1.0, 2: 0.5}
    used = []

    def run(lo, hi, threads):
        used.append(threads)
        clock.now += (hi - lo) * cost[threads]
        return np.zeros(hi - lo)

    choice.run(run, 50 * choice.chunk)
    assert choice.best() == 2
    # As just after a lost probe of one thread at the longest wait.
    choice.wait = choice.countdown = choice.max_wait
    cost[2] = 40.0
    choice.run(run, 2 * choice.chunk)
    assert choice.best() == 1
    cost[2] = 0.5
    used.clear()
    choice.run(run, 8 * choice.chunk)
    assert choice.best() == 2
    assert used.count(2) >= 6


def test_thread_choice_retries_a_narrow_loser_soon():
    """Two threads a little slower than one for a long stretch (a busy
    host): each lost probe doubled the wait, up to ``max_wait`` chunks,
    though a probe that loses by 10 % costs next to nothing. When the cores
    freed up, two threads stayed out for that long."""
    clock = _FakeClock()
    choice = threads_module.ThreadChoice(2, clock=clock)
    cost = {1: 1.0, 2: 1.1}
    used = []

    def run(lo, hi, threads):
        used.append((threads, hi - lo))
        clock.now += (hi - lo) * cost[threads]
        return np.zeros(hi - lo)

    choice.run(run, 300 * choice.chunk)
    assert choice.best() == 1
    # The narrow loser is still tried every few chunks, on a few batches.
    assert choice.wait <= 4
    probe_batches = sum(size for threads, size in used if threads == 2)
    assert probe_batches < 0.05 * 300 * choice.chunk
    cost[2] = 0.5
    used.clear()
    choice.run(run, 10 * choice.chunk)
    assert choice.best() == 2
    assert sum(size for threads, size in used if threads == 2) > 5 * choice.chunk


def test_thread_choice_waits_long_after_losing_by_far():
    # Probes of a choice 20 times slower cost 2 % of the time only when
    # they are ~120 chunks apart: the wait still grows to that.
    clock = _FakeClock()
    choice = threads_module.ThreadChoice(2, clock=clock)

    def run(lo, hi, threads):
        clock.now += (hi - lo) * (20.0 if threads == 2 else 1.0)
        return np.zeros(hi - lo)

    choice.run(run, 600 * choice.chunk)
    assert choice.best() == 1
    assert choice.wait == choice.affordable_wait(2)
    assert 100 <= choice.wait <= choice.max_wait
