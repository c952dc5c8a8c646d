"""
Decision regions on 2-D data
============================

Both classifiers are linear: each class :math:`k` has a score
:math:`s_k(x) = W_k x + b_k` and the prediction is the class with the largest
score, so the decision regions are convex polygons separated by straight
lines. This example fits :class:`~sklearn_linclf.HingeClassifier` and
:class:`~sklearn_linclf.SoftmaxClassifier` to three overlapping clusters and
draws what each model learned:

- for the hinge, the decision regions and the *margin band*: the points whose
  best score beats the runner-up by less than ``delta``. A point of the
  winning class inside the band still has an active hinge term (a non-zero
  loss and gradient); outside it, it has none;
- for softmax, the probability of the predicted class, which fades from 1
  deep inside a region to :math:`1/2` on a boundary.
"""

# %%
# Data and models
# ---------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_blobs
from sklearn.preprocessing import StandardScaler

from sklearn_linclf import HingeClassifier, SoftmaxClassifier

X, y = make_blobs(
    n_samples=300,
    centers=[(-2, -1), (2, -1), (0, 2.5)],
    cluster_std=1.3,
    random_state=0,
)
X = StandardScaler().fit_transform(X)

hinge = HingeClassifier(alpha=1e-3, delta=1.0, random_state=0).fit(X, y)
softmax = SoftmaxClassifier(alpha=1e-3, random_state=0).fit(X, y)
print(f"hinge:   training accuracy {hinge.score(X, y):.3f}, {hinge.n_iter_} epochs")
print(f"softmax: training accuracy {softmax.score(X, y):.3f}, {softmax.n_iter_} epochs")

# %%
# Scores on a grid
# ----------------
# ``decision_function`` gives one score per class; the prediction is their
# argmax, and for the hinge the gap between the two largest scores tells
# whether a point is inside the margin.
xx, yy = np.meshgrid(np.linspace(-2.6, 2.6, 400), np.linspace(-2.6, 2.6, 400))
grid = np.column_stack([xx.ravel(), yy.ravel()])

scores = hinge.decision_function(grid)
top2 = np.sort(scores, axis=1)[:, -2:]
gap = (top2[:, 1] - top2[:, 0]).reshape(xx.shape)
hinge_regions = scores.argmax(axis=1).reshape(xx.shape)

proba = softmax.predict_proba(grid)
softmax_regions = proba.argmax(axis=1).reshape(xx.shape)
confidence = proba.max(axis=1).reshape(xx.shape)

# %%
# Plot
# ----
colors = np.array(["tab:blue", "tab:orange", "tab:green"])
cmap = plt.matplotlib.colors.ListedColormap(colors)
fig, axes = plt.subplots(1, 2, figsize=(11, 5), sharey=True, layout="constrained")

ax = axes[0]
ax.contourf(xx, yy, hinge_regions, levels=[-0.5, 0.5, 1.5, 2.5], cmap=cmap, alpha=0.25)
ax.contourf(xx, yy, gap, levels=[0, hinge.delta], colors="k", alpha=0.12)
ax.contour(
    xx, yy, gap, levels=[hinge.delta], colors="k", linewidths=0.8, linestyles="--"
)
ax.set_title("HingeClassifier: regions and margin band (gap < delta)")

ax = axes[1]
ax.contourf(
    xx, yy, softmax_regions, levels=[-0.5, 0.5, 1.5, 2.5], cmap=cmap, alpha=0.25
)
cs = ax.contour(xx, yy, confidence, levels=[0.5, 0.7, 0.9], colors="k", linewidths=0.8)
ax.clabel(cs, fmt="p=%.1f", fontsize=8)
ax.set_title("SoftmaxClassifier: regions and max probability")

for ax in axes:
    ax.scatter(X[:, 0], X[:, 1], c=colors[y], s=14, edgecolors="k", linewidths=0.3)
    ax.set_xlim(-2.6, 2.6)
    ax.set_ylim(-2.6, 2.6)
    ax.set_xlabel("feature 0 (standardised)")
axes[0].set_ylabel("feature 1 (standardised)")
plt.show()

# %%
# A training point has a non-zero hinge loss exactly when its true class's
# score fails to beat every other score by ``delta``: the correctly classified
# points inside the band, and the misclassified ones. Only those points pull
# on the coefficients; the others could be removed without changing the fit,
# which is why the hinge's boundaries are set by the points near them (its
# "support vectors"). The softmax loss is never exactly zero, so every point
# pulls on its boundaries a little, most strongly where its probability is far
# from 1.
scores = hinge.decision_function(X)
true_score = scores[np.arange(len(y)), y]
scores[np.arange(len(y)), y] = -np.inf
active = true_score - scores.max(axis=1) < hinge.delta
print(f"{active.sum()} of {len(X)} training points have a non-zero hinge loss")
