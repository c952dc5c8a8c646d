"""The estimators compared, with the settings that make their objectives match.

Our objective is ``mean L_i + alpha * ||W||^2`` (intercept unpenalised). The
peers are set to the same penalty where their objective allows it:

- ``SGDClassifier``: ``mean L_i + (alpha_sgd / 2) ||w||^2`` per binary problem,
  so ``alpha_sgd = 2 * alpha``. It trains one binary model per class
  (one-vs-rest), which is not our multiclass objective.
- ``LogisticRegression`` (lbfgs, multinomial): ``C sum L_i + ||W||^2 / 2``,
  i.e. ``C = 1 / (2 * n * alpha)``: exactly ``SoftmaxClassifier``'s objective.
- ``LinearSVC(multi_class="crammer_singer")``: same ``C``, but the
  Crammer–Singer hinge (max over classes, not the Weston–Watkins sum) and a
  penalised intercept.
- ``MLPClassifier(hidden_layer_sizes=())``: a single softmax layer, i.e.
  multinomial logistic regression trained by Adam. Its batch objective is
  ``mean L_i + alpha_mlp / (2 * batch) * ||W||^2``, so
  ``alpha_mlp = 2 * batch * alpha``.

Each peer's ``coef_``/``intercept_`` is scored with our objective (the hinge or
the softmax loss, whichever it approximates) on the full training set.
"""

from dataclasses import dataclass, field

import numpy as np
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.svm import LinearSVC

from sklearn_linclf import HingeClassifier, SoftmaxClassifier

MLP_BATCH = 200  # MLPClassifier's "auto" batch size on large data

# Full-run budgets. The slow peers are capped (rows or iterations); the table
# says so next to their numbers.
FULL_CAPS = {
    # data set kind -> estimator -> settings
    "small": {},
    "dense": {
        "SGD-hinge": {"max_iter": 20},
        "SGD-log": {"max_iter": 20},
        "LinearSVC-CS": {"rows": 20_000, "tol": 0.1},
        "MLP-linear": {"max_iter": 30},
    },
    "sparse": {
        "Hinge (ours)": {"max_iter": 15},
        "Softmax (ours)": {"max_iter": 15},
        "SGD-hinge": {"max_iter": 10},
        "SGD-log": {"max_iter": 10},
        "LogisticRegression": {"max_iter": 100},
        "LinearSVC-CS": {"rows": 20_000},
        "MLP-linear": {"rows": 20_000, "max_iter": 3},
    },
    "sparse-wide": {
        # As many epochs as on the narrower set: the per-epoch figures then
        # share the one-time set-up (allocating the model) alike.
        "Hinge (ours)": {"max_iter": 15},
        "Softmax (ours)": {"max_iter": 15},
        "SGD-hinge": {"max_iter": 10},
        "SGD-log": {"max_iter": 10},
        "LogisticRegression": {"max_iter": 20},
        "LinearSVC-CS": {"rows": 20_000},
        "MLP-linear": {"rows": 5_000, "max_iter": 1},
    },
}

# A smoke test of every estimator: everything capped.
QUICK_CAPS = {
    "Hinge (ours)": {"max_iter": 30},
    "Softmax (ours)": {"max_iter": 30},
    "SGD-hinge": {"max_iter": 30},
    "SGD-log": {"max_iter": 30},
    "LogisticRegression": {"max_iter": 100},
    "LinearSVC-CS": {"rows": 1_000, "tol": 0.1},
    "MLP-linear": {"max_iter": 20},
}


@dataclass
class Entry:
    """One estimator of one data set, ready to fit."""

    name: str
    estimator: object
    loss: str  # "hinge" or "softmax": which of our losses scores it
    objective: str  # how its objective relates to ours
    rows: int | None = None  # fit on the first `rows` training rows only
    notes: list = field(default_factory=list)
    ours: bool = False
    # False where n_iter_ is not a usable count of passes and max_iter does
    # not bound the fit: scikit-learn's crammer_singer LinearSVC (its n_iter_
    # is read out of bounds, scikit-learn issue #34029, and the fit time did
    # not change with max_iter from 1 to 1000 in our runs).
    iterations_known: bool = True

    def coef(self):
        """``(W, b)`` of the fitted estimator, W of shape (n_classes, n_features)."""
        est = self.estimator
        if isinstance(est, MLPClassifier):
            return est.coefs_[0].T, est.intercepts_[0]
        return est.coef_, est.intercept_


