"""
Accuracy against training time
==============================

How fast do the two classifiers reach a good model, compared with
scikit-learn's ``SGDClassifier`` (one-vs-rest, per-sample steps) and
``LogisticRegression`` (full-batch L-BFGS)? This example trains each of them
with growing budgets (``max_iter``: epochs for the stochastic methods,
L-BFGS iterations for ``LogisticRegression``) on a synthetic 10-class
problem and plots held-out accuracy against wall-clock training time.

All models use the same amount of L2 penalty, translated with the cross-walk
of :ref:`math`: our ``alpha`` :math:`=\\lambda`, ``SGDClassifier(alpha=2λ)``
and ``LogisticRegression(C=1/(2nλ))``. The fits are timed single-threaded, so
the comparison does not depend on the number of cores; the budgets are cut
short on purpose, so the convergence warnings they cause are silenced.
Timings vary from machine to machine; the shape of the curves is what
matters.
"""

# %%
# Data
# ----
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sklearn_linclf import HingeClassifier, SoftmaxClassifier

X, y = make_classification(
    n_samples=24_000,
    n_features=60,
    n_informative=40,
    n_redundant=10,
    n_classes=10,
    n_clusters_per_class=1,
    class_sep=1.4,
    random_state=0,
)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=4_000, stratify=y, random_state=0
)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
n = X_train.shape[0]
lam = 1e-4

# %%
# Models and budgets
# ------------------
models = {
    "HingeClassifier": lambda m: HingeClassifier(
        alpha=lam, max_iter=m, tol=None, random_state=0
    ),
    "SoftmaxClassifier": lambda m: SoftmaxClassifier(
        alpha=lam, max_iter=m, tol=None, random_state=0
    ),
    "SGDClassifier(hinge)": lambda m: SGDClassifier(
        alpha=2 * lam, max_iter=m, tol=None, random_state=0
    ),
    "SGDClassifier(log_loss)": lambda m: SGDClassifier(
        loss="log_loss", alpha=2 * lam, max_iter=m, tol=None, random_state=0
    ),
    "LogisticRegression": lambda m: LogisticRegression(C=1 / (2 * n * lam), max_iter=m),
}
budgets = {name: [1, 2, 4, 8, 16] for name in models}
budgets["LogisticRegression"] = [2, 4, 8, 16, 32, 64, 128]

results = {}
with threadpool_limits(1), warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for name, make in models.items():
        results[name] = []
        for m in budgets[name]:
            model = make(m)
            start = time.perf_counter()
            model.fit(X_train, y_train)
            seconds = time.perf_counter() - start
            results[name].append((seconds, model.score(X_test, y_test)))
        seconds, acc = results[name][-1]
        print(f"{name:24s} largest budget: {seconds:6.3f} s, accuracy {acc:.3f}")

# %%
# Plot
# ----
fig, ax = plt.subplots(figsize=(9, 5), layout="constrained")
styles = {"Hinge": "o-", "Softm": "s-", "SGDCl": "^--", "Logis": "D:"}
for name, points in results.items():
    seconds, acc = np.array(points).T
    ax.semilogx(seconds, acc, styles[name[:5]], label=name, ms=5)
ax.set_xlabel("training time (s, single thread, log scale)")
ax.set_ylabel("test accuracy")
ax.set_title("Accuracy against training time, growing budgets")
ax.legend(loc="lower right")
ax.grid(True, which="both", alpha=0.3)
plt.show()

# %%
# Both minibatch classifiers are close to their final accuracy after one or
# two epochs: an epoch is about 80 updates (batches of 256 of the 20 000
# rows), each one matrix product for all ten classes at once.
# ``SGDClassifier`` trains ten one-vs-rest binary models with one step per
# sample; its accuracy stays lower and moves up and down with the budget.
# ``LogisticRegression`` needs around ten L-BFGS iterations to catch up, and
# then reaches the exact optimum of the objective that ``SoftmaxClassifier``
# approaches by minibatch steps.
