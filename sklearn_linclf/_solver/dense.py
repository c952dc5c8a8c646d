"""Dense minibatch updates: a compiled epoch for numpy arrays, a generic step.

:func:`dense_epoch` runs every minibatch of an epoch in one compiled call
(:mod:`._dense_kernel`); :class:`DenseStepper` takes one numpy-level step per
call and serves the inputs the kernel does not (other array types, losses or
update rules).
"""

from contextlib import nullcontext

import numpy as np

from .._loss import SoftmaxCrossEntropy, WestonWatkinsHinge
from . import _dense_kernel
from .threads import openmp_threads, thread_choice
from .updates import MomentumUpdate

_LOSS_KINDS = {SoftmaxCrossEntropy: 0, WestonWatkinsHinge: 1}

# Multiply-adds of a minibatch's two products per thread below which another
# thread costs more than it saves. At digits' size (256 x 64 x 10, 330 000)
# two threads gained 0-15 % on idle cores but lost up to 5x when another
# library's threads were still spinning (a fit right after a
# LogisticRegression fit: 0.06-0.13 s against 0.02 s), so that size runs on
# one thread.
MIN_WORK_PER_THREAD = 200_000

# At most this many tasks per phase. A task is one gemm call, so more tasks
# than threads only add call overhead; their number follows the work (never
# the thread count, on which the results must not depend), as a power of two
# so that they divide evenly among 2, 4 or 8 threads.
MAX_TASKS = 8

# As loop._THREADED_PRODUCT_SIZE: from this many multiply-adds a product would
# run on several BLAS threads unless limited.
_BLAS_THREADED_SIZE = 10_000_000


class DenseStepper:
    """One update of all parameters per minibatch (dense ``X``)."""

    def __init__(self, objective, update_rule, state):
        self.objective = objective
        self.update_rule = update_rule
        self.state = state

    def step(self, X, y, sample_weight, weight_sum, lr):
        state = self.state
        value, grad = self.objective.params_gradient(
            state.params, X, y, sample_weight, weight_sum, center=state.center
        )
        if self.objective.fit_intercept:
            grad[-1] *= state.intercept_step
        self.update_rule.apply(state.params, grad, state.velocity, lr)
        return value

    def finish(self):
        """Bring every parameter up to date (nothing to do here)."""


def kernel_supports(objective, update_rule, state, X):
    """Whether :func:`dense_epoch` can run this problem.

    Parameters
    ----------
    objective : LinearObjective
    update_rule : object
    state : SolverState
    X : object
        The training data.

    Returns
    -------
    bool
        True for a numpy ``X`` of the parameters' floating dtype, the softmax
        or Weston–Watkins loss, :class:`MomentumUpdate` and C-contiguous
        parameters (and velocity).
    """
    params, velocity = state.params, state.velocity
    return (
        type(X) is np.ndarray
        and X.ndim == 2
        and X.dtype in (np.float32, np.float64)
        and type(objective.loss) in _LOSS_KINDS
        and type(update_rule) is MomentumUpdate
        and isinstance(params, np.ndarray)
        and params.dtype == X.dtype
        and params.flags.c_contiguous
        and params.flags.writeable
        and (
            velocity is None
            or (
                velocity.dtype == X.dtype
                and velocity.flags.c_contiguous
                and velocity.flags.writeable
            )
        )
    )


