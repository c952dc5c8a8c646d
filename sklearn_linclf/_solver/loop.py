"""The epoch loop and the stopping rule."""

import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy.sparse import issparse
from threadpoolctl import ThreadpoolController

from .. import _array_api
from . import _order
from .dense import DenseStepper, dense_epoch, kernel_supports
from .full_batch import accelerated_descent
from .sparse import sparse_epoch


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


def _check_finite(value, params, where, sum_sq=None):
    # A sum of squares is not finite when an entry is not (or is so large that
    # its square overflows: equally a divergence); it needs no temporary as
    # large as params. ``sum_sq``, when known, is that of all rows but the
    # last (the coefficients, when there is an intercept row).
    if not isinstance(params, np.ndarray):
        sum_sq = _array_api.sum_of_squares(params)
    elif sum_sq is None:
        sum_sq = np.einsum("ij,ij->", params, params)
    else:
        sum_sq += float(params[-1] @ params[-1])
    if not (np.isfinite(value) and np.isfinite(sum_sq)):
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


def _draw_seed(rng):
    """A 64-bit seed from a ``RandomState`` or a ``Generator``."""
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**64, dtype=np.uint64))
    high, low = (int(v) for v in rng.randint(0, 2**32, size=2, dtype=np.uint64))
    return high << 32 | low


