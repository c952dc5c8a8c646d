"""
The math, checked numerically
=============================

:ref:`math` derives the objective and its gradients. This example writes those
formulas out in a few lines of NumPy, exactly as the page states them, and
checks them against central finite differences of the objective, for both
losses, with and without sample weights. It then checks that a fitted
:class:`~sklearn_linclf.SoftmaxClassifier` is a stationary point of the
same objective (its gradient vanishes) and that the formula of erratum 2 of
the handwritten notes (the margin value in place of the indicator) is indeed
wrong. The example raises an error if any check fails, so the documentation
build catches a formula that no longer matches the code.
"""

# %%
# The formulas of the math page
# -----------------------------
import matplotlib.pyplot as plt
import numpy as np

from sklearn_linclf import SoftmaxClassifier


def scores(W, b, X):
    return X @ W.T + b  # s_ik = sum_l W_kl x_il + b_k


def hinge(S, y, delta):
    """Per-sample loss L_i and score gradient dL_i/ds_i (Weston–Watkins)."""
    rows = np.arange(len(y))
    margins = S - S[rows, y][:, None] + delta
    margins[rows, y] = 0.0
    m = (margins > 0).astype(float)  # m_ij = [s_ij - s_iy_i + delta > 0]
    grad = m.copy()
    grad[rows, y] = -m.sum(axis=1)  # -sum_{j != y_i} m_ij
    return np.maximum(margins, 0).sum(axis=1), grad


def softmax(S, y):
    """Per-sample loss L_i and score gradient p_ik - [k = y_i]."""
    rows = np.arange(len(y))
    shifted = S - S.max(axis=1, keepdims=True)  # no overflow
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    grad = np.exp(log_p)
    grad[rows, y] -= 1.0
    return -log_p[rows, y], grad


def objective_and_gradient(W, b, X, y, w, alpha, loss):
    L, dS = loss(scores(W, b, X), y)
    G = (w / w.sum())[:, None] * dS  # G_ik = w_i / sum(w) * dL_i/ds_ik
    value = np.dot(w, L) / w.sum() + alpha * np.sum(W**2)
    return value, G.T @ X + 2 * alpha * W, G.sum(axis=0)


# %%
# Gradients against finite differences
# ------------------------------------
# A small random problem; the relative error of the analytic gradient is
# measured against central differences with step 1e-6.
rng = np.random.default_rng(0)
n, d, K = 40, 5, 4
X = rng.normal(size=(n, d))
y = rng.integers(K, size=n)
W0, b0 = rng.normal(size=(K, d)), rng.normal(size=K)
alpha, delta, eps = 0.2, 1.3, 1e-6


def finite_differences(f, W, b):
    theta = np.concatenate([W.ravel(), b])
    grad = np.empty_like(theta)
    for j in range(theta.size):
        step = np.zeros_like(theta)
        step[j] = eps
        plus, minus = theta + step, theta - step
        grad[j] = (
            f(plus[: K * d].reshape(K, d), plus[K * d :])
            - f(minus[: K * d].reshape(K, d), minus[K * d :])
        ) / (2 * eps)
    return grad[: K * d].reshape(K, d), grad[K * d :]


def rel_error(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


losses = {"hinge": lambda S, y: hinge(S, y, delta), "softmax": softmax}
weightings = {"unit weights": np.ones(n), "sample weights": rng.uniform(0, 3, n)}
errors = {}
for loss_name, loss in losses.items():
    for weight_name, w in weightings.items():

        def f(W, b, w=w, loss=loss):
            return objective_and_gradient(W, b, X, y, w, alpha, loss)[0]

        _, gW, gb = objective_and_gradient(W0, b0, X, y, w, alpha, loss)
        fW, fb = finite_differences(f, W0, b0)
        errors[f"{loss_name}, {weight_name}: dL/dW"] = rel_error(gW, fW)
        errors[f"{loss_name}, {weight_name}: dL/db"] = rel_error(gb, fb)

# %%
# The slip in the notes
# ---------------------
# Erratum 2: the notes multiply by the margin value where the indicator
# belongs. Their gradient does not match the finite differences.
S = scores(W0, b0, X)
rows = np.arange(n)
margins = S - S[rows, y][:, None] + delta
margins[rows, y] = 0.0
wrong = np.maximum(margins, 0)  # margin value instead of the indicator
wrong[rows, y] = -wrong.sum(axis=1)
wrong_gW = (wrong / n).T @ X + 2 * alpha * W0


def hinge_value(W, b):
    return objective_and_gradient(W, b, X, y, np.ones(n), alpha, losses["hinge"])[0]


fW, _ = finite_differences(hinge_value, W0, b0)
notes_error = rel_error(wrong_gW, fW)

# %%
# The fitted model is a stationary point
# --------------------------------------
# Full-batch training of SoftmaxClassifier on the same data (a fixed budget of
# 2000 exact gradient steps): at the end the page's gradient, evaluated at
# ``coef_`` and ``intercept_``, is tiny compared with its size at zero
# coefficients.
clf = SoftmaxClassifier(alpha=alpha, batch_size=n, tol=None, max_iter=2000)
clf.fit(X, y)
_, gW_fit, gb_fit = objective_and_gradient(
    clf.coef_, clf.intercept_, X, y, np.ones(n), alpha, softmax
)
_, gW_zero, gb_zero = objective_and_gradient(
    np.zeros((K, d)), np.zeros(K), X, y, np.ones(n), alpha, softmax
)
errors["SoftmaxClassifier fit: |grad| / |grad at 0|"] = np.sqrt(
    np.sum(gW_fit**2) + np.sum(gb_fit**2)
) / np.sqrt(np.sum(gW_zero**2) + np.sum(gb_zero**2))

for name, err in errors.items():
    print(f"{name:48s} {err:.1e}")
print(f"{'notes, erratum 2: dL/dW':48s} {notes_error:.1e}")
assert max(errors.values()) < 1e-5, errors
assert notes_error > 0.1

# %%
# Plot
# ----
fig, ax = plt.subplots(figsize=(9, 4.8), layout="constrained")
names = list(errors) + ["notes, erratum 2: dL/dW"]
values = list(errors.values()) + [notes_error]
colors = ["tab:blue"] * len(errors) + ["tab:red"]
ax.barh(names, values, color=colors)
ax.set_xscale("log")
ax.axvline(1e-5, color="k", ls="--", lw=1)
ax.invert_yaxis()
ax.set_xlabel("relative error (log scale); dashed: the pass threshold 1e-5")
ax.set_title("The formulas of the math page against finite differences")
plt.show()
