"""Data sets of the benchmark suite.

Every loader returns a :class:`Dataset` with a fixed train/test split, so that all
estimators of one run see exactly the same rows. The synthetic sets are generated
with vectorised NumPy (no Python loop over rows) from a fixed seed.
"""

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.datasets import load_digits, make_classification
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import normalize


@dataclass
class Dataset:
    name: str
    X_train: object
    y_train: np.ndarray
    X_test: object
    y_test: np.ndarray
    description: str
    notes: list = field(default_factory=list)

    @property
    def n_samples(self):
        return self.X_train.shape[0]

    @property
    def n_features(self):
        return self.X_train.shape[1]

    @property
    def n_classes(self):
        return np.unique(self.y_train).size

    @property
    def dtype(self):
        return self.X_train.dtype

    @property
    def is_sparse(self):
        return sp.issparse(self.X_train)

    @property
    def nbytes(self):
        """Memory held by ``X_train`` (data, indices and indptr for CSR)."""
        X = self.X_train
        if sp.issparse(X):
            return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
        return X.nbytes

    @property
    def nnz_per_row(self):
        if self.is_sparse:
            return self.X_train.nnz / self.n_samples
        return float(self.n_features)


def digits():
    """Handwritten digits, pixels scaled to [0, 1], 25% stratified test split."""
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    return Dataset(
        "digits", X_train, y_train, X_test, y_test,
        "load_digits, X/16, 25% stratified test split",
    )


def dense(n_train=200_000, n_test=50_000, n_features=200, n_informative=60,
          n_classes=10, dtype=np.float64, random_state=0):
    """``make_classification`` standardised with the training statistics."""
    X, y = make_classification(
        n_samples=n_train + n_test,
        n_features=n_features,
        n_informative=n_informative,
        n_classes=n_classes,
        n_clusters_per_class=1,
        random_state=random_state,
    )
    X_train, X_test = X[:n_train], X[n_train:]
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    X_train = ((X_train - mean) / std).astype(dtype)
    X_test = ((X_test - mean) / std).astype(dtype)
    name = "dense-" + np.dtype(dtype).name
    return Dataset(
        name, X_train, y[:n_train], X_test, y[n_train:],
        f"make_classification {n_train}+{n_test} x {n_features}, "
        f"{n_informative} informative, {n_classes} classes, standardised, "
        f"{np.dtype(dtype).name}",
    )


def _zipf_bag_of_words(rng, n_rows, n_columns, nnz_per_row, exponent=1.0,
                       offset=2.7):
    """CSR counts of words drawn with Zipf–Mandelbrot column popularity.

    Row lengths are Poisson(``nnz_per_row``) draws (at least one); each draw
    picks a column with probability proportional to ``1 / (rank + offset) **
    exponent``, and the column ranks are permuted so that popular columns are
    spread over the index range as in a real vocabulary. Repeated words of a
    row are summed, so a row has slightly fewer than its length of non-zeros.
    """
    lengths = np.maximum(rng.poisson(nnz_per_row, size=n_rows), 1)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    popularity = 1.0 / (np.arange(n_columns) + offset) ** exponent
    cdf = np.cumsum(popularity)
    cdf /= cdf[-1]
    ranks = np.searchsorted(cdf, rng.random(indptr[-1]), side="right")
    ranks = np.minimum(ranks, n_columns - 1)
    columns = rng.permutation(n_columns).astype(np.int32)[ranks]
    data = np.ones(columns.size)
    X = sp.csr_matrix((data, columns, indptr), shape=(n_rows, n_columns))
    X.sum_duplicates()  # also sorts the indices of each row
    return X


def sparse(n_train=200_000, n_test=50_000, n_features=100_000, nnz_per_row=50,
           n_classes=20, noise=0.1, random_state=0):
    """Bag of words with a planted linear model.

    Term counts are log-scaled (``1 + log(count)``) and rows l2-normalised.
    Labels are ``argmax(W x + b + noise)`` for a random Gaussian ``W``, the
    intercept ``b`` that centres each class's score, and Gaussian noise of
    ``noise`` times the standard deviation of the scores.
    """
    rng = np.random.default_rng(random_state)
    X = _zipf_bag_of_words(rng, n_train + n_test, n_features, nnz_per_row)
    np.log(X.data, out=X.data)
    X.data += 1.0
    X = normalize(X, norm="l2", copy=False)
    W = rng.standard_normal((n_classes, n_features))
    scores = np.asarray(X @ W.T)
    # The planted intercept centres each class's score so that no class is
    # swamped by the classes whose weights happen to favour popular words.
    scores -= scores.mean(axis=0)
    scores += noise * scores.std() * rng.standard_normal(scores.shape)
    y = scores.argmax(axis=1)
    X_train, X_test = X[:n_train], X[n_train:]
    X_train.indices = X_train.indices.astype(np.int32)
    name = f"sparse-{n_features // 1000}k"
    return Dataset(
        name, X_train, y[:n_train], X_test, y[n_train:],
        f"bag of words {n_train}+{n_test} x {n_features} CSR, "
        f"~{nnz_per_row} words/row (Zipf), l2 rows, {n_classes} classes from a "
        f"planted linear model ({noise:g} x score std noise)",
    )


def registry(quick=False):
    """Name -> loader for every data set; ``quick`` shrinks the synthetic ones."""
    if quick:
        dense_kw = dict(n_train=4_000, n_test=1_000, n_features=50,
                        n_informative=20)
        sparse_kw = dict(n_train=4_000, n_test=1_000)
        return {
            "digits": digits,
            "dense-float64": lambda: dense(**dense_kw),
            "dense-float32": lambda: dense(dtype=np.float32, **dense_kw),
            "sparse-100k": lambda: sparse(n_features=2_000, **sparse_kw),
            "sparse-1000k": lambda: sparse(n_features=20_000, **sparse_kw),
        }
    return {
        "digits": digits,
        "dense-float64": dense,
        "dense-float32": lambda: dense(dtype=np.float32),
        "sparse-100k": lambda: sparse(n_features=100_000),
        "sparse-1000k": lambda: sparse(n_features=1_000_000),
    }
