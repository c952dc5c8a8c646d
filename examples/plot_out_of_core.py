"""
Out-of-core learning from a memory-mapped file
==============================================

When the training set is larger than memory, neither estimator needs to see it
at once: :meth:`~sklearn_linclf.SoftmaxClassifier.partial_fit` makes one pass of
minibatch updates over whatever chunk of rows it is given, and the step size,
momentum and update count carry over to the next call.

This example writes a data set to a ``.npy`` file chunk by chunk, opens it as
a read-only memory map, and streams it through ``partial_fit`` twice, scoring
a held-out set after every chunk. Only one chunk of rows is in memory at any
time, so the same code works unchanged on a file many times the size of RAM;
here the file is kept small (about 50 MB) so that the example runs in seconds.
"""

# %%
# Write the training file without holding it in memory
# ----------------------------------------------------
# :func:`numpy.lib.format.open_memmap` creates a ``.npy`` file of the final
# shape on disk; each block of rows is generated and written in turn. The
# synthetic problem has 10 overlapping classes, each a Gaussian blob around its
# own centre in 100 dimensions. Rows are written in random class order: a
# stream sorted by class would pull the model towards whichever class it saw
# last.

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from numpy.lib.format import open_memmap
from sklearn.preprocessing import StandardScaler

from sklearn_linclf import HingeClassifier, SoftmaxClassifier

n_rows, n_features, n_classes = 60_000, 100, 10
chunk_rows = 1_000
rng = np.random.default_rng(0)
centres = rng.normal(scale=0.25, size=(n_classes, n_features))
scales = rng.uniform(0.5, 5.0, size=n_features)  # features on unequal scales


def make_rows(n, rng):
    y = rng.integers(n_classes, size=n)
    X = (centres[y] + rng.normal(size=(n, n_features))) * scales
    return X, y


workdir = Path(tempfile.mkdtemp())
X_file = open_memmap(
    workdir / "X.npy", mode="w+", dtype=np.float64, shape=(n_rows, n_features)
)
y_file = open_memmap(workdir / "y.npy", mode="w+", dtype=np.int64, shape=(n_rows,))
for start in range(0, n_rows, chunk_rows):
    X_file[start : start + chunk_rows], y_file[start : start + chunk_rows] = make_rows(
        chunk_rows, rng
    )
X_file.flush()
y_file.flush()
del X_file, y_file

X_test, y_test = make_rows(5_000, rng)  # the held-out set is small: keep it
size_mb = (workdir / "X.npy").stat().st_size / 1e6
print(f"X.npy: {n_rows} rows x {n_features} features, {size_mb:.1f} MB")

# %%
# Open the file as a read-only memory map
# ---------------------------------------
# ``np.load(..., mmap_mode="r")`` reads only the header. Slicing a block of
# rows gives a view whose pages the operating system reads from disk when they
# are touched; ``mode="r"`` also guarantees that nothing writes to the file.


def chunks(X, y, rows):
    for start in range(0, X.shape[0], rows):
        # A copy of one block in RAM; the rest of the file stays on disk.
        yield np.array(X[start : start + rows]), np.array(y[start : start + rows])


X_map = np.load(workdir / "X.npy", mmap_mode="r")
y_map = np.load(workdir / "y.npy", mmap_mode="r")
classes = np.arange(n_classes)  # must be known before the first chunk

# %%
# Scale the features in a first streaming pass
# --------------------------------------------
# The default step size assumes features of comparable scale. A
# :class:`~sklearn.preprocessing.StandardScaler` also learns from chunks: one
# pass of its ``partial_fit`` accumulates the means and variances.

scaler = StandardScaler()
for X_chunk, _ in chunks(X_map, y_map, chunk_rows):
    scaler.partial_fit(X_chunk)
X_test_scaled = scaler.transform(X_test)

# %%
# Stream the file through ``partial_fit``
# ---------------------------------------
# Every ``partial_fit`` call is one epoch over its chunk (here 1 000 rows in
# minibatches of 256). The ``"adaptive"`` schedule never shrinks its step
# within ``partial_fit``, so for several passes over a stream the
# ``"invscaling"`` schedule, which decays with the update count ``t_``, is the
# better choice. The held-out accuracy is recorded after each chunk.

n_passes = 2
models = {
    "HingeClassifier": HingeClassifier(learning_rate="invscaling", random_state=0),
    "SoftmaxClassifier": SoftmaxClassifier(learning_rate="invscaling", random_state=0),
}
curves = {name: ([], []) for name in models}
for name, clf in models.items():
    rows_seen, accuracy = curves[name]
    n_seen = 0
    for _ in range(n_passes):
        for X_chunk, y_chunk in chunks(X_map, y_map, chunk_rows):
            clf.partial_fit(scaler.transform(X_chunk), y_chunk, classes=classes)
            n_seen += X_chunk.shape[0]
            rows_seen.append(n_seen)
            accuracy.append(clf.score(X_test_scaled, y_test))
    print(
        f"{name}: {clf.n_iter_} partial_fit calls, {clf.t_} updates, "
        f"held-out accuracy {accuracy[-1]:.3f}"
    )

# %%
# Held-out accuracy against rows seen
# -----------------------------------
# Accuracy climbs fast over the first ten chunks, then slowly; the second pass
# (right of the dotted line) adds only a few tenths of a point. With many more
# rows than parameters (60 000 against 1 010), one pass over a large file is
# often enough.

fig, ax = plt.subplots(figsize=(7, 4))
for name, (rows_seen, accuracy) in curves.items():
    ax.plot(rows_seen, accuracy, marker=".", label=name)
ax.axvline(n_rows, color="grey", linestyle=":", label="end of the first pass")
ax.set_xscale("log")
ax.set_xlabel("training rows seen (log scale)")
ax.set_ylabel("held-out accuracy")
ax.set_title("Streaming a memory-mapped .npy file through partial_fit")
ax.legend(loc="lower right")
fig.tight_layout()
plt.show()

# %%
# The same loop reads any source that yields blocks of rows: for sparse data
# in svmlight format, :func:`sklearn.datasets.load_svmlight_file` reads a byte
# range of the file with ``offset`` and ``length`` (pass ``n_features`` and
# ``zero_based`` so that every chunk is read the same way), and a
# ``dask.array`` of chunks can be fed to the same estimators by
# ``dask_ml.wrappers.Incremental`` (see the "Scaling out" page).

del X_map, y_map  # release the memory maps before the files are removed
for path in workdir.iterdir():
    path.unlink()
workdir.rmdir()
