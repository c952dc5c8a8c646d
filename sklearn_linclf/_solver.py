"""Loss-agnostic minibatch gradient descent.

The solver only needs a :class:`~sklearn_linclf._objective.LinearObjective`
(any score-space loss lifted to the coefficients). Its pieces are small and
separate:

- a *schedule* maps the update count ``t`` (and, for ``"adaptive"``, the number
  of plateaus seen) to a step size. Steps are counted in updates or epochs,
  never in samples, so that a full batch of weighted rows takes exactly the
  same path as a full batch of repeated rows;
- an *update rule* turns a gradient into an in-place change of the
  parameters (plain, heavy-ball momentum or Nesterov momentum);
- a *stepper* applies one minibatch update: to all parameters (dense ``X``)
  or, for sparse ``X``, only to the rows of the features the batch touches,
  the others being caught up lazily and exactly;
- :func:`run_epoch` makes one pass over shuffled *indices* (the data is never
  shuffled or copied as a whole);
- :func:`solve` repeats epochs and decides when to stop.
"""

import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy.sparse import issparse
from sklearn.utils import gen_batches
from threadpoolctl import ThreadpoolController

# ----------------------------------------------------------------------------
# Step-size schedules


class ConstantSchedule:
    """``eta = eta0`` for every update."""

    decays_on_plateau = False

    def __init__(self, eta0):
        self.eta0 = eta0

    def __call__(self, t, n_decays):
        return self.eta0


class InvScalingSchedule:
    """``eta = eta0 / (t + 1) ** power_t`` with ``t`` the number of updates."""

    decays_on_plateau = False

    def __init__(self, eta0, power_t=0.5):
        self.eta0 = eta0
        self.power_t = power_t

    def __call__(self, t, n_decays):
        return self.eta0 / (t + 1) ** self.power_t


class AdaptiveSchedule:
    """``eta = eta0 / factor ** n_decays``.

    The solver increments ``n_decays`` each time the monitored objective stops
    improving; after ``max_decays`` such plateaus it stops instead.
    """

    decays_on_plateau = True

    def __init__(self, eta0, factor=5.0, max_decays=5):
        self.eta0 = eta0
        self.factor = factor
        self.max_decays = max_decays

    def __call__(self, t, n_decays):
        return self.eta0 / self.factor**n_decays


def make_schedule(name, eta0, power_t=0.5):
    if name == "constant":
        return ConstantSchedule(eta0)
    if name == "invscaling":
        return InvScalingSchedule(eta0, power_t)
    if name == "adaptive":
        return AdaptiveSchedule(eta0)
    raise ValueError(f"Unknown learning_rate schedule {name!r}.")


# ----------------------------------------------------------------------------
# Update rules


class MomentumUpdate:
    """Gradient step with optional heavy-ball or Nesterov momentum.

    With velocity ``v``: ``v <- mu v - eta g``; then ``p <- p + v`` (heavy
    ball) or ``p <- p + mu v - eta g`` (Nesterov, in the form used by
    scikit-learn's MLP). ``momentum=0`` is plain gradient descent.
    """

    def __init__(self, momentum=0.9, nesterov=True):
        self.momentum = momentum
        self.nesterov = nesterov

    def apply(self, params, grad, velocity, lr):
        """Update ``params`` (and ``velocity``) in place; ``grad`` is consumed."""
        grad *= lr
        if velocity is None:
            params -= grad
            return
        mu = self.momentum
        velocity *= mu
        velocity -= grad
        if self.nesterov:
            params += mu * velocity
            params -= grad
        else:
            params += velocity

    def affine_form(self, lr, alpha):
        """``apply`` with the gradient ``g + 2 alpha p``, as an affine map.

        Returns ``(A, c)`` such that the update is
        ``(p, v) <- A (p, v) - lr * c g``: ``A`` of shape (2, 2) acts on the
        stacked coefficient and velocity (shape (1, 1), on ``p`` alone, without
        momentum) and ``c`` has one entry per row of ``A``. With ``g = 0``
        this is the update of a coefficient whose feature is absent from the
        minibatch.
        """
        d = 2 * lr * alpha
        mu = self.momentum
        if mu == 0:
            return np.array([[1 - d]]), np.array([1.0])
        if self.nesterov:
            A = np.array([[1 - d * (1 + mu), mu * mu], [-d, mu]])
            return A, np.array([1 + mu, 1.0])
        return np.array([[1 - d, mu], [-d, mu]]), np.array([1.0, 1.0])


# ----------------------------------------------------------------------------
# Minibatch steps: all of the parameters, or only the touched rows


