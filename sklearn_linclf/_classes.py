"""The public estimators: a loss, a docstring and, for softmax, probabilities."""

from numbers import Real

from sklearn.utils._param_validation import Interval

from . import _array_api as aa
from ._base import BaseMinibatchClassifier
from ._loss import SoftmaxCrossEntropy, WestonWatkinsHinge, log_softmax, softmax

_SHARED_PARAMETERS = """
    alpha : float, default=1e-4
        Strength of the L2 penalty ``alpha * ||W||_F^2`` (no 1/2; the
        intercept is not penalised). Must be >= 0. ``SGDClassifier``'s
        ``alpha`` is ``2 * alpha``; ``LogisticRegression``'s ``C`` is
        ``1 / (2 * n_samples * alpha)``.

    fit_intercept : bool, default=True
        Whether to learn an (unpenalised) intercept ``b``.

    batch_size : int or "auto", default="auto"
        Rows per minibatch. ``"auto"`` is ``min(256, n_samples)``: large
        enough for efficient matrix products and several updates per epoch on
        mid-sized data. When a batch covers all rows, the softmax's ``fit``
        (with the ``"adaptive"`` schedule and no ``early_stopping``)
        minimises the exact objective by accelerated gradient descent with a
        backtracking step and adaptive restart, which converges linearly; the
        hinge, not smooth, takes full-batch gradient steps. Either way an
        integer sample weight equals repeating the row exactly.

    max_iter : int, default=1000
        Maximum number of epochs (passes over the data). Must be >= 1.

    tol : float or None, default=1e-3
        An epoch "improves" when the monitored quantity beats the best so far
        by more than ``tol`` times its scale: the training objective by more
        than ``tol`` times the objective of the all-zero model
        (``log(n_classes)`` for the softmax, ``(n_classes - 1) * delta`` for
        the hinge), or, with ``early_stopping``, the validation accuracy by
        more than ``tol``. Both are scale-free: the rule stops when further
        epochs no longer change the model materially, not when the objective
        stops creeping down. ``None`` runs all ``max_iter`` epochs. When a
        batch covers the data (softmax ``fit`` only), the problem is
        deterministic and an accelerated full-batch method replaces the
        epochs: it stops
        when a further gradient step would lower the objective by less than
        ``tol / 1000`` of it (``max_iter`` then counts its iterations).

    n_iter_no_change : int, default=2
        Epochs without improvement before the step shrinks
        (``learning_rate="adaptive"``) or training stops (other schedules).
        The wait also spans at least 50 updates, so that on small data, where
        an epoch holds few updates, one oscillation of the momentum does not
        end training.

    learning_rate : {"adaptive", "constant", "invscaling"}, default="adaptive"
        Step-size schedule. ``"constant"``: ``learning_rate_init`` throughout.
        ``"invscaling"``: ``learning_rate_init / (t + 1) ** power_t`` with
        ``t`` the number of updates. ``"adaptive"``: constant until
        ``n_iter_no_change`` epochs fail to improve, then divided by 5; after
        three such divisions training stops. The default needs no tuning: the
        constant phase makes fast progress and each division shrinks the
        minibatch noise, which is what a fixed budget of epochs wants.

    learning_rate_init : float or "auto", default="auto"
        Step size of ``W``, > 0. ``"auto"`` derives it from the curvature a
        minibatch update sees: ``lambda``, the largest eigenvalue of the
        weighted Gram matrix ``X_bᵀ D X_b / sum(w_b)`` of a minibatch of the
        centred features, estimated by a few power iterations on three random
        batches (the Gram matrix is never formed; this costs a small fraction
        of an epoch). The step is ``1 / (rho * lambda / 2 + 2 * alpha)`` for
        the softmax (the inverse of a bound on its curvature) and ``delta /
        (rho * lambda + 2 * alpha * delta)`` for the hinge, which has no
        curvature: this step moves a margin by about ``delta``, the same
        scale-free rule. ``rho``, between 1 and 2, measures how much the
        intercept couples with the features. The intercept takes its own step,
        ``2 / rho`` (softmax) or ``delta / rho`` (hinge), also with an explicit
        ``learning_rate_init`` (then scaled alike). The features are centred
        implicitly: the solver works with ``(X - mean) W^T + b'``, which has
        the same minimiser but removes the mean direction from the curvature
        (``X`` is not changed, and sparse ``X`` stays sparse).

    power_t : float, default=0.5
        Exponent of the ``"invscaling"`` schedule, >= 0.

    momentum : float or "auto", default="auto"
        Momentum of the updates, in [0, 1). 0 is plain gradient descent.
        ``"auto"`` is 0.9 when an epoch holds fewer than 20 minibatches (small
        data, where the descent is nearly deterministic and momentum speeds
        it up) and 0 otherwise (many noisy minibatches, which momentum would
        amplify; on sparse input it would also double the state each step
        reads and writes).

    nesterovs_momentum : bool, default=True
        Use Nesterov's momentum instead of heavy-ball momentum.

    early_stopping : bool, default=False
        Hold out a stratified ``validation_fraction`` of the training data,
        monitor its accuracy instead of the training objective, and keep the
        coefficients of the best epoch.

    validation_fraction : float, default=0.1
        Fraction held out for early stopping, in (0, 1).

    shuffle : bool, default=True
        Shuffle the order of the rows (indices only; the data is not copied)
        before each epoch.

    random_state : int, RandomState instance or None, default=None
        Seeds the shuffling and the validation split. An int makes ``fit``
        exactly repeatable.

    class_weight : dict, "balanced" or None, default=None
        Weights per class, multiplied into ``sample_weight``. ``"balanced"``
        uses ``n_samples / (n_classes * np.bincount(y))`` (``fit`` only).

    warm_start : bool, default=False
        Start ``fit`` from the previous ``coef_`` and ``intercept_`` (the
        classes must be the same) instead of zeros.

    verbose : int, default=0
        Print the objective, the step size and the elapsed time each epoch.
"""

