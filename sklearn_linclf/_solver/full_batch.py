"""Full-batch solvers: accelerated gradient descent and smoothing for the hinge.

When a minibatch covers the whole data set the gradient is exact, and a method
made for deterministic problems converges far faster than the noisy-minibatch
schedules: the error shrinks geometrically instead of as a power of the epoch.

- :func:`accelerated_descent` minimises a smooth convex function given only
  its value and gradient: Nesterov's accelerated gradient in FISTA's form, a
  step found by backtracking (which estimates the local Lipschitz constant of
  the gradient, and may grow again), and adaptive restart, which makes it
  converge linearly on strongly convex problems without knowing the modulus.
- The hinge is not smooth, and backtracking on a kink shrinks the step without
  end. :class:`~sklearn_linclf._loss.SmoothedHinge` replaces each hinge
  ``max(0, z)`` by a Huber-type function of width ``smoothing``, at most
  ``smoothing / 8`` above it, and :func:`smoothing_continuation` runs
  :func:`accelerated_descent` on a sequence of narrowing widths, each stage
  warm-started from the previous one.

Both are loss-agnostic: they see the
objective only through ``value_grad(params) -> (value, grad)``, one call of
which costs about one epoch (one pass over the data). The number of calls is
what to count: an iteration makes two (at the extrapolated point and at the
candidate), one when there is no momentum to extrapolate with, and one more
for each halving of the step.
"""

import math

import numpy as np

from .. import _array_api

# Factor by which a failed step is shrunk.
_SHRINK = 0.5
# Factors by which the step is tried larger: at every iteration until the first
# failure (a conservative initial step costs a few iterations, not a fixed
# fraction of the speed), at every restart of the momentum, and a little at
# every other iteration, so that the step follows the curvature as it falls
# near the minimum. Between restarts the growth is kept small: the momentum
# sequence pays for a larger step with less momentum (see `_next_t`), and a
# growth of g per iteration caps t near 1 / (2 (1 - 1/sqrt(g))) (51 for 1.02;
# 11 for 1.1, which measured 1.5-2x slower on condition numbers of 1e3-1e5).
_GROW_UNTIL_FIRST_FAILURE = 2.0
_GROW_AT_RESTART = 2.0
_GROW = 1.02
# Halvings of the step tried in one iteration before giving up: 2**-60 is below
# the resolution of a float64 step.
_MAX_BACKTRACKS = 60


def _inner(a, b):
    """``<a, b>`` of two arrays of one shape, accumulated in float64."""
    if not isinstance(a, np.ndarray):
        return _array_api.inner(a, b)
    axes = "abcdefghijklmnopqrstuvwxyz"[: a.ndim]
    return float(np.einsum(f"{axes},{axes}->", a, b, dtype=np.float64))


def _next_t(t, step_ratio):
    """FISTA's momentum sequence, allowing for a change of step size.

    With ``step_ratio = old_step / new_step`` this is the update of Scheinberg,
    Goldfarb and Bai (2014), ``t' = (1 + sqrt(1 + 4 ratio t^2)) / 2``, which
    keeps the O(1/k^2) rate of FISTA while the step varies; with a constant
    step it is FISTA's ``t' = (1 + sqrt(1 + 4 t^2)) / 2``. A step smaller than
    the one ``t'`` was computed for keeps the rate too (it only means less
    momentum than allowed), so a backtracking that shrinks the step need not
    recompute the extrapolated point.
    """
    return 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * step_ratio * t * t))


class DescentResult:
    """What :func:`_accelerated_descent` returns; unpacks to ``(n_iter, converged)``.

    Attributes
    ----------
    n_iter : int
        Accepted iterations.
    converged : bool
        Whether the stopping criterion was met.
    n_calls : int
        Calls of ``value_grad`` made (each about one epoch of work).
    step : float
        The last accepted step (an estimate of ``1 / L`` on the final region).
    value : float
        Objective at the final iterate.
    """

    def __init__(self, n_iter, converged, n_calls, step, value):
        self.n_iter = n_iter
        self.converged = converged
        self.n_calls = n_calls
        self.step = step
        self.value = value

    def __iter__(self):
        return iter((self.n_iter, self.converged))