class DenseStepper:
    """One update of all parameters per minibatch (dense ``X``)."""

    def __init__(self, objective, update_rule, state):
        self.objective = objective
        self.update_rule = update_rule
        self.state = state

    def step(self, X, y, sample_weight, weight_sum, lr):
        state = self.state
        value, grad = self.objective.params_gradient(
            state.params, X, y, sample_weight, weight_sum
        )
        self.update_rule.apply(state.params, grad, state.velocity, lr)
        return value

    def finish(self):
        """Bring every parameter up to date (nothing to do here)."""


def _safely_invertible(A):
    """Whether solving with the 2x2 (or 1x1) update map loses little precision.

    Its determinant is ``mu (1 - 2 lr alpha)`` (Nesterov), ``mu`` (heavy
    ball) or ``1 - 2 lr alpha`` (no momentum): small only for a tiny momentum
    or a step that overshoots the penalty.
    """
    return abs(np.linalg.det(A)) >= 1e-2 * np.abs(A).max() ** A.shape[0]


class LazySparseStepper:
    """Updates that cost O(nnz(batch) * n_classes), for CSR ``X``.

    Exactly the dense algorithm, rearranged: a feature absent from a minibatch
    has data gradient 0, so its coefficients (and velocity) only feel the
    penalty, a linear map ``A_s`` that depends on the step size alone (see
    :meth:`MomentumUpdate.affine_form` with ``g = 0``). Instead of applying it to every
    row at every step, each row remembers the step it was last brought up to
    date, and the products ``Q[l] = A_{s-1} ... A_l`` are kept for every ``l``
    since the last full refresh; a row is caught up with one such product just
    before a minibatch touches it. :meth:`finish` (at the end of each epoch,
    or when ``Q`` is full) catches up every row. The intercept row is dense
    and updated at every step.

    The coefficients and velocity of a feature are read and written together,
    from ``state.table`` (shape ``(n_rows, 2, n_classes)``, see
    :meth:`SolverState.interleave`): one random access per touched feature
    instead of two, which is what dominates on wide data.
    """

    max_pending = 1024
    finish_chunk = 65536  # rows per block when catching up all rows

    def __init__(self, objective, update_rule, state):
        self.objective = objective
        self.update_rule = update_rule
        self.state = state
        self.table = state.interleave()
        n_rows, dim, _ = self.table.shape
        n_features = n_rows - int(objective.fit_intercept)
        # A small integer type: on wide data this array is read at random.
        self.last = np.zeros(n_features, dtype=np.min_scalar_type(self.max_pending))
        self.position = None  # scratch: feature -> column of the compact batch
        # Q[l] for l <= pending, as (dim, dim) matrices acting on (p, v).
        self.Q = np.empty((self.max_pending + 1, dim, dim))
        self.Q[0] = np.eye(dim)
        self.pending = 0
        self._map_lr = None  # step size of the cached update map

    def _catch_up(self, rows, last):
        """``rows`` (shape (m, dim, n_classes)) brought up to date, a new array."""
        Q = self.Q[last].astype(rows.dtype, copy=False)
        return np.matmul(Q, rows)

    def _compact(self, indices):
        """Sorted distinct ``indices`` and the position of each entry among them.

        (``np.unique(..., return_inverse=True)`` gives the same, through a
        slower argsort.)
        """
        if self.position is None or self.position.dtype != indices.dtype:
            self.position = np.empty(self.last.size, dtype=indices.dtype)
        cols = np.sort(indices)
        if cols.size:
            first = np.empty(cols.size, dtype=bool)
            first[0] = True
            np.not_equal(cols[1:], cols[:-1], out=first[1:])
            cols = cols[first]
        self.position[cols] = np.arange(cols.size, dtype=indices.dtype)
        return cols, self.position[indices]

    def _update_map(self, lr):
        """``(A, owes, weights)`` for a step of size ``lr``, kept while it lasts.

        ``owes``: the touched rows store ``(p, v) + weights g`` and owe ``A``
        (``weights = -lr A^-1 c``); otherwise ``A`` is applied to them now and
        ``weights = -lr c``.
        """
        if lr != self._map_lr:
            A, c = self.update_rule.affine_form(lr, self.objective.alpha)
            owes = _safely_invertible(A)
            weights = -lr * (np.linalg.solve(A, c) if owes else c)
            self._map = A, owes, [float(w) for w in weights]
            self._map_lr = lr
        return self._map

    def step(self, X, y, sample_weight, weight_sum, lr):
        objective, state, table = self.objective, self.state, self.table
        if self.pending == self.max_pending:
            self.finish()
        # Compact the batch to the columns it touches.
        cols, inverse = self._compact(X.indices)
        X_c = type(X)((X.data, inverse, X.indptr), shape=(X.shape[0], cols.size))
        rows = self._catch_up(np.take(table, cols, axis=0), self.last[cols])
        _, b = objective.split_params(state.params)
        value, grad, grad_b = objective.data_term(
            rows[:, 0], b, X_c, y, sample_weight, weight_sum
        )
        # The touched rows become A (p, v) - lr c g. Rather than applying A
        # to them now, store (p, v) - lr A^-1 c g and let them owe this step's
        # A like the untouched rows do: the same result for one product less.
        A, owes, weights = self._update_map(lr)
        k = self.pending
        if owes:
            self.last[cols] = k
        else:
            rows = np.matmul(A.astype(rows.dtype), rows)
            self.last[cols] = k + 1
        change = np.empty_like(rows)  # built contiguous: fewer strided passes
        for j, weight in enumerate(weights):
            np.multiply(grad, weight, out=change[:, j])
        rows += change
        table[cols] = rows
        if b is not None:
            v_b = None if state.velocity is None else state.velocity[-1]
            self.update_rule.apply(b, grad_b, v_b, lr)
        # Every row not up to date now owes this step's A (Q[k] becomes A).
        np.matmul(A, self.Q[: k + 1], out=self.Q[: k + 1])
        self.Q[k + 1] = np.eye(A.shape[0])
        self.pending = k + 1
        # The penalty value needs every row; run_epoch adds it once per epoch.
        return value

    def finish(self):
        if self.pending == 0:
            return
        table = self.table
        n_rows = self.last.size  # the intercept row, if any, is never pending
        for start in range(0, n_rows, self.finish_chunk):
            rows = slice(start, min(start + self.finish_chunk, n_rows))
            table[rows] = self._catch_up(table[rows], self.last[rows])
        self.last[:] = 0
        self.Q[0] = np.eye(self.Q.shape[1])
        self.pending = 0