def epoch_order(n_samples, batch_size, shuffle, rng):
    """The rows of an epoch: batch ``b`` is ``order[b * batch_size:][:batch_size]``.

    A uniformly random permutation (unless ``shuffle`` is False or one batch
    covers the data: then the rows in order), shuffled by the compiled
    :func:`~sklearn_linclf._solver._order.permutation` from one 64-bit seed
    drawn from ``rng`` (a ``RandomState`` or a ``Generator``), with each
    batch's indices sorted (all batches in one call) so that ``X`` is read
    in memory order; the order inside a batch does not change its gradient.
    """
    if batch_size >= n_samples or not shuffle:
        return np.arange(n_samples)
    order = _order.permutation(n_samples, _draw_seed(rng))
    n_whole = n_samples - n_samples % batch_size
    order[:n_whole].reshape(-1, batch_size).sort(axis=1)
    order[n_whole:].sort()
    return order


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

    A CSR ``X`` runs the whole epoch in one compiled call,
    :func:`.sparse.sparse_epoch`, and so does a numpy ``X`` (with the softmax
    or Weston–Watkins loss and :class:`~.updates.MomentumUpdate`),
    :func:`.dense.dense_epoch`; other numpy inputs take
    :class:`~.dense.DenseStepper` a batch at a time. Dense input of another
    Array API namespace takes the same pass in its own namespace
    (:func:`sklearn_linclf._array_api.run_epoch`).
    """
    if _array_api.array_api_namespace(X) is not None:
        return _array_api.run_epoch(
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
    n_samples = X.shape[0]
    full_batch = batch_size >= n_samples
    order = epoch_order(n_samples, batch_size, shuffle, rng)
    # Every row is up to date between epochs, so the penalty is one pass (or
    # known from the end of the previous sparse epoch).
    if state.sum_sq is None:
        penalty = objective.penalty(objective.split_params(state.params)[0])
    else:
        penalty = objective.alpha * state.sum_sq
    state.sum_sq = None
    if mean_weight is None:
        mean_weight = sample_weight.mean()
    # Equal positive weights (no sample_weight, no class_weight) need not be
    # gathered or multiplied in: they only change the normaliser.
    equal_weight = float(sample_weight[0]) if n_samples else 0.0
    if equal_weight <= 0 or (sample_weight != equal_weight).any():
        equal_weight = None
    starts = np.arange(0, n_samples, batch_size)
    stops = np.minimum(starts + batch_size, n_samples)
    if equal_weight is None and n_samples:
        batch_weights = np.add.reduceat(sample_weight[order], starts)
        # A batch of zero-weight rows carries no information: skipped.
        kept = batch_weights > 0
        starts, stops, batch_weights = starts[kept], stops[kept], batch_weights[kept]
    else:
        batch_weights = (stops - starts) * (equal_weight or 0.0)
    normalisers = (stops - starts) * mean_weight
    lrs = schedule.rates(state.t, starts.size, state.n_decays)
    if equal_weight is None:
        weights, scales = sample_weight, 1.0 / normalisers
    else:
        weights, scales = None, 1.0 / (normalisers / equal_weight)
    if issparse(X):
        losses, state.sum_sq = sparse_epoch(
            objective, update_rule, state, X, y, weights, order, starts, stops,
            lrs, scales,
        )
        state.t += starts.size
        total = float(losses.sum()) * (equal_weight or 1.0)
    elif kernel_supports(objective, update_rule, state, X):
        losses = dense_epoch(
            objective, update_rule, state, X, y, weights,
            None if full_batch or not shuffle else order,  # None: rows in place
            starts, stops, lrs, scales,
        )
        state.t += starts.size
        total = float(losses.sum()) * (equal_weight or 1.0)
    else:
        stepper = DenseStepper(objective, update_rule, state)
        total = 0.0
        batches = zip(starts, stops, normalisers, lrs, strict=True)
        for start, stop, normaliser, lr in batches:
            if full_batch:
                idx, X_b, y_b = None, X, y
            else:
                idx = order[start:stop]
                X_b, y_b = _take_rows(X, idx), y[idx]
            if equal_weight is None:
                sw_b = sample_weight if idx is None else sample_weight[idx]
                value = stepper.step(X_b, y_b, sw_b, normaliser, lr)
            else:
                value = stepper.step(X_b, y_b, None, normaliser / equal_weight, lr)
            state.t += 1
            total += value * normaliser  # = sum of w_i L_i over the batch
    return total / batch_weights.sum() + penalty


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
    deterministic=False,
):
    """Run epochs until the monitored quantity stops improving or ``max_iter``.

    With ``deterministic=True`` (``fit``), a batch that covers the data, the
    ``"adaptive"`` schedule and no ``validation``, the problem is a
    deterministic one and :func:`solve_full_batch` solves it instead, for a
    smooth loss. (The hinge's route, smoothing with continuation, reaches the
    optimum within 0.1% but its stopping point moves with rounding, so that
    integer weights and repeated rows no longer give the same model to
    1e-7: it is not used.)

    Monitored quantity: ``validation(params)`` (a score, higher is better) when
    given, else the training objective of the epoch. "Not improving" means not
    better than the best so far by more than ``tol`` times the quantity's
    scale (the all-zero model's objective, or 1 for a validation score) for
    ``n_iter_no_change`` epochs in a row (and for at least
    ``MIN_PLATEAU_UPDATES`` updates); an adaptive schedule then shrinks its
    step, any other schedule stops.
    ``tol=None`` never stops early. With ``validation`` the coefficients of
    the best validation score are restored at the end.

    ``mean_weight`` is passed to :func:`run_epoch` (``partial_fit`` gives the
    running mean weight of the stream). ``pass_label(epoch)`` names a pass in
    error messages.

    ``state`` is updated in place; raises :class:`DivergenceError` when the
    objective becomes non-finite or ends above twice the all-zero model's.
    """
    if (
        deterministic
        and batch_size >= X.shape[0]
        and schedule.decays_on_plateau
        and validation is None
        and not objective.loss.piecewise_linear
    ):
        return solve_full_batch(
            objective,
            state,
            X,
            y,
            sample_weight,
            step=schedule.eta0,
            max_iter=max_iter,
            tol=tol,
            verbose=verbose,
            pass_label=pass_label,
        )
    result = SolverResult()
    # An epoch of few updates is a noisy unit for judging a plateau (with
    # momentum the objective of a full-batch fit oscillates for a while), so
    # the patience also covers at least MIN_PLATEAU_UPDATES updates.
    updates_per_epoch = -(-X.shape[0] // batch_size)
    patience = max(n_iter_no_change, -(-MIN_PLATEAU_UPDATES // updates_per_epoch))
    best = np.inf  # of the monitored quantity, as a value to minimise
    # tol is relative: to the all-zero model's objective (the problem's own
    # scale: log(n_classes) for the softmax, (n_classes - 1) delta for the
    # hinge), or an accuracy's change.
    zero_value = objective.zero_model_value(state.params.shape[1])
    tol_scale = 1.0 if validation is not None else zero_value
    best_coef = None
    no_improvement = 0
    start = time.perf_counter()
    # Overflow while diverging is reported after the epoch, as an error, not
    # as a stream of RuntimeWarnings.
    state.centre()
    state.sum_sq = state.workspace = None
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
            sum_sq = state.sum_sq if objective.fit_intercept else None
            _check_finite(loss, state.params, pass_label(epoch), sum_sq)
            result.n_iter = epoch
            result.loss_curve.append(loss)
            result.best_loss = min(result.best_loss, loss)
            if validation is not None:
                state.centre(-1)  # validation scores with the plain intercept
                score = validation(state.params)
                state.centre()
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
            improved_by_tol = tol is not None and monitored < best - tol * tol_scale
            if monitored < best:
                best = monitored
                if validation is None:
                    pass
                elif best_coef is None:
                    best_coef = _array_api.copy(state.params)
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
    if best_coef is not None:
        state.params[...] = best_coef
    state.centre(-1)
    state.sum_sq = state.workspace = None
    _check_not_run_away(result, zero_value, pass_label)
    if best_coef is not None:
        result.best_validation_score = -best
    return result


def _check_not_run_away(result, zero_value, pass_label):
    # A finite objective can still have run away. The all-zero model bounds
    # the minimum from above, so ending above twice its objective means the
    # steps were too large, not that the data is hard.
    if result.loss_curve[-1] > 2 * zero_value:
        raise DivergenceError(
            f"The objective ran away: {result.loss_curve[-1]:.4g} after "
            f"{pass_label(result.n_iter)}, more than twice the {zero_value:.4g} of the "
            "all-zero model. " + _REMEDY
        )


# In full batch, tol times this bounds the relative gain of a further gradient
# step: with the default tol, 1e-6, within 1e-4 of the optimum on standardised
# digits (the minibatch rule's tol, a change per epoch, would stop a full-batch
# fit several percent above it).
FULL_BATCH_TOL_FACTOR = 1e-3

def solve_full_batch(
    objective,
    state,
    X,
    y,
    sample_weight,
    *,
    step,
    max_iter,
    tol,
    verbose=0,
    pass_label=lambda iteration: f"iteration {iteration}",
):
    """Minimise the exact objective when one batch covers the data.

    No minibatch noise: accelerated gradient descent with a backtracking step
    and adaptive restart (:func:`.full_batch.accelerated_descent`), which
    converges linearly, instead of plateau-driven step decays; for smooth
    losses only (the hinge stays on the minibatch path, see :func:`solve`).
    ``step`` is the first step tried (the automatic minibatch step of ``W``;
    the search adapts it), ``max_iter`` counts iterations (each evaluates the
    objective and gradient once or twice, about an epoch each), and ``tol``
    times ``FULL_BATCH_TOL_FACTOR`` bounds the relative gain a further
    gradient step would make (see :func:`.full_batch.accelerated_descent`);
    ``tol=None`` runs all ``max_iter`` iterations. The parameters are centred
    (``state.center``) while it runs. ``loss_curve_`` gets the objective
    after every iteration.
    """
    result = SolverResult()
    weight_sum = _array_api.total(sample_weight)
    tol = 0.0 if tol is None else FULL_BATCH_TOL_FACTOR * tol
    start = time.perf_counter()

    def value_grad(params):
        value, grad = objective.params_gradient(
            params, X, y, sample_weight, weight_sum, center=state.center
        )
        value = float(value)  # a 0-d array on the Array API path
        return value + objective.penalty(objective.split_params(params)[0]), grad

    def callback(iteration, value):
        # The iterate lives in the method's own buffers until it returns; a
        # non-finite entry there makes the value non-finite.
        if not np.isfinite(value):
            raise DivergenceError(
                f"The objective diverged to a non-finite value in "
                f"{pass_label(iteration)}. " + _REMEDY
            )
        result.loss_curve.append(value)
        result.best_loss = min(result.best_loss, value)
        if verbose:
            print(
                f"Iteration {iteration}, objective = {value:.8g}, "
                f"time = {time.perf_counter() - start:.3f}s"
            )

    state.centre()
    with (
        _blas_threads_for(X, X.shape[0], state.params.shape[1]),
        np.errstate(over="ignore", invalid="ignore"),
    ):
        n_iter, converged = accelerated_descent(
            value_grad,
            state.params,
            step=step,
            max_iter=max_iter,
            tol=tol,
            callback=callback,
        )
    state.centre(-1)
    state.t += n_iter
    result.n_iter = n_iter
    result.converged = converged and tol > 0
    if not result.loss_curve:
        raise DivergenceError(f"No step was accepted in {pass_label(1)}. " + _REMEDY)
    zero_value = objective.zero_model_value(state.params.shape[1])
    _check_not_run_away(result, zero_value, pass_label)
    return result