def accelerated_descent(
    value_grad, params, *, step, max_iter, tol, scale=None, callback=None
):
    """Minimise a smooth convex function by accelerated gradient descent.

    FISTA (Beck and Teboulle, 2009) with a backtracking step and adaptive
    restart of the momentum (O'Donoghue and Candès, 2015). Each iteration
    extrapolates ``y = x + beta (x - x_prev)`` along the momentum, takes a
    gradient step ``x+ = y - step * scale * g(y)`` and accepts it when the
    sufficient-decrease condition holds::

        f(x+) <= f(y) + <g(y), x+ - y> + ||x+ - y||^2 / (2 step)
               = f(y) - (step / 2) <g(y), scale * g(y)>

    (the norm is the one of the preconditioner, ``||d||^2 = sum(d^2 / scale)``;
    a relative slack of a few float roundings of ``f`` is allowed, so that
    rounding does not shrink the step near the minimum). Otherwise the step is
    halved and the candidate recomputed from the same ``y``. The momentum is
    reset (restarted) whenever it points uphill, ``<g(y), x+ - x> > 0``, or the
    objective rose, ``f(x+) > f(x)``; with a strongly convex ``f`` this makes
    the convergence linear, at a rate of the order of the optimal
    ``1 - sqrt(mu / L)`` per iteration, without knowing ``mu``.

    The step may grow again, so that a conservative initial step, or one
    shrunk where the curvature was high, is not a permanent loss: it is
    doubled at every iteration until the first halving, doubled at every
    restart, and grown by 2% at every other iteration (the momentum sequence
    allows for it, see :func:`_next_t`).

    Parameters
    ----------
    value_grad : callable
        ``value_grad(p) -> (value, grad)``: the full objective (penalty
        included) as a float and its gradient, an ndarray of the shape of
        ``p``, new at each call (up to two are kept across calls). It must
        not keep or modify ``p``. A non-finite value at a trial point counts
        as a failed step.
    params : ndarray
        The starting point, for example of shape ``(n_features + 1, n_classes)``;
        updated in place to the final iterate. Its dtype is kept: float32
        parameters are computed on in float32 (scalars accumulate in float64).
    step : float
        Initial step, a guess of ``1 / L`` (``L`` the Lipschitz constant of the
        gradient, in the preconditioner's norm). Too large costs a few halvings
        in the first iteration, too small a few doublings.
    max_iter : int
        Maximum number of iterations (accepted steps).
    tol : float
        Stop when a gradient step from the current iterate ``x`` would lower the
        objective by at most a fraction ``tol`` of it::

            (step / 2) <g(x), scale * g(x)> <= tol * |f(x)|

        This is the decrease guaranteed by the step that the backtracking
        just accepted, relative to ``f``: it is free of the scale of ``f`` and
        of ``params``, and zero only at a minimiser. For an ``f`` that is
        ``mu``-strongly convex the suboptimality ``f(x) - f*`` is at most
        ``1 / (step mu)`` (about ``L / mu``) times the decrease. The gradient
        ``g(x)`` is the one computed to accept ``x``: the test costs no call.
        It is not applied before the first halving of the step (a step that
        is still growing from a small guess says nothing about ``L``).
        ``tol=0`` runs ``max_iter`` iterations. Meant for objectives whose
        minimum is not near 0 (such as a mean loss plus penalty).
    scale : ndarray or float, default=None
        A fixed diagonal preconditioner, broadcastable to ``params``, positive:
        the step of entry ``i`` is ``step * scale[i]``. A good choice is the
        inverse of the diagonal of the Hessian (up to a common factor, which
        the step absorbs). None is ``scale = 1``.
    callback : callable, default=None
        ``callback(iteration, value)`` after each iteration (numbered from 1),
        with the objective at the new iterate. It may raise to abort; the
        exception propagates, and ``params`` holds the last iterate accepted
        (the one the callback saw).

    Returns
    -------
    n_iter : int
        Iterations run.
    converged : bool
        Whether the ``tol`` criterion was met, or no step decreased the
        objective any more (a minimiser to working precision); False after
        ``max_iter`` iterations.

    Raises
    ------
    FloatingPointError
        If the objective is not finite at the starting point.

    Notes
    -----
    Work: one call of ``value_grad`` at the start, then per iteration one at
    the extrapolated point (none after a restart, where it is the current
    iterate, whose value and gradient are known) and one per candidate. The
    value at each accepted point is reused, never recomputed. Memory: three
    arrays like ``params`` (four with ``scale``) besides ``params`` itself,
    and at most two gradients alive while ``value_grad`` runs.
    """
    return tuple(
        _accelerated_descent(
            value_grad,
            params,
            step=step,
            max_iter=max_iter,
            tol=tol,
            scale=scale,
            callback=callback,
        )
    )