# ----------------------------------------------------------------------------
# The loop


@dataclass
class SolverState:
    """Everything that continues from one call to the next (partial_fit).

    ``params`` is in the objective's solver layout, shape
    ``(n_features + fit_intercept, n_classes)``.
    """

    params: np.ndarray
    velocity: np.ndarray | None
    t: int = 0
    n_decays: int = 0
    table: np.ndarray | None = None

    def interleave(self):
        """Parameters and velocity as one table of shape ``(n_rows, dim, n_classes)``.

        ``table[:, 0]`` is ``params`` and ``table[:, 1]`` the velocity
        (``dim = 2``); without momentum ``dim = 1`` and the table is a view of
        ``params``. With momentum, ``params`` and ``velocity`` become views of
        a new table (if they are not already) and stay so.
        """
        if self.velocity is None:
            return self.params[:, None, :]
        if self.table is None:
            self.table = _table(self.params, self.velocity)
            self.params, self.velocity = self.table[:, 0], self.table[:, 1]
        return self.table


def _table(params, velocity):
    table = np.empty((params.shape[0], 2, params.shape[1]), dtype=params.dtype)
    table[:, 0] = params
    table[:, 1] = 0 if velocity is None else velocity
    return table


def make_state(
    params, update_rule, *, velocity=None, t=0, n_decays=0, interleave=False
):
    """A :class:`SolverState` starting from ``params`` (and ``velocity``).

    ``velocity`` defaults to zeros; there is none without momentum.
    ``interleave=True`` (for sparse input) stores both in one new table (see
    :meth:`SolverState.interleave`), copying the arrays given.
    """
    if update_rule.momentum == 0:
        velocity = None
    elif velocity is None and not interleave:
        velocity = np.zeros_like(params)
    if update_rule.momentum == 0 or not interleave:
        return SolverState(params, velocity, t, n_decays)
    table = _table(params, velocity)
    return SolverState(table[:, 0], table[:, 1], t, n_decays, table)


def zero_state(shape, dtype, update_rule, *, interleave=False):
    """A :class:`SolverState` at all-zero parameters (and velocity).

    Allocated in one piece: a wide model is not built twice.
    """
    if update_rule.momentum > 0 and interleave:
        table = np.zeros((shape[0], 2, shape[1]), dtype=dtype)
        return SolverState(table[:, 0], table[:, 1], table=table)
    return make_state(np.zeros(shape, dtype=dtype), update_rule)


@dataclass
class SolverResult:
    n_iter: int = 0
    converged: bool = False
    loss_curve: list = field(default_factory=list)
    validation_scores: list = field(default_factory=list)
    best_loss: float = np.inf
    best_validation_score: float | None = None


