"""Array API support: the namespace-generic pieces.

Under ``sklearn.set_config(array_api_dispatch=True)``, dense ``X`` of a
non-NumPy namespace (PyTorch, CuPy, array-api-strict, ...) is trained and
predicted in that namespace and on its device. Only this module knows how;
the NumPy and SciPy paths of the other modules are untouched and branch here
when :func:`array_api_namespace` says the input is not NumPy.

What lives where during a fit:

- on the device: ``X``, the class indices, the sample weights, the parameters,
  the velocity, the feature means, every minibatch product and update;
- on the host: labels and their encoding (``classes_`` stays a NumPy array, as
  in scikit-learn's own estimators), the validation of the weights, the order
  of the rows (drawn with the estimator's random state and moved to the device
  once per epoch), the step-size schedule and the stopping rule (a few scalars
  per epoch), and the initial step size: :func:`estimate_curvature
  <sklearn_linclf._solver.estimate_curvature>` runs on the few minibatches it
  samples, copied to the host once per fit.
"""

import numpy as np
from scipy.sparse import issparse
from sklearn.utils._array_api import (
    _is_numpy_namespace,
    _max_precision_float_dtype,
    get_namespace_and_device,
)

from ._loss import SoftmaxCrossEntropy, WestonWatkinsHinge

try:  # scikit-learn >= 1.8
    from sklearn.utils._array_api import move_to
except ImportError:  # pragma: no cover
    from sklearn.utils._array_api import _convert_to_numpy, get_namespace

    def move_to(array, *, xp, device):
        return _convert_to_numpy(array, get_namespace(array)[0])


try:  # scikit-learn >= 1.9
    from sklearn.utils._array_api import check_same_namespace
except ImportError:  # pragma: no cover

    def check_same_namespace(X, estimator, *, attribute, method):
        return


def array_api_namespace(X):
    """``(xp, device)`` of ``X`` if it takes the Array API path, else None.

    That is: array API dispatch is enabled and ``X`` is a dense array of a
    namespace other than NumPy. NumPy arrays, sparse matrices and other
    array-likes (lists, DataFrames) keep the NumPy/SciPy path.
    """
    if X is None or issparse(X) or isinstance(X, np.ndarray):
        return None
    if not hasattr(X, "__array_namespace__") and not hasattr(X, "__dlpack__"):
        return None
    xp, is_array_api, device = get_namespace_and_device(X)
    if not is_array_api or _is_numpy_namespace(xp):
        return None
    return xp, device


def _namespace(array):
    return get_namespace_and_device(array)[::2]


def to_host(array):
    """A NumPy copy (or view) of ``array``, whatever its namespace and device.

    Anything that is not an array (None, a list, a DataFrame) is returned as is.
    """
    if isinstance(array, np.ndarray) or not (
        hasattr(array, "__array_namespace__") or hasattr(array, "__dlpack__")
    ):
        return array
    return np.asarray(move_to(array, xp=np, device="cpu"))


def host_dtype(xp, dtype):
    """The NumPy float dtype matching ``dtype`` of namespace ``xp``."""
    return np.float32 if dtype == xp.float32 else np.float64


def accumulation_dtype(xp, device):
    """float64 where the device has it, for sums over many rows; else float32."""
    return _max_precision_float_dtype(xp, device)


def host_rows(X, idx=None):
    """Rows ``idx`` of ``X`` (all rows when None) as a NumPy array on the host.

    NumPy and sparse input are returned as they are (or ``X[idx]``); only
    Array API input is copied to the host.
    """
    namespace = array_api_namespace(X)
    if namespace is None:
        from ._solver.loop import _take_rows

        return X if idx is None else _take_rows(X, idx)
    xp, device = namespace
    if idx is not None:
        X = xp.take(X, xp.asarray(idx, device=device), axis=0)
    return to_host(X)


def sum_of_squares(array, dtype=None):
    """``sum(array ** 2)`` as a Python float, accumulated in ``dtype``.

    By default in float64 where the device has it. (The penalty is summed in
    the dtype of the parameters, as NumPy's ``einsum`` does.)
    """
    xp, device = _namespace(array)
    array = xp.astype(array, dtype or accumulation_dtype(xp, device))
    return float(xp.sum(array * array))


def total(array):
    """``array.sum()`` as a Python float, in the namespace of ``array``."""
    if isinstance(array, np.ndarray):
        return float(array.sum())
    xp, _ = _namespace(array)
    return float(xp.sum(array))


def eps(array):
    """Machine epsilon of the float dtype of ``array``."""
    xp, _ = _namespace(array)
    return float(xp.finfo(array.dtype).eps)


def copy(array):
    """A copy of ``array`` in its own namespace and on its device."""
    if isinstance(array, np.ndarray):
        return array.copy()
    xp, _ = _namespace(array)
    return xp.asarray(array, copy=True)


