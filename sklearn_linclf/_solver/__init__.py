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

from .loop import DivergenceError, SolverResult, run_epoch, solve
from .sparse import LazySparseStepper
from .state import SolverState, make_state, zero_state
from .steps import Curvature, estimate_curvature, make_schedule
from .updates import MomentumUpdate

__all__ = [
    "Curvature",
    "estimate_curvature",
    "DivergenceError",
    "LazySparseStepper",
    "MomentumUpdate",
    "SolverResult",
    "SolverState",
    "make_schedule",
    "make_state",
    "run_epoch",
    "solve",
    "zero_state",
]
