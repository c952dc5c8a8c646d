"""Loss-agnostic minibatch gradient descent.

The solver only needs an objective with ``loss_gradient(coef, X, y,
sample_weight, weight_sum) -> (value, grad)``. Its pieces are small and
separate:

- a *schedule* maps the update count ``t`` (and, for ``"adaptive"``, the number
  of plateaus seen) to a step size. Steps are counted in updates or epochs,
  never in samples, so that a full batch of weighted rows takes exactly the
  same path as a full batch of repeated rows;
- an *update rule* turns a gradient into an in-place change of ``coef``
  (plain, heavy-ball momentum or Nesterov momentum);
- :func:`run_epoch` makes one pass over shuffled *indices* (the data is never
  shuffled or copied as a whole);
- :func:`solve` repeats epochs and decides when to stop.
"""

import time
from dataclasses import dataclass, field

import numpy as np
from sklearn.utils import gen_batches

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

    With velocity ``v``: ``v <- mu v - eta g``; then ``coef <- coef + v``
    (heavy ball) or ``coef <- coef + mu v - eta g`` (Nesterov, in the form used
    by scikit-learn's MLP). ``momentum=0`` is plain gradient descent.
    """

    def __init__(self, momentum=0.9, nesterov=True):
        self.momentum = momentum
        self.nesterov = nesterov

    def init(self, coef):
        return np.zeros_like(coef) if self.momentum > 0 else None

    def apply(self, coef, grad, velocity, lr):
        """Update ``coef`` (and ``velocity``) in place; ``grad`` is consumed."""
        grad *= lr
        if velocity is None:
            coef -= grad
            return
        mu = self.momentum
        velocity *= mu
        velocity -= grad
        if self.nesterov:
            coef += mu * velocity
            coef -= grad
        else:
            coef += velocity


# ----------------------------------------------------------------------------
# The loop


@dataclass
class SolverState:
    """Everything that continues from one call to the next (partial_fit)."""

    coef: np.ndarray
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


def _check_finite(value, coef, epoch):
    if not (np.isfinite(value) and np.isfinite(coef).all()):
        raise FloatingPointError(
            f"The objective diverged to a non-finite value in epoch {epoch}. "
            "Use a smaller learning_rate_init, or scale the features (for "
            "example with StandardScaler); the fitted model was left unchanged."
        )


def run_epoch(objective, state, X, y, sample_weight, *, batch_size, shuffle, rng,
              update_rule, schedule):
    """One pass over the data; returns the weighted mean of the batch objectives.

    ``state`` is updated in place.
    """
    n_samples = X.shape[0]
    full_batch = batch_size >= n_samples
    if not full_batch:
        order = rng.permutation(n_samples) if shuffle else np.arange(n_samples)
    total, total_weight = 0.0, 0.0
    for batch in gen_batches(n_samples, batch_size):
        if full_batch:
            X_b, y_b, sw_b = X, y, sample_weight
        else:
            # Sorted indices read X in memory order; the order inside a batch
            # does not change its gradient.
            idx = np.sort(order[batch])
            X_b, y_b, sw_b = X[idx], y[idx], sample_weight[idx]
        weight_sum = sw_b.sum()
        if weight_sum <= 0:
            continue  # a batch of zero-weight rows carries no information
        value, grad = objective.loss_gradient(state.coef, X_b, y_b, sw_b, weight_sum)
        update_rule.apply(state.coef, grad, state.velocity,
                          schedule(state.t, state.n_decays))
        state.t += 1
        total += value * weight_sum
        total_weight += weight_sum
    return total / total_weight


def solve(objective, state, X, y, sample_weight, *, batch_size, max_iter, tol,
          n_iter_no_change, shuffle, rng, update_rule, schedule, validation=None,
          verbose=0):
    """Run epochs until the monitored quantity stops improving or ``max_iter``.

    Monitored quantity: ``validation(coef)`` (a score, higher is better) when
    given, else the training objective of the epoch. "Not improving" means not
    better than the best so far by at least ``tol`` for ``n_iter_no_change``
    epochs in a row; an adaptive schedule then shrinks its step, any other
    schedule stops. ``tol=None`` never stops early. With ``validation`` the
    coefficients of the best validation score are restored at the end.

    ``state`` is updated in place; raises ``FloatingPointError`` on divergence.
    """
    result = SolverResult()
    best = np.inf  # of the monitored quantity, as a value to minimise
    best_coef = None
    no_improvement = 0
    start = time.perf_counter()
    for epoch in range(1, max_iter + 1):
        loss = run_epoch(objective, state, X, y, sample_weight,
                         batch_size=batch_size, shuffle=shuffle, rng=rng,
                         update_rule=update_rule, schedule=schedule)
        _check_finite(loss, state.coef, epoch)
        result.n_iter = epoch
        result.loss_curve.append(loss)
        result.best_loss = min(result.best_loss, loss)
        if validation is not None:
            score = validation(state.coef)
            result.validation_scores.append(score)
            monitored = -score
        else:
            monitored = loss
        if verbose:
            msg = (f"Epoch {epoch}, objective = {loss:.8g}, "
                   f"learning rate = {schedule(state.t, state.n_decays):.4g}")
            if validation is not None:
                msg += f", validation score = {score:.6g}"
            print(f"{msg}, time = {time.perf_counter() - start:.3f}s")
        improved_by_tol = tol is not None and monitored < best - tol
        if monitored < best:
            best = monitored
            if validation is not None:
                best_coef = state.coef.copy()
        if tol is None:
            continue
        no_improvement = 0 if improved_by_tol else no_improvement + 1
        if no_improvement >= n_iter_no_change:
            if schedule.decays_on_plateau and state.n_decays < schedule.max_decays:
                state.n_decays += 1
                no_improvement = 0
                continue
            result.converged = True
            break
    if best_coef is not None:
        result.best_validation_score = -best
        state.coef[...] = best_coef
    return result
