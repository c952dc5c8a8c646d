"""Step-size rules: schedules that map the update count to a step size.

Also the data-derived initial step (:func:`estimate_curvature`).
"""

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix, issparse

from .._array_api import host_rows


class _Schedule:
    """A step size per update count ``t`` (and count of plateaus seen)."""

    def rates(self, t, n, n_decays):
        """The step sizes of updates ``t .. t + n - 1``, as float64."""
        return np.array([self(t + i, n_decays) for i in range(n)], dtype=float)


class _StepwiseConstant(_Schedule):
    """A schedule that changes only between epochs (on a plateau, or never)."""

    def rates(self, t, n, n_decays):
        # An epoch of tiny batches has thousands: one Python call each was
        # ~2 % of a 2-column epoch.
        return np.full(n, self(t, n_decays), dtype=float)


class ConstantSchedule(_StepwiseConstant):
    """``eta = eta0`` for every update."""

    decays_on_plateau = False

    def __init__(self, eta0):
        self.eta0 = eta0

    def __call__(self, t, n_decays):
        return self.eta0


class InvScalingSchedule(_Schedule):
    """``eta = eta0 / (t + 1) ** power_t`` with ``t`` the number of updates."""

    decays_on_plateau = False

    def __init__(self, eta0, power_t=0.5):
        self.eta0 = eta0
        self.power_t = power_t

    def __call__(self, t, n_decays):
        return self.eta0 / (t + 1) ** self.power_t


class AdaptiveSchedule(_StepwiseConstant):
    """``eta = eta0 / factor ** n_decays``.

    The solver increments ``n_decays`` each time the monitored objective stops
    improving; after ``max_decays`` such plateaus it stops instead.
    """

    decays_on_plateau = True

    def __init__(self, eta0, factor=5.0, max_decays=3):
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
# The initial step, from the curvature a minibatch update sees


@dataclass
class Curvature:
    """What the data says about the size of a step.

    ``coef`` is the largest eigenvalue of the (weighted) minibatch Gram matrix
    ``X_bᵀ D_b X_b / sum(w_b)`` of the (centred) features, the largest over a
    few random batches of the size the solver uses; the intercept's own Gram is
    exactly 1 (``1ᵀ D_b 1 / sum(w_b)``). ``coupling`` is the largest eigenvalue
    of the Gram of features and intercept together, each block scaled by its
    own: 1 when the blocks are uncoupled (features centred on the batch), at
    most 2.
    """

    coef: float
    coupling: float = 1.0

    def steps(self, loss_curvature, alpha):
        """``(step of W, step of b)``: the inverse curvature of each block.

        ``loss_curvature`` bounds the Hessian of the loss in score space (½ for
        the softmax cross-entropy); the penalty adds ``2 alpha`` to ``W``'s.
        """
        c = loss_curvature * self.coupling
        return 1.0 / (c * self.coef + 2.0 * alpha), 1.0 / c


def _power_iteration(apply, v, n_iter):
    """Largest eigenvalue of the symmetric positive semi-definite ``apply``."""
    lam = 0.0
    for _ in range(n_iter):
        norm = np.linalg.norm(v)
        if not norm > 0:
            break
        u = apply(v / norm)
        lam = float(np.linalg.norm(u))
        v = u
    return lam


