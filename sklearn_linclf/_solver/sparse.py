"""The lazy sparse epoch: only the rows of the features a batch touches.

Exactly the dense algorithm, rearranged: a feature absent from a minibatch has
data gradient 0, so its coefficients (and velocity) only feel the penalty, a
linear map ``A_s`` that depends on the step size alone (see
:meth:`MomentumUpdate.affine_form` with ``g = 0``).

Without momentum (the default on large sparse data) ``A_s`` is a number, the
shrink ``1 - 2 lr alpha``, the same for every row: the rows are stored divided
by the product of the shrinks so far (plus, when centred, a shared multiple of
``mu_j``), so a step changes two small factors and the rows it touches, and no
row is ever behind (:func:`._sparse_kernel.epoch_scaled`). When the product
gets too small for the dtype, or after ``MAX_PENDING`` steps, every row is
rewritten.

With momentum ``A_s`` mixes a row's coefficients and velocity, and a product
of such maps grows too ill-conditioned to divide by. Instead of applying
``A_s`` to every row at every step, each row remembers the step it was last
brought up to date, and the products ``Q[l] = A_{s-1} ... A_l`` are kept for
every ``l`` since the last full refresh; a row is caught up with one such
product just before a minibatch touches it. At the end of each epoch (or when
``Q`` is full) every row is caught up. The intercept row is dense and updated
at every step.

A touched row becomes ``A (p, v) - lr c g``. Rather than applying ``A`` to it
now, the step stores ``(p, v) - lr A^-1 c g`` and lets the row owe this step's
``A`` like the untouched rows do: the same result for one product less (unless
``A`` is nearly singular, see :func:`_safely_invertible`).

With centred features (``state.center``, the means ``mu``), every row's
gradient also holds ``-mu_j s`` with ``s = 1^T G`` (one vector of ``n_classes``
per step): the map of an absent row becomes affine, and its catch-up is
``Q[l] (p, v) + mu_j R[l]``, where ``R[l]`` sums what the steps since ``l``
added, each carried forward by the later maps. The centred scores need
``mu W^T`` over all rows; it is kept up to date in O(touched rows) per step
(the update is linear) and recomputed at every refresh.

The coefficients and velocity of a feature are read and written together, from
``state.table`` (shape ``(n_rows, 2, n_classes)``, see
:meth:`SolverState.interleave`): one random access per touched feature.

The loops are compiled (:mod:`._sparse_kernel`); this module prepares the
per-batch constants and calls them once per epoch.
"""

import numpy as np

from . import _sparse_kernel
from .threads import openmp_threads, thread_choice

# Steps a row may stay behind before every row is caught up (the length of Q),
# and without momentum, steps between rewrites of every row.
MAX_PENDING = 1024


def _safely_invertible(A):
    """Whether solving with each 2x2 (or 1x1) update map loses little precision.

    ``A`` has shape ``(n, dim, dim)``. The determinant is
    ``mu (1 - 2 lr alpha)`` (Nesterov), ``mu`` (heavy ball) or
    ``1 - 2 lr alpha`` (no momentum): small only for a tiny momentum or a step
    that overshoots the penalty.
    """
    scale = np.abs(A).max(axis=(1, 2)) ** A.shape[1]
    # Strict: a map of zeros (a penalty step that lands on 0) is not.
    return np.abs(np.linalg.det(A)) > 1e-2 * scale


def _update_maps(update_rule, alpha, lrs):
    """Per batch: ``A``, the weights of ``g`` for the touched rows, ``lr c``, owes.

    ``owes``: the touched rows store ``(p, v) + weights g`` and owe ``A``
    (``weights = -lr A^-1 c``); otherwise ``A`` is applied to them now and
    ``weights = -lr c``. Computed once per distinct step size.
    """
    distinct, inverse = np.unique(lrs, return_inverse=True)
    A, c = update_rule.affine_forms(distinct, alpha)
    owes = _safely_invertible(A)
    solved = np.broadcast_to(c, (distinct.size, c.size)).copy()
    if owes.any():
        rhs = np.broadcast_to(c[:, None], (int(owes.sum()), c.size, 1))
        solved[owes] = np.linalg.solve(A[owes], rhs)[:, :, 0]
    weights = -distinct[:, None] * solved
    lr_c = distinct[:, None] * c
    return A[inverse], weights[inverse], lr_c[inverse], owes.astype(np.uint8)[inverse]