# --------------------------------------------------------------------- losses


def one_hot(y, n_classes, dtype, xp):
    """``Y[i, k] = 1[y_i = k]`` of shape (n_samples, n_classes), in ``dtype``."""
    classes = xp.arange(n_classes, dtype=y.dtype, device=y.device)
    return xp.astype(y[:, None] == classes, dtype)


def label_matrices(loss, y, n_classes, dtype, xp):
    """What the loss needs of the labels, as row-aligned matrices.

    The one-hot labels ``Y`` (the Array API standard has no fancy indexing),
    and for the hinge also its margin term ``delta * (1 - Y)``: computed once
    per epoch and sliced per minibatch, they save several device operations
    in every step.
    """
    Y = one_hot(y, n_classes, dtype, xp)
    if isinstance(loss, WestonWatkinsHinge):
        return Y, loss.delta - loss.delta * Y
    return (Y,)


def _loss_gradient(loss, labels, raw, sample_weight, xp):
    """The ``loss_gradient`` of :mod:`sklearn_linclf._loss` in ``xp``.

    ``labels`` are the :func:`label_matrices` of the batch. Returns the
    weighted sum of the losses (a 0-d array) and the *unweighted* score
    gradient. The score of the true class is ``sum(raw * Y)``: exact, every
    other term being a zero.
    """
    Y = labels[0]
    if isinstance(loss, WestonWatkinsHinge):
        true_score = xp.sum(raw * Y, axis=1)
        # The true class's margin term is 0: its "margin" is exactly 0.
        margins = (raw - true_score[:, None]) + labels[1]
        hinges = xp.clip(margins, min=0)
        if sample_weight is None:
            value = xp.sum(hinges)
        else:
            value = xp.sum(xp.sum(hinges, axis=1) * sample_weight)
        # ceil(clip(margins, 0, 1)) is the indicator 1[margins > 0] exactly, in
        # raw's dtype: two elementwise kernels, where array-api-compat's
        # `sign` and `astype` wrap theirs in costlier checks.
        grad = xp.ceil(xp.clip(margins, min=0, max=1))
        grad = grad - Y * xp.sum(grad, axis=1)[:, None]
    elif isinstance(loss, SoftmaxCrossEntropy):
        shifted = raw - xp.max(raw, axis=1, keepdims=True)
        proba = xp.exp(shifted)
        sum_exp = xp.sum(proba, axis=1)
        per_sample = xp.log(sum_exp) - xp.sum(shifted * Y, axis=1)
        if sample_weight is not None:
            per_sample = per_sample * sample_weight
        value = xp.sum(per_sample)
        grad = proba / sum_exp[:, None] - Y
    else:
        raise NotImplementedError(
            f"{type(loss).__name__} has no Array API implementation."
        )
    return value, grad


def params_gradient(
    objective,
    params,
    X,
    y,
    sample_weight,
    weight_sum,
    center=None,
    *,
    xp=None,
    labels=None,
    intercept_step=1.0,
):
    """:meth:`LinearObjective.params_gradient`, in the namespace of ``params``.

    Returns the data term as a 0-d array on the device (turning it into a
    Python float would wait for the device at every minibatch) and the
    gradient, a new array in the solver's layout, its intercept row multiplied
    by ``intercept_step``. ``xp`` (the namespace) and ``labels`` (see
    :func:`label_matrices`; ``y`` is then not read), when given, save
    computing them at every minibatch.
    """
    if xp is None:
        xp, _ = _namespace(params)
    if labels is None:
        labels = label_matrices(objective.loss, y, params.shape[1], params.dtype, xp)
    Wt, b = objective.split_params(params)
    if center is not None:
        b = b - center @ Wt
    # Both products with the small operand on the left: on PyTorch's CPU
    # backend several times faster than X @ Wt and X.T @ G.
    raw = (Wt.T @ X.T).T
    if b is not None:
        raw = raw + b
    value, G = _loss_gradient(objective.loss, labels, raw, sample_weight, xp)
    # Normalised by the weight sum so that an integer weight equals repeating
    # the row (as in LinearObjective.data_term).
    scale = 1.0 / float(weight_sum)
    value = value * scale
    if sample_weight is None:
        G = G * scale
    else:
        G = G * (sample_weight * scale)[:, None]
    grad_Wt = (G.T @ X).T + (2 * objective.alpha) * Wt
    if b is None:
        return value, grad_Wt
    grad_b = xp.sum(G, axis=0)
    if center is not None:
        grad_Wt = grad_Wt - center[:, None] * grad_b[None, :]
    if intercept_step != 1.0:
        grad_b = grad_b * intercept_step
    return value, xp.concat([grad_Wt, grad_b[None, :]], axis=0)


