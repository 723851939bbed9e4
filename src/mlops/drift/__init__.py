"""Drift evaluation: the training baseline, the statistics, the verdict, reports, metrics and alarms.

numpy only (no scipy, pandas or scikit-learn): the drift function's package stays small.
"""