def sparse_epoch(
    objective, update_rule, state, X, y, sample_weight, order, starts, stops,
    lrs, scales,
):
    """Run minibatches ``order[starts[b]:stops[b]]`` of CSR ``X`` with steps ``lrs``.

    ``scales[b]`` multiplies batch ``b``'s score gradients (the inverse of its
    normaliser); ``sample_weight`` is None for equal weights (each row counts
    1). Returns ``(batch_losses, sum_sq)``: each batch's ``sum_i w_i L_i`` at
    the parameters its gradient was taken at, and ``||W||_F^2`` at the end
    (every row up to date). ``state`` is updated in place; ``state.workspace``
    keeps the bookkeeping for the next epoch, and must be reset to None when
    the coefficients are changed by anything else.
    """
    table = state.interleave()
    n_rows, dim, n_classes = table.shape
    n_features = n_rows - int(objective.fit_intercept)
    center = state.center
    scaled = dim == 1
    workspace = state.workspace
    fresh = workspace is None
    if fresh:
        # Kept for the next epochs of this solve: the lazy path's feature
        # stamps need no reset, and the sums over the features are those of
        # the last refresh.
        workspace = state.workspace = (
            _sparse_kernel.ScaledWorkspace(n_features, n_classes, MAX_PENDING)
            if scaled
            else _sparse_kernel.Workspace(
                n_features, dim, n_classes, MAX_PENDING, center is not None
            )
        )
    empty = np.empty(0)
    maps, weights, lr_c, owes = _update_maps(update_rule, objective.alpha, lrs)
    loss = objective.loss
    kind = getattr(loss, "kind", None)
    if kind == "hinge":
        loss_kind, delta = _sparse_kernel.HINGE, float(loss.delta)
    elif kind == "softmax":
        loss_kind, delta = _sparse_kernel.SOFTMAX, 0.0
    else:
        raise TypeError(f"No compiled sparse step for the loss {loss!r}.")
    indices, indptr = X.indices, X.indptr
    if indices.dtype != indptr.dtype:
        indices, indptr = indices.astype(np.int64), indptr.astype(np.int64)
    batch_losses = np.zeros(starts.size)
    center = empty if center is None else np.ascontiguousarray(center, dtype=float)
    if center.size and fresh:
        mu_scores = np.einsum("j,jdk->dk", center, table[:n_features])
        if scaled:
            workspace.mu_v = mu_scores[0].copy()
        else:
            workspace.mu_scores = mu_scores
    data = X.data.astype(table.dtype, copy=False)
    y = np.asarray(y, dtype=np.intp)
    sample_weight = (
        empty if sample_weight is None else sample_weight.astype(float, copy=False)
    )
    center_sq = float(center @ center)
    fit_intercept = bool(objective.fit_intercept)
    intercept_step = float(state.intercept_step)
    if scaled:
        if center.size and workspace.rows is not X:
            # Each row's x . mu, for the centred scores: once per solve.
            workspace.row_mu = np.asarray(X @ center, dtype=float).ravel()
            workspace.rows = X
        kernel, finish = _sparse_kernel.epoch_scaled, _sparse_kernel.finish_scaled
        per_batch = (starts, stops, scales, lrs, maps[:, 0, 0].copy(),
                     lr_c[:, 0].copy())
        tail = (table, center, workspace.row_mu if center.size else empty,
                center_sq, fit_intercept, intercept_step, loss_kind, delta)
    else:
        kernel, finish = _sparse_kernel.epoch, _sparse_kernel.finish
        per_batch = (starts, stops, scales, lrs, maps, weights, lr_c, owes)
        tail = (
            table, center, center_sq, fit_intercept, intercept_step,
            float(update_rule.momentum), bool(update_rule.nesterov), loss_kind,
            delta,
        )

    def run(lo, hi, threads):
        losses = batch_losses[lo:hi]
        kernel(
            workspace, data, indices, indptr, y, sample_weight, order,
            *(a[lo:hi] for a in per_batch), *tail, threads, losses,
        )
        return losses

    most = openmp_threads()
    n_batches = starts.size
    if most == 1 or n_batches == 0:
        run(0, n_batches, 1)
    else:
        batch_rows = int((stops - starts).max())
        nnz_per_row = X.nnz / max(X.shape[0], 1)
        key = ("sparse", batch_rows, round(np.log2(1 + nnz_per_row)), n_classes,
               dim, table.dtype.char, loss_kind)
        thread_choice(key, most).run(run, n_batches)
    sum_sq = finish(workspace, table, center, most)
    return batch_losses, sum_sq