def _batch_operator(X_b, w_b, center):
    """The batch's weighted Gram as a function, in as few coordinates as it needs.

    Returns ``(gram, project)``: ``gram(v, s)`` is ``Zᵀ D Z v`` with ``Z = (X_b
    - center, s 1)`` restricted to an invariant subspace that holds the range
    of ``Zᵀ`` (+1 coordinate for the intercept column when ``s`` is given), and
    ``project(v)`` gives the coordinates in that subspace of a full-length
    vector ``v`` (its projection), so that power iteration takes the same path
    whichever the storage of ``X``. For CSR input the subspace is that of the
    columns the batch touches, plus (when centred) the direction of
    ``center`` on the others, on which every row of ``X_b - center`` has the
    same component: the cost is O(nnz) per product, not O(n_features).
    """
    project = None
    if issparse(X_b):
        cols, inverse = np.unique(X_b.indices, return_inverse=True)
        dim = cols.size
        full_center = center
        if center is not None:
            # The unit direction of the centre off the batch's columns, and
            # the centre's length along it.
            rest_sq = float(center @ center) - float(center[cols] @ center[cols])
            rest_norm = np.sqrt(max(rest_sq, 0.0))
            center = np.append(center[cols], rest_norm)
            dim += 1  # a column of zeros: only its centre is not

        def project(v, cols=cols):
            head = v[cols]
            if full_center is not None:
                off = float(full_center @ v[:-1]) - float(full_center[cols] @ head)
                head = np.append(head, off / rest_norm if rest_norm > 0 else 0.0)
            return np.append(head, v[-1])

        X_b = csr_matrix((X_b.data, inverse, X_b.indptr), shape=(X_b.shape[0], dim))
    X_t = X_b.T.tocsr() if issparse(X_b) else X_b.T
    dim = X_b.shape[1]

    def gram(v, intercept_scale=None):
        v_coef = v[:dim]
        u = X_b @ v_coef
        if center is not None:
            u -= center @ v_coef
        if intercept_scale is not None:
            u += intercept_scale * v[dim]
        u *= w_b
        out = np.empty_like(v)
        out[:dim] = X_t @ u
        if center is not None:
            out[:dim] -= center * u.sum()
        if intercept_scale is not None:
            out[dim] = intercept_scale * u.sum()
        return out

    return gram, project


def estimate_curvature(
    X,
    sample_weight,
    batch_size,
    *,
    center=None,
    fit_intercept=True,
    n_batches=3,
    n_iter=8,
):
    """:class:`Curvature` of random minibatches of ``X``, by power iteration.

    The Gram matrices are never formed: each iteration is a product with the
    batch and one with its transpose, in the coordinates the batch spans (see
    :func:`_batch_operator`), and ``center`` (the feature means, or None) is
    applied as a rank-one term. The cost is ``4 * n_batches * n_iter``
    products with one vector, against ``2 * n_classes`` per batch in an
    epoch. Weighted rows count as their weight, so that integer weights equal
    repeated rows (exactly, up to rounding, when the batch covers the data).
    Power iteration approaches the eigenvalue from below; the estimate is the
    largest over the batches. Array API input (see :mod:`sklearn_linclf._array_api`)
    is estimated on the host: only the sampled batches are copied there, and
    ``sample_weight`` and ``center`` must be NumPy arrays.
    """
    n_samples, n_features = X.shape
    full_batch = batch_size >= n_samples
    coef, coupling = 0.0, 1.0
    # A fixed stream of its own and one start vector for dense and sparse
    # input alike: the same data gives the same steps, whatever the seed.
    rng = np.random.default_rng(0)
    start = rng.standard_normal(n_features + 1)
    if not full_batch:
        n_batches = max(1, min(n_batches, n_samples // batch_size))
        rows = rng.permutation(n_samples)[: n_batches * batch_size]
    for i in range(1 if full_batch else n_batches):
        if full_batch:
            X_b, w_b = host_rows(X), sample_weight
        else:
            idx = np.sort(rows[i * batch_size : (i + 1) * batch_size])
            X_b, w_b = host_rows(X, idx), sample_weight[idx]
        total = float(w_b.sum())
        if not total > 0:
            continue
        gram, project = _batch_operator(X_b, w_b / total, center)
        v = start if project is None else project(start)
        dim = v.size - 1
        lam = _power_iteration(
            lambda u, gram=gram, dim=dim: gram(np.append(u, 0.0))[:dim],
            v[:dim],
            n_iter,
        )
        coef = max(coef, lam)
        if fit_intercept and lam > 0:
            # Blocks scaled to unit curvature each: W by 1/sqrt(lam), b by 1.
            scale = np.ones(dim + 1)
            scale[:dim] = 1.0 / np.sqrt(lam)

            def scaled(v, gram=gram, scale=scale):
                return scale * gram(scale * v, 1.0)

            coupling = max(coupling, _power_iteration(scaled, v, n_iter))
    return Curvature(coef, min(coupling, 2.0))