def _n_tasks(batch_rows, n_features, n_classes):
    work = 2 * batch_rows * n_features * n_classes
    n = max(1, min(MAX_TASKS, work // MIN_WORK_PER_THREAD))
    return 1 << (n.bit_length() - 1)


def kernel_threads(batch_rows, n_features, n_classes):
    """OpenMP threads for minibatches of ``batch_rows`` rows.

    ``omp_get_max_threads()`` read now (so ``OMP_NUM_THREADS`` and
    ``threadpoolctl.threadpool_limits(user_api="openmp")`` cap it), and no
    more than the products' work pays for (``MIN_WORK_PER_THREAD`` each).

    Parameters
    ----------
    batch_rows, n_features, n_classes : int

    Returns
    -------
    int
    """
    n_tasks = _n_tasks(batch_rows, n_features, n_classes)
    return int(max(1, min(openmp_threads(), n_tasks)))


def dense_epoch(
    objective,
    update_rule,
    state,
    X,
    y,
    sample_weight,
    order,
    starts,
    stops,
    lrs,
    scales,
    n_threads=None,
):
    """Run minibatches in turn in compiled code; ``state`` is updated in place.

    Batch ``b`` is the rows ``order[starts[b]:stops[b]]``; it takes the step
    of :class:`DenseStepper` with step size ``lrs[b]`` and its score gradients
    multiplied by ``scales[b]`` (one over its normaliser), so that the
    parameters end as after ``DenseStepper.step`` on each batch in turn, up to
    rounding. The result does not depend on the number of threads, bit for
    bit.

    Parameters
    ----------
    objective : LinearObjective
        Softmax cross-entropy or Weston–Watkins hinge (see
        :func:`kernel_supports`).
    update_rule : MomentumUpdate
    state : SolverState
        ``params``, ``velocity``, ``center`` and ``intercept_step`` are used;
        ``params`` and ``velocity`` are updated. ``state.t`` is left to the
        caller.
    X : ndarray of shape (n_samples, n_features)
        Of the dtype of ``state.params``; any memory layout. Read only.
    y : ndarray of shape (n_samples,)
        Class indices.
    sample_weight : ndarray of shape (n_samples,) or None
        None: every weight is 1.
    order : ndarray of shape (n_samples,) or None
        Row indices; None means ``arange(n_samples)`` (rows read in place
        when ``X`` is C-ordered).
    starts, stops : array-like of int of shape (n_batches,)
        Each batch as positions in ``order``.
    lrs : array-like of float of shape (n_batches,)
        Step size of each batch.
    scales : array-like of float of shape (n_batches,)
        ``1 / weight_sum`` of each batch (``weight_sum`` as in
        :meth:`DenseStepper.step`).
    n_threads : int, default=None
        OpenMP threads. None: at most :func:`kernel_threads`, and one when
        that ran this kind of batch faster lately (see
        :class:`.threads.ThreadChoice`).

    Returns
    -------
    losses : ndarray of shape (n_batches,)
        ``sum_i w_i L_i`` over each batch (unscaled), at the parameters its
        gradient was taken at.
    """
    dtype = state.params.dtype
    starts = np.ascontiguousarray(starts, dtype=np.intp)
    stops = np.ascontiguousarray(stops, dtype=np.intp)
    lrs = np.ascontiguousarray(lrs, dtype=np.float64)
    scales = np.ascontiguousarray(scales, dtype=np.float64)
    n_batches = starts.shape[0]
    if not (stops.shape == lrs.shape == scales.shape == (n_batches,)):
        raise ValueError("starts, stops, lrs and scales must have one entry a batch.")
    n_samples, n_features = X.shape
    limit = n_samples if order is None else order.shape[0]
    if n_batches and (
        starts.min() < 0 or stops.max() > limit or (stops < starts).any()
    ):
        raise ValueError("A batch reaches outside the rows.")
    if order is not None:
        order = np.ascontiguousarray(order, dtype=np.intp)
        if order.size and (order.min() < 0 or order.max() >= n_samples):
            raise ValueError("order holds an index outside the rows of X.")
    y = np.ascontiguousarray(y, dtype=np.intp)
    n_classes = state.params.shape[1]
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError("y holds a class index outside [0, n_classes).")
    if sample_weight is not None:
        sample_weight = np.ascontiguousarray(sample_weight, dtype=dtype)
    center = state.center
    if center is not None:
        if not objective.fit_intercept:
            raise ValueError("Centring needs an intercept.")
        center = np.ascontiguousarray(center, dtype=dtype)
    batch_rows = int((stops - starts).max()) if n_batches else 0
    n_tasks = _n_tasks(batch_rows, n_features, n_classes)
    loss = objective.loss
    loss_kind = _LOSS_KINDS[type(loss)]
    head = (state.params, state.velocity, X, y, sample_weight, order)
    tail = (
        center,
        bool(objective.fit_intercept),
        loss_kind,
        float(getattr(loss, "delta", 0.0)),
        float(objective.alpha),
        float(update_rule.momentum) if state.velocity is not None else 0.0,
        bool(update_rule.nesterov),
        float(state.intercept_step),
    )
    blocks = (-(-batch_rows // n_tasks), -(-n_features // n_tasks))

    def run(lo, hi, threads):
        batches = (starts[lo:hi], stops[lo:hi], lrs[lo:hi], scales[lo:hi])
        return _dense_kernel.dense_epoch(*head, *batches, *tail, threads, *blocks)

    if batch_rows * n_features * n_classes < _BLAS_THREADED_SIZE:
        blas_limit = nullcontext()
    else:
        # Each gemm call here is one task of one thread: BLAS's own threads
        # would only compete with them. The user's setting is restored on exit.
        from .loop import _threadpool_controller

        blas_limit = _threadpool_controller().limit(limits=1, user_api="blas")
    with blas_limit:
        if n_threads is not None:
            return run(0, n_batches, int(n_threads))
        most = kernel_threads(batch_rows, n_features, n_classes)
        if most == 1:
            return run(0, n_batches, 1)
        key = ("dense", batch_rows, n_features, n_classes, X.dtype.char, loss_kind)
        return thread_choice(key, most).run(run, n_batches)