def softmax(raw, log=False):
    """Row-wise (log-)softmax of 2-D scores in their own namespace."""
    xp, _ = _namespace(raw)
    shifted = raw - xp.max(raw, axis=1, keepdims=True)
    if log:
        return shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))
    proba = xp.exp(shifted)
    return proba / xp.sum(proba, axis=1, keepdims=True)


# --------------------------------------------------------------------- solver


class ArrayAPIDenseStepper:
    """One update of all parameters per minibatch, in the namespace of ``X``.

    The counterpart of :class:`sklearn_linclf._solver.dense.DenseStepper`; the
    update rule applies in place with the operators every namespace has.
    """

    def __init__(self, objective, update_rule, state, xp):
        self.objective = objective
        self.update_rule = update_rule
        self.state = state
        self.xp = xp

    def step(self, X, labels, sample_weight, weight_sum, lr):
        """One update from the batch ``X`` with its :func:`label_matrices`."""
        state = self.state
        value, grad = params_gradient(
            self.objective,
            state.params,
            X,
            None,
            sample_weight,
            weight_sum,
            center=state.center,
            xp=self.xp,
            labels=labels,
            intercept_step=state.intercept_step,
        )
        self.update_rule.apply(state.params, grad, state.velocity, lr)
        return value


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
    """:func:`sklearn_linclf._solver.run_epoch` for Array API input.

    The same pass as the NumPy one (same rows in the same batches, the same
    draws from ``rng``, the same normalisers), with ``X``, ``y`` and
    ``sample_weight`` on the device. Per epoch, the order of the rows goes to
    the device once and the batch weights (for skipping all-zero batches) and
    the objective come back once; nothing crosses inside the loop.
    """
    xp, device = _namespace(X)
    from ._solver.loop import epoch_order  # the NumPy path's rows and draws

    n_samples = X.shape[0]
    full_batch = batch_size >= n_samples
    if not full_batch:
        order = epoch_order(n_samples, batch_size, shuffle, rng)
        order_device = xp.asarray(order, device=device)
        sw_ordered = xp.take(sample_weight, order_device)
        y = xp.take(y, order_device)
    else:
        sw_ordered = sample_weight
    # The labels in the epoch's order, sliced per batch.
    labels = label_matrices(objective.loss, y, state.params.shape[1], X.dtype, xp)
    stepper = ArrayAPIDenseStepper(objective, update_rule, state, xp)
    penalty = objective.penalty(objective.split_params(state.params)[0])
    if mean_weight is None:
        mean_weight = xp.mean(sample_weight)
    mean_weight = float(mean_weight)
    first = sample_weight[0] if n_samples else None
    equal_weight = float(first) if n_samples else 0.0
    if equal_weight <= 0 or not bool(xp.all(sample_weight == first)):
        equal_weight = None
    # All batch weights in one transfer: a batch of zero-weight rows is
    # skipped, as on the NumPy path.
    bounds = list(range(0, n_samples, batch_size)) + [n_samples]
    n_whole = n_samples // batch_size * batch_size
    sums = []
    if n_whole:
        sums.append(xp.sum(xp.reshape(sw_ordered[:n_whole], (-1, batch_size)), axis=1))
    if n_whole < n_samples:
        sums.append(xp.sum(sw_ordered[n_whole:])[None])
    batch_weights = to_host(xp.concat(sums)) if sums else np.zeros(0)
    # The batches' objectives stay on the device until the epoch ends.
    values, normalisers = [], []
    total_weight = 0.0
    for start, stop, batch_weight in zip(
        bounds[:-1], bounds[1:], batch_weights, strict=True
    ):
        if full_batch:
            X_b, labels_b, sw_b = X, labels, sample_weight
        else:
            X_b = take_rows(X, order_device[start:stop], xp)
            labels_b = tuple(matrix[start:stop, ...] for matrix in labels)
            sw_b = sw_ordered[start:stop]
        normaliser = (stop - start) * mean_weight
        lr = schedule(state.t, state.n_decays)
        if equal_weight is None:
            if batch_weight <= 0:
                continue  # a batch of zero-weight rows carries no information
            value = stepper.step(X_b, labels_b, sw_b, normaliser, lr)
        else:
            batch_weight = (stop - start) * equal_weight
            value = stepper.step(X_b, labels_b, None, normaliser / equal_weight, lr)
        state.t += 1
        values.append(value)
        normalisers.append(normaliser)
        total_weight += float(batch_weight)
    total = 0.0
    if values:
        # value * normaliser = sum of w_i L_i over the batch
        normalisers = xp.asarray(normalisers, dtype=X.dtype, device=device)
        total = float(xp.sum(xp.stack(values) * normalisers))
    return total / total_weight + penalty


def inner(a, b):
    """``<a, b>`` as a Python float, accumulated in float64 where possible."""
    xp, device = _namespace(a)
    dtype = accumulation_dtype(xp, device)
    return float(xp.sum(xp.astype(a, dtype) * xp.astype(b, dtype)))


