"""Benchmarks of sklearn_linclf against scikit-learn's linear classifiers.

Run ``python -m benchmarks --help`` from the repository root; results go to
``benchmarks/results/``. ``python -m benchmarks.profile_fit`` profiles our fits.
"""
