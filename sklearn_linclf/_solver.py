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

    def init(self, params):
        return np.zeros_like(params) if self.momentum > 0 else None

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

    def decay_transition(self, lr, alpha):
        """The linear map of ``apply`` when the gradient is only ``2 alpha p``.

        That is the update of a coefficient whose feature is absent from the
        minibatch. Returns a matrix acting on ``(p, v)`` (shape (2, 2)), or on
        ``p`` alone (shape (1, 1)) without momentum.
        """
        d = 2 * lr * alpha
        mu = self.momentum
        if mu == 0:
            return np.array([[1 - d]])
        if self.nesterov:
            return np.array([[1 - d * (1 + mu), mu * mu], [-d, mu]])
        return np.array([[1 - d, mu], [-d, mu]])


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


class LazySparseStepper:
    """Updates that cost O(nnz(batch) * n_classes), for CSR ``X``.

    Exactly the dense algorithm, rearranged: a feature absent from a minibatch
    has data gradient 0, so its coefficients (and velocity) only feel the
    penalty, a linear map ``A_s`` that depends on the step size alone (see
    :meth:`MomentumUpdate.decay_transition`). Instead of applying it to every
    row at every step, each row remembers the step it was last brought up to
    date, and the products ``Q[l] = A_{s-1} ... A_l`` are kept for every ``l``
    since the last full refresh; a row is caught up with one such product just
    before a minibatch touches it. :meth:`finish` (at the end of each epoch,
    or when ``Q`` is full) catches up every row. The intercept row is dense
    and updated at every step.
    """

    max_pending = 1024
    finish_chunk = 65536  # rows per block when catching up all rows

    def __init__(self, objective, update_rule, state):
        self.objective = objective
        self.update_rule = update_rule
        self.state = state
        n_features = state.params.shape[0] - int(objective.fit_intercept)
        self.last = np.zeros(n_features, dtype=np.intp)
        dim = 1 if state.velocity is None else 2
        # Q[l] is stored entry by entry, Q[i][j][l], so that gathering the
        # entries for many rows gives contiguous vectors.
        self.Q = np.empty((dim, dim, self.max_pending + 1))
        self.Q[..., 0] = np.eye(dim)
        self.pending = 0

    def _apply_pending(self, p, v, last):
        """Bring rows ``p`` (and ``v``) up to date in place; ``last`` per row."""
        Q = self.Q[..., last].astype(p.dtype, copy=False)[..., None]
        if v is None:
            p *= Q[0, 0]
            return
        new_p = p * Q[0, 0]
        new_p += v * Q[0, 1]
        v *= Q[1, 1]
        v += p * Q[1, 0]
        p[...] = new_p

    def step(self, X, y, sample_weight, weight_sum, lr):
        objective, state = self.objective, self.state
        if self.pending == self.max_pending:
            self.finish()
        # Compact the batch to the columns it touches.
        cols, inverse = np.unique(X.indices, return_inverse=True)
        X_c = type(X)(
            (X.data, inverse.astype(X.indices.dtype), X.indptr),
            shape=(X.shape[0], cols.size),
        )
        p = state.params[cols]
        v = None if state.velocity is None else state.velocity[cols]
        self._apply_pending(p, v, self.last[cols])
        _, b = objective.split_params(state.params)
        value, grad, grad_b = objective.data_term(
            p, b, X_c, y, sample_weight, weight_sum
        )
        grad += (2 * objective.alpha) * p
        self.update_rule.apply(p, grad, v, lr)
        state.params[cols] = p
        if v is not None:
            state.velocity[cols] = v
        if b is not None:
            v_b = None if state.velocity is None else state.velocity[-1]
            self.update_rule.apply(b, grad_b, v_b, lr)
        # Rows untouched by this step owe it one more factor A_s.
        A = self.update_rule.decay_transition(lr, objective.alpha)
        k = self.pending
        Q = self.Q[..., : k + 1]
        Q[...] = np.einsum("ij,jkl->ikl", A, Q)
        self.Q[..., k + 1] = np.eye(A.shape[0])
        self.last[cols] = k + 1
        self.pending = k + 1
        # The penalty value needs every row; run_epoch adds it once per epoch.
        return value

    def finish(self):
        if self.pending == 0:
            return
        params, velocity = self.state.params, self.state.velocity
        n_rows = self.last.size  # the intercept row, if any, is never pending
        for start in range(0, n_rows, self.finish_chunk):
            rows = slice(start, min(start + self.finish_chunk, n_rows))
            v = None if velocity is None else velocity[rows]
            self._apply_pending(params[rows], v, self.last[rows])
        self.last[:] = 0
        self.Q[..., 0] = np.eye(self.Q.shape[0])
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


def _check_finite(value, params, epoch):
    if not (np.isfinite(value) and np.isfinite(params).all()):
        raise DivergenceError(
            f"The objective diverged to a non-finite value in epoch {epoch}. " + _REMEDY
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
    total, total_weight = 0.0, 0.0
    for batch in gen_batches(n_samples, batch_size):
        if full_batch:
            X_b, y_b, sw_b = X, y, sample_weight
        else:
            # Sorted indices read X in memory order; the order inside a batch
            # does not change its gradient.
            idx = np.sort(order[batch])
            X_b, y_b, sw_b = X[idx], y[idx], sample_weight[idx]
        batch_weight = sw_b.sum()
        if batch_weight <= 0:
            continue  # a batch of zero-weight rows carries no information
        normaliser = sw_b.shape[0] * mean_weight
        value = stepper.step(
            X_b, y_b, sw_b, normaliser, schedule(state.t, state.n_decays)
        )
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
    running mean weight of the stream).

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
            _check_finite(loss, state.params, epoch)
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
                if validation is not None:
                    best_coef = state.params.copy()
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
            f"The objective ran away: {result.loss_curve[-1]:.4g} after epoch "
            f"{result.n_iter}, more than twice the {zero_value:.4g} of the "
            "all-zero model. " + _REMEDY
        )
    if best_coef is not None:
        result.best_validation_score = -best
        state.params[...] = best_coef
    return result
