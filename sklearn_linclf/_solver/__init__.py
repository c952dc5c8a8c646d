"""Loss-agnostic minibatch gradient descent.

The solver only needs a :class:`~sklearn_linclf._objective.LinearObjective`
(any score-space loss lifted to the coefficients). Its pieces are small and
separate, one module each:

- :mod:`.steps`: step-size rules. A *schedule* maps the update count ``t``
  (and, for ``"adaptive"``, the number of plateaus seen) to a step size;
  steps are counted in updates or epochs, never in samples, so that a full
  batch of weighted rows takes exactly the same path as a full batch of
  repeated rows. :func:`estimate_curvature` gives the automatic steps from
  the curvature of minibatches of the (centred) data;
- :mod:`.updates`: an *update rule* turns a gradient into an in-place change
  of the parameters (plain, heavy-ball momentum or Nesterov momentum);
- :mod:`.dense` and :mod:`.sparse`: the minibatch updates of an epoch, to all
  parameters (dense ``X``) or, for sparse ``X``, only to the rows of the
  features a batch touches, the others being caught up lazily and exactly;
  each runs a whole epoch in one compiled call (:mod:`._dense_kernel`,
  :mod:`._sparse_kernel`), and :class:`.dense.DenseStepper` takes one step at
  a time for the inputs the kernels do not take;
- :mod:`.threads`: how many threads the kernels use;
- :mod:`.state`: what continues from one call to the next, and the implicit
  centring of the features;
- :mod:`.loop`: :func:`run_epoch` makes one pass over shuffled *indices* (the
  data is never shuffled or copied as a whole); :func:`solve` repeats epochs
  and decides when to stop;
- :mod:`.full_batch`: accelerated gradient descent for a batch that covers
  the data (:func:`solve_full_batch` in :mod:`.loop` applies it).
"""

from .loop import DivergenceError, SolverResult, run_epoch, solve
from .sparse import sparse_epoch
from .state import SolverState, make_state, zero_state
from .steps import Curvature, estimate_curvature, make_schedule
from .updates import MomentumUpdate

__all__ = [
    "Curvature",
    "estimate_curvature",
    "DivergenceError",
    "MomentumUpdate",
    "SolverResult",
    "SolverState",
    "make_schedule",
    "make_state",
    "run_epoch",
    "solve",
    "sparse_epoch",
    "zero_state",
]
