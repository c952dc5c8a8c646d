"""What the solver carries from one call to the next."""

from dataclasses import dataclass

import numpy as np


@dataclass
class SolverState:
    """Everything that continues from one call to the next (partial_fit).

    ``params`` is in the objective's solver layout, shape
    ``(n_features + fit_intercept, n_classes)``.

    Two constants of the problem condition it without changing its minimiser:
    ``center`` (the feature means ``mu``, or None), in which case ``params``
    holds the intercept of the centred features, ``b + mu W^T``, while the
    solver runs (see :meth:`centre`), and ``intercept_step``, the step of the
    intercept relative to that of ``W`` (a diagonal preconditioner).
    """

    params: np.ndarray
    velocity: np.ndarray | None
    t: int = 0
    n_decays: int = 0
    table: np.ndarray | None = None
    center: np.ndarray | None = None
    intercept_step: float = 1.0
    # Caches of the sparse epochs, valid while only the solver changes the
    # coefficients (solve resets them): ||W||^2 at the end of the last epoch,
    # and the compiled step's bookkeeping.
    sum_sq: float | None = None
    workspace: object = None

    def centre(self, sign=1):
        """Move the intercept row to centred coordinates (``sign=-1``: back).

        ``b <- b + sign * mu W^T`` for the parameters, and likewise for the
        velocity, which is the difference of two parameter vectors. Exact up
        to rounding: a stored model keeps the plain intercept.
        """
        if self.center is None:
            return
        for array in (self.params, self.velocity):
            if array is not None:
                array[-1, ...] += sign * (self.center @ array[:-1, ...])

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