class DivergenceError(ValueError, FloatingPointError):
    """Training diverged; the estimator keeps the model it had before.

    A ``ValueError`` (as scikit-learn's SGD estimators raise on overflow) and a
    ``FloatingPointError``.
    """


_REMEDY = (
    "Use a smaller learning_rate_init, or scale the features (for example "
    "with StandardScaler); the fitted model was left unchanged."
)


def _check_finite(value, params, where):
    # A sum of squares is not finite when an entry is not (or is so large that
    # its square overflows: equally a divergence); it needs no temporary as
    # large as params.
    if not (np.isfinite(value) and np.isfinite(np.einsum("ij,ij->", params, params))):
        raise DivergenceError(
            f"The objective diverged to a non-finite value in {where}. " + _REMEDY
        )


# Minibatch products smaller than this (multiply-adds) run on one BLAS thread:
# measured here, 256 x 784 by 784 x 10 products ran 2-5 times slower on two
# OpenBLAS threads than on one, and far worse when the cores are shared.
_THREADED_PRODUCT_SIZE = 10_000_000


@lru_cache(maxsize=1)
def _threadpool_controller():
    # Created once: inspecting the loaded libraries costs ~0.3 ms, limiting
    # through a known controller ~0.01 ms.
    return ThreadpoolController()


def _blas_threads_for(X, batch_size, n_classes):
    """Context limiting BLAS to one thread for small minibatch products.

    The user's setting is restored on exit.
    """
    if issparse(X) or batch_size * X.shape[1] * n_classes < _THREADED_PRODUCT_SIZE:
        return _threadpool_controller().limit(limits=1, user_api="blas")
    return nullcontext()


def _take_rows(X, idx):
    """``X[idx]``; for an ndarray through ``np.take``, which is faster."""
    return X[idx] if issparse(X) else np.take(X, idx, axis=0)


def run_epoch(
    objective,
    state,
    X,
    y,
    sample_weight,
    *,
    batch_size,
    shuffle,
    rng,
    update_rule,
    schedule,
    mean_weight=None,
):
    """One pass over the data; returns the epoch's objective estimate.

    Each minibatch's weighted loss is divided by ``len(batch) * mean_weight``
    (``mean_weight`` defaults to the mean of ``sample_weight``): an unbiased
    estimate of the gradient of the objective normalised by the total weight.
    A batch covering the data divides by exactly its weight sum, up to
    rounding. (Dividing each batch by its own weight sum would erase the
    weight of a batch, or of a streamed chunk, relative to the others.)

    The estimate is the weight-averaged data term of the minibatches (each at
    the parameters its gradient was taken at) plus the penalty at the start
    of the epoch. For a full batch this is the exact objective at the
    parameters before the update. (The penalty after the update would mix
    two iterates and can dip below the minimum, which stalls the stopping
    rule.) ``state`` is updated in place.
    """
    n_samples = X.shape[0]
    full_batch = batch_size >= n_samples
    if not full_batch:
        order = rng.permutation(n_samples) if shuffle else np.arange(n_samples)
    if issparse(X):
        stepper = LazySparseStepper(objective, update_rule, state)
    else:
        stepper = DenseStepper(objective, update_rule, state)
    # Every row is up to date between epochs, so the penalty is one pass.
    penalty = objective.penalty(objective.split_params(state.params)[0])
    if mean_weight is None:
        mean_weight = sample_weight.mean()
    # Equal positive weights (no sample_weight, no class_weight) need not be
    # gathered or multiplied in: they only change the normaliser.
    equal_weight = float(sample_weight[0]) if n_samples else 0.0
    if equal_weight <= 0 or (sample_weight != equal_weight).any():
        equal_weight = None
    if not full_batch:
        # Each batch's indices sorted (all batches in one call), so that X is
        # read in memory order; the order inside a batch does not change its
        # gradient.
        n_whole = n_samples - n_samples % batch_size
        order[:n_whole].reshape(-1, batch_size).sort(axis=1)
        order[n_whole:].sort()
    total, total_weight = 0.0, 0.0
    for batch in gen_batches(n_samples, batch_size):
        if full_batch:
            idx, X_b, y_b = None, X, y
        else:
            idx = order[batch]
            X_b, y_b = _take_rows(X, idx), y[idx]
        normaliser = y_b.shape[0] * mean_weight
        lr = schedule(state.t, state.n_decays)
        if equal_weight is None:
            sw_b = sample_weight if idx is None else sample_weight[idx]
            batch_weight = sw_b.sum()
            if batch_weight <= 0:
                continue  # a batch of zero-weight rows carries no information
            value = stepper.step(X_b, y_b, sw_b, normaliser, lr)
        else:
            batch_weight = y_b.shape[0] * equal_weight
            value = stepper.step(X_b, y_b, None, normaliser / equal_weight, lr)
        state.t += 1
        total += value * normaliser  # = sum of w_i L_i over the batch
        total_weight += batch_weight
    stepper.finish()
    return total / total_weight + penalty


