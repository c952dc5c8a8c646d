"""Shared estimator skeleton: validation, label encoding, fit and partial_fit.

The estimators hold no math: they validate input, encode labels, build the
objective (:mod:`._objective`) from their loss (:mod:`._loss`), hand it to the
solver (:mod:`._solver`) and store what comes back. Attributes are written
only after the solver has succeeded, so a failed ``fit`` or ``partial_fit``
(bad chunk, divergence, ``KeyboardInterrupt``) leaves a fitted model as it was.
"""

import warnings
from abc import ABCMeta, abstractmethod
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
from scipy.sparse import issparse
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state, compute_class_weight
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import row_norms
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from . import __version__
from . import _array_api as aa
from ._objective import LinearObjective
from ._solver import (
    Curvature,
    MomentumUpdate,
    estimate_curvature,
    make_schedule,
    make_state,
    solve,
    zero_state,
)

# Rows per minibatch for batch_size="auto". Large enough for efficient matrix
# products, small enough for several updates per epoch on mid-sized data; data
# with fewer rows is trained full-batch, where weights and repeated rows are
# exactly equivalent.
AUTO_BATCH_SIZE = 256

# momentum="auto": momentum speeds up a nearly deterministic descent (few,
# large batches per epoch), but where an epoch holds many small batches their
# noise dominates and momentum mostly amplifies it (and on sparse input it
# doubles the state each step reads and writes). Measured by time to accuracy
# on digits and on the benchmark's dense and sparse sets.
AUTO_MOMENTUM = 0.9
MOMENTUM_MAX_UPDATES = 20

# Set by input validation before anything can fail; restored on failure.
_INPUT_ATTRIBUTES = ("n_features_in_", "feature_names_in_")