_ATTRIBUTES = """
    Attributes
    ----------
    coef_ : ndarray of shape (n_classes, n_features) or (1, n_features)
        ``W``. For two classes one row, the weights of ``classes_[1]`` minus
        those of ``classes_[0]``, as in scikit-learn's linear classifiers.
        float32 when trained on float32 data.

    intercept_ : ndarray of shape (n_classes,) or (1,)
        ``b`` (zeros without ``fit_intercept``), collapsed likewise.

    classes_ : ndarray of shape (n_classes,)
        Class labels.

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when ``X`` had string column names.

    n_iter_ : int
        Epochs run (by ``fit``; each ``partial_fit`` call adds one).

    t_ : int
        Parameter updates (minibatch steps) made.

    loss_curve_ : list of float
        Objective per epoch: the weight-averaged objective of its minibatches.

    best_loss_ : float
        Smallest value in ``loss_curve_``.

    validation_scores_ : list of float or None
        Validation accuracy per epoch with ``early_stopping``, else None.

    best_validation_score_ : float or None
        Best validation accuracy with ``early_stopping``, else None.
"""


class HingeClassifier(BaseMinibatchClassifier):
    __doc__ = (
        """Multiclass linear SVM with the Weston–Watkins hinge, by minibatch descent.

    Minimises over ``W`` (n_classes × n_features) and ``b`` (n_classes,)::

        (1 / sum_i w_i) sum_i w_i sum_{j != y_i} max(0, s_ij - s_iy_i + delta)
            + alpha * ||W||_F^2,        s_i = W x_i + b

    the Weston–Watkins ("sum of hinges", CS231n) loss with margin ``delta`` —
    not the Crammer–Singer max-hinge — with sample weights ``w_i``. It is one
    joint multiclass model, not one-vs-rest.

    Parameters
    ----------
    delta : float, default=1.0
        The margin Δ, > 0. The minimiser for ``(delta, alpha)`` is ``delta``
        times the minimiser for ``(1, alpha * delta)``, with the same
        predictions: tuning both is redundant, tune ``alpha`` first.
"""
        + _SHARED_PARAMETERS
        + _ATTRIBUTES
        + """
    See Also
    --------
    SoftmaxClassifier : Multinomial logistic regression on the same solver.
    sklearn.linear_model.SGDClassifier : One-vs-rest linear models by SGD.
    sklearn.svm.LinearSVC : Crammer–Singer multiclass SVM (fixed margin).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_linclf import HingeClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(), HingeClassifier(random_state=0))
    >>> clf.fit(X, y).score(X, y) > 0.9
    True
    """
    )

    _parameter_constraints: dict = {
        **BaseMinibatchClassifier._parameter_constraints,
        "delta": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        *,
        delta=1.0,
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
        super().__init__(
            alpha=alpha,
            fit_intercept=fit_intercept,
            batch_size=batch_size,
            max_iter=max_iter,
            tol=tol,
            n_iter_no_change=n_iter_no_change,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            shuffle=shuffle,
            random_state=random_state,
            class_weight=class_weight,
            warm_start=warm_start,
            verbose=verbose,
        )
        self.delta = delta

    def _get_loss(self):
        return WestonWatkinsHinge(self.delta)


class SoftmaxClassifier(BaseMinibatchClassifier):
    __doc__ = (
        """Multinomial logistic regression by minibatch gradient descent.

    Minimises over ``W`` (n_classes × n_features) and ``b`` (n_classes,)::

        (1 / sum_i w_i) sum_i w_i (log sum_j exp(s_ij) - s_iy_i)
            + alpha * ||W||_F^2,        s_i = W x_i + b

    the softmax cross-entropy with sample weights ``w_i``: the objective of
    ``LogisticRegression(C=1 / (2 * n_samples * alpha))``, reached by minibatch
    steps, so it supports ``partial_fit`` and streams.

    Parameters
    ----------
"""
        + _SHARED_PARAMETERS
        + _ATTRIBUTES
        + """
    See Also
    --------
    HingeClassifier : Weston–Watkins multiclass SVM on the same solver.
    sklearn.linear_model.LogisticRegression : Full-batch solvers.
    sklearn.linear_model.SGDClassifier : One-vs-rest linear models by SGD.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_linclf import SoftmaxClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(), SoftmaxClassifier(random_state=0))
    >>> clf.fit(X, y).predict_proba(X[:1]).shape
    (1, 3)
    """
    )

    def _get_loss(self):
        return SoftmaxCrossEntropy()

    def predict_proba(self, X):
        """Class probabilities, the softmax of the scores.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities in the order of ``classes_``; rows sum to 1.
        """
        aa.check_same_namespace(X, self, attribute="coef_", method="predict_proba")
        scores = self._raw_scores_2d(X)
        if aa.array_api_namespace(scores) is not None:
            return aa.softmax(scores)
        return softmax(scores)

    def predict_log_proba(self, X):
        """Logarithm of the class probabilities, without overflow.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probabilities in the order of ``classes_``.
        """
        aa.check_same_namespace(
            X, self, attribute="coef_", method="predict_log_proba"
        )
        scores = self._raw_scores_2d(X)
        if aa.array_api_namespace(scores) is not None:
            return aa.softmax(scores, log=True)
        return log_softmax(scores)
