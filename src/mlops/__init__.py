"""Serverless MLOps: the domain package shared by every Lambda function, the CLI and the embedded stack.

Keep this module free of imports: the inference function imports ``mlops.serving`` and must not pull
scikit-learn, pandas or scipy in through the package root.
"""

__version__ = "0.1.0"
