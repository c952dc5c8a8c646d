"""
Training curves: schedules and batch sizes
==========================================

``loss_curve_`` records the objective after every epoch. This example trains
:class:`~sklearn_linclf.SoftmaxClassifier` on the digits with different
step-size schedules and batch sizes and compares the curves with the exact
minimum of the same objective, which ``LogisticRegression`` finds with a
full-batch quasi-Newton solver when ``C = 1 / (2 * n_samples * alpha)``.

Each point of ``loss_curve_`` is the weight-averaged objective of the epoch's
minibatches, each taken at the coefficients of its own update, so a curve can
dip slightly below the minimum while the model is still moving; the plots show
the distance to the minimum on a log scale and clip it at 1e-5.
"""

# %%
# Data and the reference minimum
# ------------------------------
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from sklearn_linclf import SoftmaxClassifier

X, y = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X)
n_samples = X.shape[0]
alpha = 1e-3


def objective(coef, intercept):
    """The softmax objective, written out: mean cross-entropy + alpha ||W||^2."""
    scores = X @ coef.T + intercept
    scores -= scores.max(axis=1, keepdims=True)
    log_proba = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    return -log_proba[np.arange(n_samples), y].mean() + alpha * np.sum(coef**2)


reference = LogisticRegression(C=1 / (2 * n_samples * alpha), tol=1e-10, max_iter=5000)
reference.fit(X, y)
best = objective(reference.coef_, reference.intercept_)
print(f"minimum of the objective (LogisticRegression): {best:.6f}")


def suboptimality(clf):
    return np.maximum(np.asarray(clf.loss_curve_) - best, 1e-5)


# %%
# Schedules
# ---------
# The same minibatches (``batch_size=64``, same ``random_state``) with the
# three schedules. ``"constant"`` stalls at a noise floor set by its step;
# ``"invscaling"`` keeps shrinking the step with the number of updates;
# ``"adaptive"`` keeps the step until the objective stops improving by
# ``tol`` for ``n_iter_no_change`` epochs, then divides it by 5 (the drops in
# its curve), and stops after the third division. The first two run all
# ``max_iter`` epochs (``tol=None``).
common = dict(alpha=alpha, batch_size=64, random_state=0, max_iter=80)
schedules = {
    "constant": SoftmaxClassifier(learning_rate="constant", tol=None, **common),
    "invscaling": SoftmaxClassifier(learning_rate="invscaling", tol=None, **common),
    "adaptive": SoftmaxClassifier(learning_rate="adaptive", **common),
}
for name, clf in schedules.items():
    clf.fit(X, y)
    final = objective(clf.coef_, clf.intercept_)
    print(f"{name:>10}: {clf.n_iter_:3d} epochs, final objective {final:.6f}")

# %%
# Batch sizes
# -----------
# The adaptive schedule with batches of 16, 64 and 256 rows and with the full
# data (one exact gradient step per epoch). Smaller batches make more
# updates per epoch, so they get close faster per epoch, but their gradients
# are noisier; the full batch has no noise but makes one step per epoch.
batch_sizes = [16, 64, 256, n_samples]
by_batch = {}
for batch_size in batch_sizes:
    clf = SoftmaxClassifier(
        alpha=alpha, batch_size=batch_size, random_state=0, max_iter=80
    )
    with warnings.catch_warnings():
        # The full-batch run makes one step per epoch and is cut off by
        # max_iter on purpose: a ConvergenceWarning says just that.
        warnings.simplefilter("ignore", ConvergenceWarning)
        by_batch[batch_size] = clf.fit(X, y)
    final = objective(clf.coef_, clf.intercept_)
    print(
        f"batch_size={batch_size:5d}: {clf.n_iter_:3d} epochs, {clf.t_:6d} updates, "
        f"final objective {final:.6f}"
    )

# %%
# Plot
# ----
fig, (ax0, ax1) = plt.subplots(
    1, 2, figsize=(11, 4.5), sharey=True, layout="constrained"
)
for name, clf in schedules.items():
    ax0.semilogy(np.arange(1, clf.n_iter_ + 1), suboptimality(clf), label=name)
ax0.set_title("schedules (batch_size=64)")
for batch_size, clf in by_batch.items():
    label = "full batch" if batch_size == n_samples else f"batch_size={batch_size}"
    ax1.semilogy(np.arange(1, clf.n_iter_ + 1), suboptimality(clf), label=label)
ax1.set_title('batch sizes (learning_rate="adaptive")')
for ax in (ax0, ax1):
    ax.set_xlabel("epoch")
    ax.legend()
    ax.grid(True, which="major", alpha=0.3)
ax0.set_ylabel("loss_curve_ − minimum")
plt.show()

# %%
# All runs use the automatic initial step (``learning_rate_init="auto"``),
# which for the softmax loss is the inverse of a bound on the curvature of the
# objective, so the same default works for every batch size here.