def dataset_kind(ds):
    if not ds.is_sparse:
        return "small" if ds.n_samples < 10_000 else "dense"
    if ds.n_samples < 10_000:
        return "small"
    return "sparse-wide" if ds.n_features > 500_000 else "sparse"


def make_entries(ds, alpha, quick=False, random_state=0):
    """The estimators to compare on ``ds``, configured for penalty ``alpha``."""
    caps = QUICK_CAPS if quick else FULL_CAPS[dataset_kind(ds)]

    def cap(name, key, default=None):
        return caps.get(name, {}).get(key, default)

    def n_rows(name):
        rows = cap(name, "rows")
        return rows if rows is not None and rows < ds.n_samples else None

    def cap_note(name):
        settings = {k: v for k, v in caps.get(name, {}).items() if k != "rows"}
        if not settings:
            return []
        return ["**capped: " + ", ".join(f"{k}={v:g}" for k, v in settings.items())
                + "**"]

    entries = []
    for name, cls, loss in (
        ("Hinge (ours)", HingeClassifier, "hinge"),
        ("Softmax (ours)", SoftmaxClassifier, "softmax"),
    ):
        est = cls(alpha=alpha, random_state=random_state,
                  max_iter=cap(name, "max_iter", 200))
        entries.append(Entry(name, est, loss, "same", ours=True,
                             notes=cap_note(name)))

    for name, loss_name, loss in (
        ("SGD-hinge", "hinge", "hinge"),
        ("SGD-log", "log_loss", "softmax"),
    ):
        est = SGDClassifier(loss=loss_name, alpha=2 * alpha, n_jobs=2,
                            random_state=random_state,
                            max_iter=cap(name, "max_iter", 1000))
        entries.append(Entry(name, est, loss, "one-vs-rest",
                             notes=["n_jobs=2"] + cap_note(name)))

    name = "LogisticRegression"
    rows = n_rows(name) or ds.n_samples
    est = LogisticRegression(C=1 / (2 * rows * alpha), solver="lbfgs",
                             max_iter=cap(name, "max_iter", 1000))
    entries.append(Entry(name, est, "softmax", "same", rows=n_rows(name),
                         notes=cap_note(name)))

    name = "LinearSVC-CS"
    rows = n_rows(name) or ds.n_samples
    est = LinearSVC(multi_class="crammer_singer", C=1 / (2 * rows * alpha),
                    random_state=random_state, tol=cap(name, "tol", 1e-4))
    entries.append(Entry(name, est, "hinge", "Crammer-Singer hinge",
                         rows=n_rows(name), iterations_known=False,
                         notes=cap_note(name)
                         + ["n_iter_ unusable, max_iter ineffective"]))

    name = "MLP-linear"
    batch = min(MLP_BATCH, n_rows(name) or ds.n_samples)
    est = MLPClassifier(hidden_layer_sizes=(), alpha=2 * batch * alpha,
                        random_state=random_state,
                        max_iter=cap(name, "max_iter", 200))
    entries.append(Entry(name, est, "softmax", "same (Adam)",
                         rows=n_rows(name), notes=cap_note(name)))
    return entries


def describe_settings(entry):
    """Short text of the settings that matter for reading the table."""
    est = entry.estimator
    params = est.get_params()
    parts = []
    if isinstance(est, HingeClassifier | SoftmaxClassifier):
        parts.append(f"alpha={params['alpha']:g}")
    elif isinstance(est, SGDClassifier):
        parts.append(f"alpha={params['alpha']:g}")
    elif isinstance(est, LogisticRegression | LinearSVC):
        parts.append(f"C={params['C']:.3g}")
    elif isinstance(est, MLPClassifier):
        parts.append(f"alpha={params['alpha']:g}, adam")
    if entry.iterations_known:
        parts.append(f"max_iter={params['max_iter']}")
    if entry.rows is not None:
        parts.append(f"**first {entry.rows} rows only**")
    parts.extend(entry.notes)
    return ", ".join(parts)


def n_iter(estimator):
    """Epochs or solver iterations as one int."""
    return int(np.max(estimator.n_iter_))
