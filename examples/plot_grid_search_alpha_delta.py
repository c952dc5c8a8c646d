"""
Grid search over alpha and delta
================================

:class:`~sklearn_linclf.HingeClassifier` has two regularisation-like
parameters: the penalty ``alpha`` (:math:`\\lambda`) and the margin ``delta``
(:math:`\\Delta`). They are not independent: the minimiser for
:math:`(\\Delta, \\lambda)` is :math:`\\Delta` times the minimiser for
:math:`(1, \\lambda\\Delta)`, so both predict the same (see
:ref:`delta-alpha`). A grid search over both therefore refits the same
models again and again, and its scores are constant along the diagonals
:math:`\\lambda\\Delta = \\text{const}` of a log-log grid.

Here the fits use a fixed budget of epochs (``tol=None``). With the automatic
step, the training path for :math:`(\\Delta, \\lambda)` is then exactly
:math:`\\Delta` times the path for :math:`(1, \\lambda\\Delta)`, and the
diagonals are constant to the last digit. (With the default ``tol`` the
stopping epoch can differ slightly along a diagonal, and so can the scores.)
"""

# %%
# The search
# ----------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_linclf import HingeClassifier

X, y = load_digits(return_X_y=True)

alphas = np.logspace(-6, -2, 5)
deltas = np.logspace(-2, 2, 5)
pipe = make_pipeline(
    StandardScaler(),
    HingeClassifier(tol=None, max_iter=15, batch_size=128, random_state=0),
)
search = GridSearchCV(
    pipe,
    {"hingeclassifier__alpha": alphas, "hingeclassifier__delta": deltas},
    cv=StratifiedKFold(3, shuffle=True, random_state=0),
).fit(X, y)

# cv_results_ lists the candidates with the last parameter varying fastest.
scores = search.cv_results_["mean_test_score"].reshape(len(alphas), len(deltas))
best = {k.split("__")[1]: float(v) for k, v in search.best_params_.items()}
print(f"best: {best}, mean CV accuracy {search.best_score_:.4f}")

# %%
# Heat map, and the same scores against the product
# -------------------------------------------------
# Left: the 5 × 5 grid. Right: every candidate's score against
# :math:`\lambda\Delta`; the 25 candidates collapse onto 9 points, one per
# diagonal of the grid.
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained")

im = ax0.imshow(scores, cmap="viridis", origin="lower")
for i in range(len(alphas)):
    for j in range(len(deltas)):
        color = "w" if scores[i, j] < scores.mean() else "k"
        ax0.text(
            j,
            i,
            f"{scores[i, j]:.3f}",
            ha="center",
            va="center",
            color=color,
            fontsize=9,
        )
ax0.set_xticks(range(len(deltas)), [f"{d:g}" for d in deltas])
ax0.set_yticks(range(len(alphas)), [f"{a:g}" for a in alphas])
ax0.set_xlabel("delta")
ax0.set_ylabel("alpha")
ax0.set_title("mean CV accuracy")
fig.colorbar(im, ax=ax0, shrink=0.8)

markers = "os^Dv"
for j, delta in enumerate(deltas):
    ax1.semilogx(
        alphas * delta,
        scores[:, j],
        markers[j],
        ms=9 - j,
        mfc="none",
        label=f"delta = {delta:g}",
    )
ax1.set_xlabel("alpha × delta")
ax1.set_ylabel("mean CV accuracy")
ax1.set_title("only the product matters")
ax1.legend()
plt.show()

# %%
# Along each diagonal the scores are identical:
products = np.add.outer(np.log10(alphas), np.log10(deltas)).round(6)
for p in np.unique(products):
    values = scores[products == p]
    print(
        f"alpha*delta = 1e{p:+.0f}: {len(values)} candidates, "
        f"scores {values.min():.4f} .. {values.max():.4f}"
    )

# %%
# So tune ``alpha`` alone with ``delta=1`` (over a wider range if needed): a
# one-dimensional search over the product finds every model this grid can
# find, with a fifth of the fits. ``delta`` only sets the scale of
# ``decision_function``.