MIN_PLATEAU_UPDATES = 50


def solve(
    objective,
    state,
    X,
    y,
    sample_weight,
    *,
    batch_size,
    max_iter,
    tol,
    n_iter_no_change,
    shuffle,
    rng,
    update_rule,
    schedule,
    validation=None,
    verbose=0,
    mean_weight=None,
    pass_label=lambda epoch: f"epoch {epoch}",
):
    """Run epochs until the monitored quantity stops improving or ``max_iter``.

    Monitored quantity: ``validation(params)`` (a score, higher is better) when
    given, else the training objective of the epoch. "Not improving" means not
    better than the best so far by more than ``tol`` for ``n_iter_no_change``
    epochs in a row (and for at least ``MIN_PLATEAU_UPDATES`` updates); an
    adaptive schedule then shrinks its step, any other schedule stops.
    ``tol=None`` never stops early. With ``validation`` the coefficients of
    the best validation score are restored at the end.

    ``mean_weight`` is passed to :func:`run_epoch` (``partial_fit`` gives the
    running mean weight of the stream). ``pass_label(epoch)`` names a pass in
    error messages.

    ``state`` is updated in place; raises :class:`DivergenceError` when the
    objective becomes non-finite or ends above twice the all-zero model's.
    """
    result = SolverResult()
    # An epoch of few updates is a noisy unit for judging a plateau (with
    # momentum the objective of a full-batch fit oscillates for a while), so
    # the patience also covers at least MIN_PLATEAU_UPDATES updates.
    updates_per_epoch = -(-X.shape[0] // batch_size)
    patience = max(n_iter_no_change, -(-MIN_PLATEAU_UPDATES // updates_per_epoch))
    best = np.inf  # of the monitored quantity, as a value to minimise
    best_coef = None
    no_improvement = 0
    start = time.perf_counter()
    # Overflow while diverging is reported after the epoch, as an error, not
    # as a stream of RuntimeWarnings.
    with (
        _blas_threads_for(X, batch_size, state.params.shape[1]),
        np.errstate(over="ignore", invalid="ignore"),
    ):
        for epoch in range(1, max_iter + 1):
            loss = run_epoch(
                objective,
                state,
                X,
                y,
                sample_weight,
                batch_size=batch_size,
                shuffle=shuffle,
                rng=rng,
                update_rule=update_rule,
                schedule=schedule,
                mean_weight=mean_weight,
            )
            _check_finite(loss, state.params, pass_label(epoch))
            result.n_iter = epoch
            result.loss_curve.append(loss)
            result.best_loss = min(result.best_loss, loss)
            if validation is not None:
                score = validation(state.params)
                result.validation_scores.append(score)
                monitored = -score
            else:
                monitored = loss
            if verbose:
                msg = (
                    f"Epoch {epoch}, objective = {loss:.8g}, "
                    f"learning rate = {schedule(state.t, state.n_decays):.4g}"
                )
                if validation is not None:
                    msg += f", validation score = {score:.6g}"
                print(f"{msg}, time = {time.perf_counter() - start:.3f}s")
            improved_by_tol = tol is not None and monitored < best - tol
            if monitored < best:
                best = monitored
                if validation is None:
                    pass
                elif best_coef is None:
                    best_coef = state.params.copy()
                else:
                    best_coef[...] = state.params  # no new large array per epoch
            if tol is None:
                continue
            no_improvement = 0 if improved_by_tol else no_improvement + 1
            if no_improvement >= patience:
                if schedule.decays_on_plateau and state.n_decays < schedule.max_decays:
                    state.n_decays += 1
                    no_improvement = 0
                    continue
                result.converged = True
                break
    # A finite objective can still have run away. The all-zero model bounds
    # the minimum from above, so ending above twice its objective means the
    # steps were too large, not that the data is hard.
    zero_value = objective.zero_model_value(state.params.shape[1])
    if result.loss_curve[-1] > 2 * zero_value:
        raise DivergenceError(
            f"The objective ran away: {result.loss_curve[-1]:.4g} after "
            f"{pass_label(result.n_iter)}, more than twice the {zero_value:.4g} of the "
            "all-zero model. " + _REMEDY
        )
    if best_coef is not None:
        result.best_validation_score = -best
        state.params[...] = best_coef
    return result
