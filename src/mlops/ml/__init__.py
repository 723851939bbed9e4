"""The machine-learning domain: reading and profiling datasets, validation, training, ONNX conversion.

Pure functions over bytes, pandas frames and scikit-learn objects; storage is the callers' concern.
Import the submodules directly (``mlops.ml.dataset``, ``mlops.ml.training``, ...): this package root
stays free of imports so that importing one of them does not pull in the others.
"""
