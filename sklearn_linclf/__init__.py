"""Multiclass linear classifiers trained by minibatch gradient descent.

- :class:`HingeClassifier`: the Weston–Watkins multiclass SVM.
- :class:`SoftmaxClassifier`: multinomial logistic regression.

Both share one loss/gradient core and follow the scikit-learn estimator API
(``fit``, ``partial_fit``, ``predict``, ``decision_function``, ``score``).
"""

__version__ = "0.1.0"  # before the imports: _base records it in pickles

from ._classes import HingeClassifier, SoftmaxClassifier  # noqa: E402
from ._solver import DivergenceError  # noqa: E402

__all__ = ["DivergenceError", "HingeClassifier", "SoftmaxClassifier", "__version__"]
