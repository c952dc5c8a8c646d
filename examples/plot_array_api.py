"""
Training on PyTorch tensors (or any Array API array)
====================================================

With scikit-learn's Array API dispatch switched on, both classifiers train
on the array they are given, in its own library and on its own device: a
PyTorch tensor on a GPU is trained on that GPU, and ``coef_``,
``intercept_`` and every prediction come back as tensors on it. NumPy input
is trained exactly as without dispatch.

This example fits a :class:`~sklearn_linclf.SoftmaxClassifier` once on a
NumPy array and once on a PyTorch tensor (on the GPU when there is one, else
on the CPU) and checks that the two models are the same. Without PyTorch it
uses ``array_api_strict``, the reference implementation of the standard,
which is what the test suite runs everywhere.
"""

# %%
# Switching the dispatch on
# -------------------------
# scikit-learn's dispatch needs SciPy's own Array API support, which is read
# from the environment when SciPy is first imported: set ``SCIPY_ARRAY_API=1``
# before importing anything that imports SciPy (here, before scikit-learn).
import os

os.environ.setdefault("SCIPY_ARRAY_API", "1")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from sklearn_linclf import SoftmaxClassifier  # noqa: E402

try:
    import torch

    xp = torch
    device = "cuda" if torch.cuda.is_available() else "cpu"
except ImportError:
    import array_api_strict as xp

    device = xp.Device("CPU_DEVICE")
print(f"Array library: {xp.__name__}, device: {device}")

# %%
# The same data, as NumPy arrays and on the device
# ------------------------------------------------
# float32, which every device has (float64 is kept where the device has it).
X, y = load_digits(return_X_y=True)
X = (X / 16).astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
X_train_xp = xp.asarray(X_train, device=device)
y_train_xp = xp.asarray(y_train, device=device)
X_test_xp = xp.asarray(X_test, device=device)
y_test_xp = xp.asarray(y_test, device=device)

clf_params = dict(batch_size=128, random_state=0)
clf_numpy = SoftmaxClassifier(**clf_params).fit(X_train, y_train)

with sklearn.config_context(array_api_dispatch=True):
    clf_xp = SoftmaxClassifier(**clf_params).fit(X_train_xp, y_train_xp)
    proba_xp = clf_xp.predict_proba(X_test_xp)
    accuracy_xp = clf_xp.score(X_test_xp, y_test_xp)

# %%
# Where the fitted model lives
# ----------------------------
# ``coef_`` and the predictions are arrays of the input's library, on its
# device; ``classes_`` stays a NumPy array (labels may be strings). Predicting
# from another library raises an error that says how to move the model.
print(f"coef_: {type(clf_xp.coef_).__name__} {clf_xp.coef_.dtype} on {device}")
print(f"predict_proba: {type(proba_xp).__name__} of shape {tuple(proba_xp.shape)}")
print(f"classes_: {type(clf_xp.classes_).__name__}")

# %%
# The same model
# --------------
# Same rows in the same minibatches (the order is drawn on the host from
# ``random_state``), same steps, same stopping epoch; the coefficients differ
# by rounding only (float32 here).


def to_numpy(array):
    """A NumPy copy of a host or device array, through DLPack."""
    if hasattr(array, "cpu"):  # a PyTorch tensor, maybe on a GPU
        array = array.cpu()
    return np.from_dlpack(array)


coef_xp = to_numpy(clf_xp.coef_)
print(f"epochs: NumPy {clf_numpy.n_iter_}, {xp.__name__} {clf_xp.n_iter_}")
print(f"largest difference of coef_: {np.abs(coef_xp - clf_numpy.coef_).max():.2g}")
print(
    f"test accuracy: NumPy {clf_numpy.score(X_test, y_test):.4f}, "
    f"{xp.__name__} {accuracy_xp:.4f}"
)

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(clf_numpy.loss_curve_, lw=3, alpha=0.5, label="NumPy")
ax.plot(clf_xp.loss_curve_, "--", label=f"{xp.__name__} ({device})")
ax.set(xlabel="epoch", ylabel="training objective", yscale="log")
ax.legend()
fig.tight_layout()
plt.show()