class BaseMinibatchClassifier(LinearClassifierMixin, BaseEstimator, metaclass=ABCMeta):
    """Base class of the minibatch linear classifiers; not for direct use."""

    _parameter_constraints: dict = {
        "alpha": [Interval(Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [
            StrOptions({"auto"}),
            Interval(Real, 0, None, closed="neither"),
        ],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "momentum": [StrOptions({"auto"}), Interval(Real, 0, 1, closed="left")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        alpha=1e-4,
        fit_intercept=True,
        batch_size="auto",
        max_iter=1000,
        tol=1e-3,
        n_iter_no_change=2,
        learning_rate="adaptive",
        learning_rate_init="auto",
        power_t=0.5,
        momentum="auto",
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        shuffle=True,
        random_state=None,
        class_weight=None,
        warm_start=False,
        verbose=0,
    ):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.shuffle = shuffle
        self.random_state = random_state
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.verbose = verbose

    @abstractmethod
    def _get_loss(self):
        """The score-space loss (an object of :mod:`sklearn_linclf._loss`)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.array_api_support = True
        return tags

    # ------------------------------------------------------------------ helpers

    def _objective(self):
        return LinearObjective(self._get_loss(), self.alpha, self.fit_intercept)

    def _update_rule(self, n_samples, streaming=False):
        momentum = self.momentum
        if momentum == "auto" and streaming:
            momentum = 0.0  # a stream of chunks is noisy, however small each
        elif momentum == "auto":
            updates_per_epoch = -(-n_samples // self._batch_size(n_samples))
            momentum = (
                AUTO_MOMENTUM if updates_per_epoch < MOMENTUM_MAX_UPDATES else 0.0
            )
        return MomentumUpdate(momentum, self.nesterovs_momentum)

    def _batch_size(self, n_samples):
        if self.batch_size == "auto":
            return min(AUTO_BATCH_SIZE, n_samples)
        return min(self.batch_size, n_samples)

    def _feature_means(self, X, sample_weight, previous=None):
        """Weighted means of the features, the solver's centre (None without intercept).

        ``previous = (means, weight)`` of the rows seen before (partial_fit):
        the result is the running mean of all rows seen.
        """
        if not self.fit_intercept:
            return None
        if aa.array_api_namespace(X) is not None:
            return aa.feature_means(X, sample_weight, previous)
        total = float(sample_weight.sum())
        sums = np.asarray(X.T @ sample_weight, dtype=np.float64).ravel()
        if previous is not None:
            means, weight = previous
            sums += weight * means
            total += weight
        return (sums / total).astype(X.dtype)

    def _initial_steps(self, X, sample_weight, center):
        """``(step of W, step of b relative to it)`` for the solver.

        The intercept's relative step is always derived from the data (it is a
        fixed diagonal preconditioner); the step of ``W`` is
        ``learning_rate_init``, or with ``"auto"`` the inverse of the curvature
        a minibatch update sees (see :func:`._solver.estimate_curvature`).
        ``sample_weight`` is a NumPy array, also for Array API ``X`` (whose
        norms and sampled batches are then brought to the host).
        """
        if aa.array_api_namespace(X) is None:
            sq_norms = row_norms(X, squared=True)
        else:
            sq_norms = aa.squared_row_norms(X)
            center = aa.to_host(center)
        if not np.isfinite(sq_norms.sum()):
            raise ValueError(
                "The squared norms of the rows of X overflow float64; scale the "
                "features (for example with StandardScaler)."
            )
        curvature = estimate_curvature(
            X,
            sample_weight,
            self._batch_size(X.shape[0]),
            center=center,
            fit_intercept=self.fit_intercept,
        )
        if not curvature.coef > 0:
            # No spread in the data seen (one row, or constant features): no
            # curvature to measure. Fall back on one step for W and b from the
            # bound ``mean ||(x, 1)||^2`` on the curvature of any row, which
            # stays safe whatever rows come later.
            mean_sq_norm = float(np.average(sq_norms, weights=sample_weight))
            curvature = Curvature(mean_sq_norm + float(self.fit_intercept))
            step_W, _ = self._get_loss().default_steps(curvature, self.alpha)
            step_b = step_W
        else:
            step_W, step_b = self._get_loss().default_steps(curvature, self.alpha)
        if self.learning_rate_init != "auto":
            return float(self.learning_rate_init), step_b / step_W
        return step_W, step_b / step_W

    def _validate_sample_weight(self, X, y_idx, sample_weight, classes):
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=X.dtype, ensure_non_negative=True
        )
        if not np.isfinite(sample_weight).all():
            raise ValueError("sample_weight contains NaN or infinity.")
        if isinstance(self.class_weight, dict):
            known = set(classes.tolist())
            unknown = [c for c in self.class_weight if c not in known]
            if unknown:
                raise ValueError(
                    f"class_weight names labels that are not classes: {unknown}; "
                    f"the classes are {classes.tolist()}."
                )
            values = np.asarray(list(self.class_weight.values()), dtype=float)
            if not (np.isfinite(values).all() and (values >= 0).all()):
                raise ValueError(
                    "class_weight values must be finite and non-negative; got "
                    f"{self.class_weight!r}."
                )
        if self.class_weight is not None:
            class_weight = compute_class_weight(
                self.class_weight, classes=classes, y=classes[y_idx]
            ).astype(X.dtype, copy=False)
            sample_weight = sample_weight * class_weight[y_idx]
        return sample_weight

    def _rescale_weights(self, sample_weight, first):
        """Weights in the model's own scale, and the running weight statistics.

        The objective does not depend on the scale of the weights; dividing by
        the largest weight of the first call keeps sums finite (1e307 each) and
        away from subnormals. Later partial_fit chunks use the same divisor, so
        that their weights keep their size relative to earlier chunks. A new
        array: the user's sample_weight is never written to.
        """
        scale = sample_weight.max() if first else self._weight_scale
        sample_weight = sample_weight / scale
        n_seen = sample_weight.shape[0] + (0 if first else self._n_seen)
        weight_seen = sample_weight.sum() + (0.0 if first else self._weight_seen)
        return sample_weight, (scale, n_seen, weight_seen)

    def _previous_params(self, n_classes, dtype):
        """Coefficients of the previous fit in the solver's layout."""
        namespace = aa.array_api_namespace(self.coef_)
        if namespace is not None:
            xp, _ = namespace
            return aa.previous_params(
                xp.astype(self.coef_, dtype),
                xp.astype(self.intercept_, dtype),
                self.fit_intercept,
            )
        W = np.asarray(self.coef_, dtype=dtype)
        b = np.asarray(self.intercept_, dtype=dtype)
        if n_classes == 2:
            # Both losses depend on s_1 - s_0 only, and from an antisymmetric
            # start every gradient is antisymmetric: (-c/2, c/2) continues the
            # exact trajectory that produced the collapsed c = W_1 - W_0.
            W = np.vstack([-W / 2, W / 2])
            b = np.concatenate([-b / 2, b / 2])
        if self.fit_intercept:
            W = np.hstack([W, b[:, None]])
        return np.ascontiguousarray(W.T)

    def _store(self, objective, params):
        W, b = objective.split(params.T)
        if b is None and isinstance(params, np.ndarray):
            b = np.zeros(params.shape[1], dtype=params.dtype)
        elif b is None:
            b = aa.zeros_like_row(params)
        if params.shape[1] == 2:
            # scikit-learn's binary convention: one row, the score of classes_[1]
            # minus that of classes_[0].
            self.coef_ = W[1:, ...] - W[:1, ...]
            self.intercept_ = b[1:] - b[:1]
        else:
            # A transposed view of the solver's layout: no copy of a large W.
            self.coef_ = W
            self.intercept_ = aa.copy(b)

    def _warn_if_not_converged(self, result):
        if not result.converged and self.tol is not None:
            warnings.warn(
                f"{type(self).__name__} stopped after max_iter={self.max_iter} "
                "epochs before the objective stopped improving by tol; increase "
                "max_iter, or scale the features.",
                ConvergenceWarning,
                stacklevel=3,
            )

    # -------------------------------------------------------------------- fit

    @contextmanager
    def _unchanged_on_failure(self):
        """Undo what input validation set if the call then fails.

        Everything else is assigned only after the solver has succeeded.
        """
        saved = {k: self.__dict__[k] for k in _INPUT_ATTRIBUTES if k in self.__dict__}
        try:
            yield
        except BaseException:
            for name in _INPUT_ATTRIBUTES:
                self.__dict__.pop(name, None)
            self.__dict__.update(saved)
            raise

    def __sklearn_is_fitted__(self):
        return hasattr(self, "coef_")

    def __getstate__(self):
        state = super().__getstate__()
        state["_sklearn_linclf_version"] = __version__
        return state

    def __setstate__(self, state):
        version = state.pop("_sklearn_linclf_version", None)
        if version != __version__:
            warnings.warn(
                f"This {type(self).__name__} was pickled by sklearn_linclf "
                f"{version} and is loaded by {__version__}; models are only "
                "promised to load with the version that saved them. Refit it.",
                UserWarning,
                stacklevel=2,
            )
        super().__setstate__(state)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model by minibatch gradient descent.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. float32 data is trained in float32; CSC and COO
            input is converted to CSR once.
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; multiplied by ``class_weight``. An integer
            weight is equivalent to repeating the row: exactly when a batch
            covers the data, in expectation over minibatches otherwise.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        with self._unchanged_on_failure():
            return self._fit(X, y, sample_weight)

    def _fit(self, X, y, sample_weight):
        continuing = self.warm_start and hasattr(self, "coef_")
        namespace = aa.array_api_namespace(X)
        if namespace is not None:
            # Labels and weights are encoded and validated on the host; they
            # go to the device once, below.
            y, sample_weight = aa.to_host(y), aa.to_host(sample_weight)
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse="csr",
            dtype=aa.float_dtypes(namespace),
            reset=not continuing,
        )
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        classes, y_idx = encoder.classes_, encoder.transform(y)
        sample_weight = self._validate_sample_weight(
            aa.host_proxy(X), y_idx, sample_weight, classes
        )
        sample_weight, weight_stats = self._rescale_weights(sample_weight, first=True)
        present = np.unique(y_idx[sample_weight > 0])
        if present.size < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes with "
                f"positive weight; got {present.size} class: "
                f"{classes[present].tolist()}."
            )
        n_classes, n_features = classes.size, X.shape[1]
        objective = self._objective()
        rng = check_random_state(self.random_state)

        if continuing:
            if not np.array_equal(self.classes_, classes):
                raise ValueError(
                    "warm_start needs the same classes as the previous fit: "
                    f"had {self.classes_.tolist()}, got {classes.tolist()}."
                )
            params = self._previous_params(n_classes, X.dtype)
        else:
            params = None  # all zeros, allocated with the solver state

        validation = None
        if self.early_stopping:
            train, val = train_test_split(
                np.arange(X.shape[0]),
                test_size=self.validation_fraction,
                stratify=y_idx,
                random_state=rng,
            )
            X_val = X[val] if namespace is None else aa.take_rows(X, val)
            y_val, sw_val = y_idx[val], sample_weight[val]
            if not sw_val.sum() > 0:
                raise ValueError(
                    "early_stopping=True needs validation samples of positive "
                    f"weight; the validation_fraction={self.validation_fraction} "
                    "split holds only zero-weight samples. Use a larger "
                    "validation_fraction or early_stopping=False."
                )
            if namespace is None:
                X, y_idx, sample_weight = X[train], y_idx[train], sample_weight[train]

                def validation(params):
                    pred = objective.raw_prediction(params.T, X_val).argmax(axis=1)
                    return float(np.average(pred == y_val, weights=sw_val))

            else:
                X = aa.take_rows(X, train)
                y_idx, sample_weight = y_idx[train], sample_weight[train]
                validation = aa.accuracy_scorer(objective, X_val, y_val, sw_val)

        update_rule = self._update_rule(X.shape[0])
        sw_host = sample_weight
        if namespace is not None:
            y_idx, sample_weight = aa.to_device(namespace, y_idx, sample_weight)
        center = self._feature_means(X, sample_weight)
        eta0, intercept_step = self._initial_steps(X, sw_host, center)
        if namespace is not None:
            state = aa.make_state(
                (objective.n_params(n_features), n_classes), X, update_rule, params
            )
        elif params is None:
            state = zero_state(
                (objective.n_params(n_features), n_classes),
                X.dtype,
                update_rule,
                interleave=issparse(X),
            )
        else:
            state = make_state(params, update_rule, interleave=issparse(X))
        del params  # the state may hold a copy
        state.center, state.intercept_step = center, intercept_step
        result = solve(
            objective,
            state,
            X,
            y_idx,
            sample_weight,
            batch_size=self._batch_size(X.shape[0]),
            max_iter=self.max_iter,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            shuffle=self.shuffle,
            rng=rng,
            update_rule=update_rule,
            schedule=make_schedule(self.learning_rate, eta0, self.power_t),
            validation=validation,
            verbose=self.verbose,
            deterministic=True,
        )

        self.classes_ = classes
        self._store(objective, state.params)
        self.n_iter_ = result.n_iter
        self.t_ = state.t
        self.loss_curve_ = result.loss_curve
        self.best_loss_ = result.best_loss
        self.validation_scores_ = result.validation_scores if validation else None
        self.best_validation_score_ = result.best_validation_score
        self._store_solver_state(state, eta0, weight_stats)
        self._warn_if_not_converged(result)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Make one pass of minibatch updates over one chunk of data.

        The step-size schedule, the momentum and the update count ``t_``
        continue from the previous call; the ``"adaptive"`` schedule does not
        shrink its step here (a single chunk says nothing about a plateau), and
        no stopping rule applies.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            One chunk of training data.
        y : array-like of shape (n_samples,)
            Labels of the chunk; each must be one of ``classes``.
        classes : array-like of shape (n_classes,), default=None
            All the classes that will ever be seen. Required on the first
            call, ignored (but checked) on later calls.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the chunk's rows.

        Returns
        -------
        self : object
            The updated estimator.
        """
        with self._unchanged_on_failure():
            return self._partial_fit(X, y, classes, sample_weight)

    def _partial_fit(self, X, y, classes, sample_weight):
        first_call = not hasattr(self, "classes_")
        if first_call:
            if classes is None:
                raise ValueError(
                    "classes must be passed on the first call to partial_fit."
                )
            all_classes = np.unique(np.asarray(classes))
            if all_classes.size < 2:
                raise ValueError(
                    f"partial_fit needs at least 2 classes; got classes={classes!r}."
                )
        else:
            all_classes = self.classes_
            if classes is not None and not np.array_equal(
                self.classes_, np.unique(np.asarray(classes))
            ):
                raise ValueError(
                    f"classes={classes!r} differs from the classes of the first "
                    f"call, {self.classes_.tolist()}."
                )
        if self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' is not supported by partial_fit: one "
                "chunk does not show the class frequencies. Compute them once "
                "with sklearn.utils.class_weight.compute_class_weight and pass "
                "class_weight as a dict."
            )
        namespace = aa.array_api_namespace(X)
        if namespace is not None:
            y, sample_weight = aa.to_host(y), aa.to_host(sample_weight)
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse="csr",
            dtype=aa.float_dtypes(namespace),
            reset=first_call,
        )
        check_classification_targets(y)
        unseen = np.setdiff1d(y, all_classes)
        if unseen.size:
            raise ValueError(
                f"y contains labels not in classes: {unseen.tolist()}; all "
                f"classes must be given on the first call, {all_classes.tolist()}."
            )
        y_idx = np.searchsorted(all_classes, y)
        sample_weight = self._validate_sample_weight(
            aa.host_proxy(X), y_idx, sample_weight, all_classes
        )
        sample_weight, weight_stats = self._rescale_weights(
            sample_weight, first=not hasattr(self, "_weight_scale")
        )
        sw_host = sample_weight
        if namespace is not None:
            y_idx, sample_weight = aa.to_device(namespace, y_idx, sample_weight)
        n_classes = all_classes.size
        objective = self._objective()
        update_rule = self._update_rule(X.shape[0], streaming=True)
        previous = getattr(self, "_center", None)
        if previous is not None and previous.shape == (X.shape[1],):
            previous = (previous, self._weight_seen)
        else:
            previous = None
        center = self._feature_means(X, sample_weight, previous)
        if first_call:
            eta0, intercept_step = self._initial_steps(X, sw_host, center)
            if namespace is not None:
                state = aa.make_state(
                    (objective.n_params(X.shape[1]), n_classes), X, update_rule
                )
            else:
                state = zero_state(
                    (objective.n_params(X.shape[1]), n_classes),
                    X.dtype,
                    update_rule,
                    interleave=issparse(X),
                )
        else:
            params = self._previous_params(n_classes, X.dtype)
            # An "auto" step is derived once, from the first data seen; an
            # explicit learning_rate_init set since then takes effect.
            if hasattr(self, "_intercept_step"):
                eta0, intercept_step = self._eta0, self._intercept_step
            else:
                eta0, intercept_step = self._initial_steps(X, sw_host, center)
            if self.learning_rate_init != "auto":
                eta0 = float(self.learning_rate_init)
            velocity = getattr(self, "_velocity", None)
            if velocity is None or velocity.shape != params.shape:
                velocity = None
            elif namespace is None:
                velocity = velocity.astype(X.dtype, copy=True)
            if namespace is not None:
                state = aa.make_state(
                    params.shape,
                    X,
                    update_rule,
                    params,
                    velocity=velocity,
                    t=self.t_,
                    n_decays=getattr(self, "_n_decays", 0),
                )
            else:
                state = make_state(
                    params,
                    update_rule,
                    velocity=velocity,
                    t=self.t_,
                    n_decays=getattr(self, "_n_decays", 0),
                    interleave=issparse(X),
                )
        state.center, state.intercept_step = center, intercept_step
        n_calls = 1 if first_call else self.n_iter_ + 1
        # One pass, no stopping rule: solve() with a single epoch.
        result = solve(
            objective,
            state,
            X,
            y_idx,
            sample_weight,
            batch_size=self._batch_size(X.shape[0]),
            max_iter=1,
            tol=None,
            n_iter_no_change=self.n_iter_no_change,
            shuffle=self.shuffle,
            rng=self._chunk_rng(),
            update_rule=update_rule,
            schedule=make_schedule(self.learning_rate, eta0, self.power_t),
            verbose=self.verbose,
            pass_label=lambda _: f"partial_fit call {n_calls}",
            # Relative to the whole stream so far, so that a chunk's weights
            # keep their size relative to other chunks.
            mean_weight=weight_stats[2] / weight_stats[1],
        )
        loss = result.loss_curve[0]

        self.classes_ = all_classes
        self._store(objective, state.params)
        self.n_iter_ = n_calls
        self.t_ = state.t
        self.loss_curve_ = ([] if first_call else self.loss_curve_) + [loss]
        self.best_loss_ = min(loss, getattr(self, "best_loss_", np.inf))
        if first_call:
            self.validation_scores_ = None
            self.best_validation_score_ = None
        self._store_solver_state(state, eta0, weight_stats)
        return self

    def _store_solver_state(self, state, eta0, weight_stats):
        """What a later partial_fit call continues from (private attributes)."""
        self._eta0, self._intercept_step = eta0, state.intercept_step
        self._velocity, self._n_decays = state.velocity, state.n_decays
        self._center = state.center
        self._weight_scale, self._n_seen, self._weight_seen = weight_stats

    def _chunk_rng(self):
        """Shuffling for one partial_fit call.

        With an int seed, each call after the first gets its own stream derived
        from the seed and the update count, so consecutive chunks are not
        shuffled alike, and a replay of the same calls is exactly repeatable.
        The first call shuffles as the first epoch of ``fit`` does.
        """
        t = getattr(self, "t_", 0)
        if isinstance(self.random_state, Integral) and t > 0:
            return np.random.RandomState([self.random_state, t % 2**32])
        return check_random_state(self.random_state)

    def _raw_scores_2d(self, X):
        """Scores with one column per class (the binary case expanded)."""
        check_is_fitted(self)
        scores = self.decision_function(X)
        namespace = aa.array_api_namespace(scores)
        if scores.ndim == 1 and namespace is None:
            scores = np.column_stack([np.zeros_like(scores), scores])
        elif scores.ndim == 1:
            xp, _ = namespace
            scores = xp.stack([xp.zeros_like(scores), scores], axis=1)
        return scores