def _accelerated_descent(
    value_grad, params, *, step, max_iter, tol, scale=None, callback=None
):
    """:func:`accelerated_descent`, returning a :class:`DescentResult`."""
    if not step > 0:
        raise ValueError(f"step must be positive; got {step!r}.")
    dtype = params.dtype
    # Array API input (other than NumPy) has no `out=`: its arithmetic makes
    # new arrays instead of filling the work arrays.
    in_place = isinstance(params, np.ndarray)
    if scale is not None:
        scale = np.broadcast_to(np.asarray(scale, dtype=dtype), params.shape)
    # Rounding of f: a decrease smaller than this cannot be told from zero.
    rounding = 16 * (np.finfo(dtype).eps if in_place else _array_api.eps(params))

    def scaled(g, out):
        """``scale * g`` (``g`` itself without a preconditioner)."""
        if scale is None:
            return g
        return np.multiply(scale, g, out=out) if in_place else scale * g

    n_calls = 1
    f_x, g_x = value_grad(params)
    if not math.isfinite(f_x):
        raise FloatingPointError(
            f"The objective is not finite at the starting point ({f_x})."
        )
    x = params
    # Work arrays, rotated between the roles of x, x_prev and the candidate, so
    # that nothing of the size of params is allocated in the loop. Gradients
    # are dropped as soon as they are no longer needed (g = None), so that at
    # most two are alive during a call of value_grad.
    if in_place:
        x_prev, y_buf, x_new = (np.empty_like(params) for _ in range(3))
        dg_buf = None if scale is None else np.empty_like(params)
    else:
        x_prev, y_buf, x_new = params, None, None  # x_prev unread until set
        dg_buf = None
    g_y = g_new = None
    t = 1.0  # t = 1: no momentum (the first iteration and after a restart)
    step = float(step)
    shrunk_yet = False
    converged = False
    n_iter = 0
    try:
        # Overflow in a too-long trial step is a failed step, not a warning.
        with np.errstate(over="ignore", invalid="ignore"):
            for n_iter in range(1, max_iter + 1):
                # The step to try: doubled at every iteration until the first
                # failure, then grown at every restart and a little between.
                if n_iter == 1:
                    trial = step
                elif not shrunk_yet:
                    trial = step * _GROW_UNTIL_FIRST_FAILURE
                elif t == 1.0:
                    trial = step * _GROW_AT_RESTART
                else:
                    trial = step * _GROW
                t_new = _next_t(t, step / trial)
                beta = (t - 1.0) / t_new
                restart = False
                if beta > 0:
                    if in_place:
                        y = np.subtract(x, x_prev, out=y_buf)
                        y *= beta
                        y += x  # y = x + beta (x - x_prev)
                    else:
                        y = (x - x_prev) * beta + x
                    n_calls += 1
                    f_y, g_y = value_grad(y)
                    if not math.isfinite(f_y):
                        # The momentum ran into overflow: drop it.
                        y, restart, g_y = x, True, None
                        if g_x is None:
                            n_calls += 1
                            f_x, g_x = value_grad(x)
                        f_y, g_y = f_x, g_x
                else:
                    y, f_y, g_y = x, f_x, g_x
                dg = scaled(g_y, dg_buf)
                g_dg = _inner(g_y, dg)
                slack = rounding * abs(f_y)
                # Backtracking from the same y: a smaller step than t_new was
                # computed for only costs momentum (see `_next_t`).
                for _ in range(_MAX_BACKTRACKS):
                    if in_place:
                        np.multiply(dg, -trial, out=x_new)
                        x_new += y
                    else:
                        x_new = dg * -trial + y
                    n_calls += 1
                    g_new = None
                    f_new, g_new = value_grad(x_new)
                    # `not <=` also rejects a NaN.
                    if f_new <= f_y - 0.5 * trial * g_dg + slack:
                        break
                    trial *= _SHRINK
                    shrunk_yet = True
                else:
                    # No step decreases f: x is a minimiser to working precision.
                    n_iter -= 1
                    converged = True
                    break
                # Adaptive restart (O'Donoghue and Candès): when the momentum
                # points uphill, <g(y), x+ - x> > 0, or the objective rose by
                # more than rounding. x_prev is free as scratch: x replaces it.
                if in_place:
                    uphill = _inner(g_y, np.subtract(x_new, x, out=x_prev)) > 0
                else:
                    uphill = _inner(g_y, x_new - x) > 0
                restart = restart or uphill or f_new > f_x + slack
                x_prev, x, x_new = x, x_new, x_prev
                f_x, g_x, g_y, g_new = f_new, g_new, None, None
                step = trial
                t = 1.0 if restart else t_new
                if callback is not None:
                    callback(n_iter, f_x)
                # Stopping criterion: the decrease that a gradient step from x
                # guarantees, relative to f.
                decrease = 0.5 * step * _inner(g_x, scaled(g_x, dg_buf))
                if (shrunk_yet or decrease == 0) and decrease <= tol * abs(f_x):
                    converged = True
                    break
                if t != 1.0:
                    g_x = None  # the next iteration starts from y, not x
    finally:
        if x is not params:
            params[...] = x
    return DescentResult(n_iter, converged, n_calls, step, f_x)


