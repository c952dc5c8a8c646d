"""Multiclass linear classifiers trained by minibatch gradient descent.

- :class:`HingeClassifier`: the Weston–Watkins multiclass SVM.
- :class:`SoftmaxClassifier`: multinomial logistic regression.

Both share one loss/gradient core and follow the scikit-learn estimator API
(``fit``, ``partial_fit``, ``predict``, ``decision_function``, ``score``).
"""

from ._classes import HingeClassifier, SoftmaxClassifier

__version__ = "0.1.0"

__all__ = ["HingeClassifier", "SoftmaxClassifier", "__version__"]