# ------------------------------------------------------------ estimator glue


def feature_means(X, sample_weight, previous=None):
    """:meth:`BaseMinibatchClassifier._feature_means` on the device."""
    xp, device = _namespace(X)
    dtype = accumulation_dtype(xp, device)
    sums = xp.astype(X.T @ sample_weight, dtype)
    total = float(xp.sum(xp.astype(sample_weight, dtype)))
    if previous is not None:
        means, weight = previous
        weight = float(weight)
        sums = sums + weight * xp.astype(means, dtype)
        total += weight
    return xp.astype(sums / total, X.dtype)


def previous_params(coef, intercept, fit_intercept):
    """:meth:`BaseMinibatchClassifier._previous_params` in the namespace of coef."""
    xp, _ = _namespace(coef)
    W, b = coef, intercept
    if W.shape[0] == 1:
        # The binary collapse undone, as on the NumPy path.
        W = xp.concat([-W / 2, W / 2], axis=0)
        b = xp.concat([-b / 2, b / 2])
    if fit_intercept:
        W = xp.concat([W, b[:, None]], axis=1)
    return xp.asarray(W.T, copy=True)


def float_dtypes(namespace):
    """The ``dtype`` argument of ``validate_data`` for ``X``.

    float64 and float32 are kept, others converted to float64; on a device
    without float64 (``namespace = (xp, device)``) float32 is the only choice.
    """
    if namespace is None:
        return [np.float64, np.float32]
    xp, device = namespace
    if accumulation_dtype(xp, device) == xp.float32:
        return [xp.float32]
    return [xp.float64, xp.float32]


def host_proxy(X):
    """``X`` itself, or for Array API input an empty host array of its shape.

    What validation of the sample weights needs of ``X``: its number of rows
    and its dtype, as a NumPy array (the weights are validated on the host).
    """
    namespace = array_api_namespace(X)
    if namespace is None:
        return X
    return np.empty((X.shape[0], 0), dtype=host_dtype(namespace[0], X.dtype))


def to_device(namespace, *arrays):
    """Host arrays moved to ``namespace = (xp, device)`` (one copy each)."""
    xp, device = namespace
    return tuple(xp.asarray(a, device=device) for a in arrays)


def take_rows(X, idx, xp=None):
    """Rows ``idx`` of Array API ``X``: non-negative indices, on host or device.

    PyTorch tensors are gathered by their own ``index_select``: the
    array-api-compat ``take`` also maps negative indices, two more device
    operations per call, a tenth of a minibatch step on the CPU.
    """
    if xp is None:
        xp, device = _namespace(X)
        idx = xp.asarray(idx, device=device)
    if hasattr(X, "index_select"):
        return X.index_select(0, idx)
    return xp.take(X, idx, axis=0)


def squared_row_norms(X):
    """Squared norms of the rows of Array API ``X``, as a host array.

    Through ``vector_norm``, a reduction that PyTorch runs without the
    temporary of ``X`` that ``vecdot`` makes (15 times faster on the CPU).
    """
    xp, _ = _namespace(X)
    return to_host(xp.linalg.vector_norm(X, axis=1) ** 2)


def zeros_like_row(params):
    """Zeros of shape ``(params.shape[1],)`` in the namespace of ``params``."""
    xp, device = _namespace(params)
    return xp.zeros(params.shape[1], dtype=params.dtype, device=device)


def make_state(shape, X, update_rule, params=None, *, velocity=None, t=0, n_decays=0):
    """A solver state in the namespace and on the device of ``X``.

    ``params`` (default: zeros of ``shape``) and ``velocity`` (default: zeros
    with momentum, none without) are copied.
    """
    from ._solver import make_state

    xp, device = _namespace(X)

    def new(array):
        if array is None:
            return xp.zeros(shape, dtype=X.dtype, device=device)
        return xp.asarray(array, dtype=X.dtype, device=device, copy=True)

    params = new(params)
    velocity = new(velocity) if update_rule.momentum > 0 else None
    return make_state(params, update_rule, velocity=velocity, t=t, n_decays=n_decays)


def accuracy_scorer(objective, X_val, y_val, sw_val):
    """The weighted validation accuracy of early stopping, on the device.

    ``y_val`` and ``sw_val`` are host arrays, moved to the device once.
    """
    xp, device = _namespace(X_val)
    y_val, sw_val = to_device((xp, device), y_val, sw_val)
    sw_total = float(xp.sum(sw_val))

    def validation(params):
        pred = xp.argmax(objective.raw_prediction(params.T, X_val), axis=1)
        correct = xp.where(pred == y_val, sw_val, xp.zeros_like(sw_val))
        return float(xp.sum(correct)) / sw_total

    return validation