def smoothing_continuation(
    make_value_grad,
    params,
    *,
    smoothing,
    final_smoothing,
    relative_smoothing=None,
    factor=4.0,
    step,
    max_iter,
    tol,
    scale=None,
    callback=None,
):
    """Minimise a nonsmooth objective through smoothed ones of shrinking width.

    Runs :func:`accelerated_descent` on ``make_value_grad(mu)`` for
    ``mu = smoothing, smoothing / factor, ...`` down to the final width; each
    stage starts from where the previous one ended (warm start), with the step
    it ended with divided by ``factor`` (the curvature grows as ``1 / mu``).
    Wide early stages are well conditioned and move the iterate most of the
    way cheaply; the narrow last one only refines it. Every stage is solved
    to ``tol``: in measurements, stages solved more loosely left the last,
    worst-conditioned stage more work than they saved.

    The final width is ``final_smoothing``, or with ``relative_smoothing`` the
    larger of ``final_smoothing`` and ``relative_smoothing * |f|``, where
    ``f`` is the objective at the end of the latest stage. The bias of the
    smoothed minimiser grows with the width, in the objective's units; the
    relative form keeps it a fraction of the objective whatever its size.

    Parameters
    ----------
    make_value_grad : callable
        ``make_value_grad(mu) -> value_grad`` for the objective smoothed with
        width ``mu`` (for example through :class:`~sklearn_linclf._loss.SmoothedHinge`).
    params : ndarray
        Starting point, updated in place to the final iterate.
    smoothing : float
        Width of the first stage.
    final_smoothing : float
        Smallest width, ``0 < final_smoothing <= smoothing``.
    relative_smoothing : float, default=None
        If given, stop narrowing once the width is at most this fraction of
        the objective (``final_smoothing`` still bounds it below). For the
        Weston–Watkins hinge, 0.02 gave objectives within 0.1% of the exact
        minimum with ``tol=1e-8`` (digits, 10 classes) and ``tol=1e-7``
        (small problems of 3 to 5 classes).
    factor : float, default=4.0
        Ratio of the widths of consecutive stages, > 1.
    step : float
        Initial step of the first stage (see :func:`accelerated_descent`).
    max_iter : int
        Maximum number of iterations over all stages.
    tol : float
        Stopping tolerance of each stage (see :func:`accelerated_descent`).
    scale : ndarray or float, default=None
        Diagonal preconditioner (see :func:`accelerated_descent`).
    callback : callable, default=None
        ``callback(iteration, value)``, iterations numbered across stages,
        ``value`` the current stage's smoothed objective (an upper bound of
        the nonsmooth one for :class:`~sklearn_linclf._loss.SmoothedHinge`).

    Returns
    -------
    n_iter : int
        Iterations run over all stages.
    converged : bool
        Whether the last stage met ``tol``.
    """
    if not smoothing >= final_smoothing > 0:
        raise ValueError(
            "Need smoothing >= final_smoothing > 0; got "
            f"smoothing={smoothing!r}, final_smoothing={final_smoothing!r}."
        )
    if not factor > 1:
        raise ValueError(f"factor must be > 1; got {factor!r}.")
    n_done = 0
    converged = False
    mu = float(smoothing)
    floor = final_smoothing
    while n_done < max_iter:
        # The last stage runs at the floor, even if the division overshot it.
        last = mu <= floor
        mu = max(mu, floor)

        def stage_callback(iteration, value, offset=n_done):
            if callback is not None:
                callback(offset + iteration, value)

        result = _accelerated_descent(
            make_value_grad(mu),
            params,
            step=step,
            max_iter=max_iter - n_done,
            tol=tol,
            scale=scale,
            callback=stage_callback,
        )
        n_done += result.n_iter
        converged = result.converged
        if last:
            break
        if relative_smoothing is not None:
            floor = max(final_smoothing, relative_smoothing * abs(result.value))
        step = result.step / factor
        mu /= factor
    return n_done, converged
