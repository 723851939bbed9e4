"""Drift evaluation: captured traffic against the training baseline, one verdict per dataset.

Per numeric feature: the two-sample Kolmogorov-Smirnov test against the baseline sample and the
PSI over the baseline's quantile bins (plus one bin for missing values). The feature drifts when
the KS p-value is below ``ks_pvalue`` AND the KS statistic is at least ``ks_statistic`` (significant
and large enough to matter: with a million rows a negligible shift is significant), OR the PSI is
at least ``psi_threshold`` (this also catches a surge of missing values, which KS ignores).

Per categorical feature: the chi-squared test of homogeneity (baseline counts vs current counts;
categories expected fewer than 5 times in the current rows are pooled, with the rest and with
unseen categories, into one column so the test's approximation holds) and the Jensen-Shannon
distance (base 2, in [0, 1]). The feature drifts when the chi-squared p-value is below
``categorical_pvalue`` AND the distance is at least ``js_threshold``.

The dataset drifts when at least ``k = ceil(drift_share * F)`` of its ``F`` features drift (at least
one). Testing F features multiplies the chances that noise alone drifts one of them, so each
feature's p-value threshold is ``min(p, (p / C(F, k)) ** (1 / k))`` for a configured threshold
``p``: the chance that noise drifts ``k`` independent features stays below ``p``. In practice this is
Bonferroni's ``p / F`` when one feature decides (``k = 1``: narrow datasets) and the configured value
as soon as ``k >= 2`` (for the default ``drift_share`` 0.3, from 4 features on).
The ``score`` is drifted features over that number: 1.0 or more exactly when the dataset drifts,
comparable across datasets of any width (0 for insufficient data); ``share`` is the plain share of
drifted features. Below
``min_rows`` captured rows the verdict is ``insufficient_data`` whatever the statistics say.

Predictions are tested the same way (class labels as categories, regression values as numbers) and
reported, but do not count towards the dataset verdict: retraining follows inputs that moved.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from mlops.config import DriftConfig
from mlops.drift import stats
from mlops.drift.baseline import (
    MISSING,
    Baseline,
    CategoricalProfile,
    KeyedColumn,
    NumericProfile,
    as_float,
    class_key,
    count_categories,
    keys,
    load_baseline,
)

Verdict = Literal["drift", "no_drift", "insufficient_data"]

HISTOGRAM_BINS = 30
PLOTTED_CATEGORIES = 12
CHI2_MIN_EXPECTED = 5.0
SHOWN_NEW_CATEGORIES = 10
EVALUATE_WORKERS = 2
PARALLEL_MIN_ROWS = 100_000


class Distribution(BaseModel):
    """What the report plots: baseline and current shares over the same bins or categories."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["histogram", "bars"]
    labels: list[str] = Field(description="Category labels (bars) or empty (histogram).")
    edges: list[float] = Field(default_factory=list, description="Histogram bin edges, len(shares) + 1.")
    baseline: list[float]
    current: list[float]
    baseline_missing: float = 0.0
    current_missing: float = 0.0


class FeatureDrift(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    kind: Literal["numeric", "categorical"]
    test: Literal["ks", "jensen_shannon"] = Field(description="What ``statistic`` is.")
    statistic: float | None = Field(description="KS statistic or Jensen-Shannon distance; null without data.")
    threshold: float = Field(description="The statistic must reach this (effect size).")
    p_value_test: Literal["ks", "chi_squared"]
    p_value: float | None
    p_value_threshold: float = Field(description="The p-value must be below this (significance).")
    psi: float | None = None
    psi_threshold: float | None = Field(default=None, description="Numeric: PSI at or above this is drift.")
    chi_squared: float | None = None
    drift: bool
    reasons: list[str] = Field(default_factory=list, description="Which rules fired.")
    rows: int = Field(description="Current non-missing values (numeric) or rows (categorical).")
    missing_rate: float
    baseline_missing_rate: float
    new_categories: int = Field(default=0, description="Current rows whose category training never saw.")
    new_category_values: list[str] = Field(default_factory=list)
    distribution: Distribution

    @property
    def severity(self) -> float:
        """How far past its effect threshold the feature is (for ordering the report)."""
        ratios = [0.0]
        if self.statistic is not None:
            ratios.append(self.statistic / self.threshold)
        if self.psi is not None and self.psi_threshold:
            ratios.append(self.psi / self.psi_threshold)
        return max(ratios)

    def to_contract(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "test": self.test,
            "statistic": _round(self.statistic),
            "threshold": self.threshold,
            "p_value": _round(self.p_value),
            "p_value_threshold": self.p_value_threshold,
            "drift": self.drift,
        }
        if self.psi is not None:
            out["psi"] = _round(self.psi)
            out["psi_threshold"] = self.psi_threshold
        if self.kind == "categorical":
            out["new_categories"] = self.new_categories
        return out


class DriftResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    rows: int
    verdict: Verdict
    drift_detected: bool
    score: float = Field(description="Drifted features / features needed for drift: >= 1.0 exactly on drift.")
    share: float = Field(description="Share of features that drifted.")
    required_drifted: int = Field(description="Drifted features that make the dataset drift.")
    drifted_features: list[str]
    features: dict[str, FeatureDrift]
    prediction: FeatureDrift | None
    config: DriftConfig

    def to_contract(self, model: str, version: int, report_uri: str) -> dict[str, Any]:
        """The JSON of ``mlops drift run --json`` (docs/cli.md#mlops-drift-run), with a few more keys."""
        return {
            "model": model,
            "version": version,
            "rows": self.rows,
            "drift_detected": self.drift_detected,
            "verdict": self.verdict,
            "score": round(self.score, 6),
            "drifted_features": list(self.drifted_features),
            "features": {name: feature.to_contract() for name, feature in self.features.items()},
            "prediction": self.prediction.to_contract() if self.prediction is not None else {},
            "report": report_uri,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.6g}")


def evaluate(
    baseline: Mapping[str, Any] | Baseline,
    current: Mapping[str, npt.ArrayLike | KeyedColumn],
    current_predictions: npt.ArrayLike | KeyedColumn | None,
    config: DriftConfig,
) -> DriftResult:
    """Compare current feature columns (and predictions) with the baseline under ``config``."""
    profile = baseline if isinstance(baseline, Baseline) else load_baseline(baseline)
    missing_columns = [name for name in profile.feature_names if name not in current]
    if missing_columns:
        raise ValueError(f"The current traffic has no column {missing_columns[0]!r}.")
    lengths = {_rows(current[name]) for name in profile.feature_names}
    if len(lengths) > 1:
        raise ValueError("Every current feature column needs the same number of rows.")
    rows = lengths.pop() if lengths else 0

    names = profile.feature_names
    required = max(1, math.ceil(config.drift_share * len(names) - 1e-9))
    ks_alpha = feature_alpha(config.ks_pvalue, len(names), required)
    categorical_alpha = feature_alpha(config.categorical_pvalue, len(names), required)

    def feature(name: str) -> FeatureDrift:
        if name in profile.numeric:
            return _numeric_drift(
                name, profile.numeric[name], as_float(np.asarray(current[name])), config, ks_alpha
            )
        given = current[name]
        column = given if isinstance(given, KeyedColumn) else keys(given)
        return _categorical_drift(name, profile.categorical[name], column, config, categorical_alpha)

    # numpy sorts and searches without the GIL: on a big window, features are evaluated a few at once.
    workers = EVALUATE_WORKERS if rows >= PARALLEL_MIN_ROWS else 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        features = dict(zip(names, pool.map(feature, names), strict=True))

    prediction: FeatureDrift | None = None
    if current_predictions is not None and profile.prediction is not None and _rows(current_predictions):
        if isinstance(profile.prediction, NumericProfile):
            prediction = _numeric_drift(
                "prediction",
                profile.prediction,
                as_float(np.asarray(current_predictions)),
                config,
                config.ks_pvalue,
            )
        else:
            # The capture reader keys its labels already (``class_key``, as the baseline's).
            labels = (
                current_predictions
                if isinstance(current_predictions, KeyedColumn)
                else keys(current_predictions, class_key)
            )
            prediction = _categorical_drift(
                "prediction", profile.prediction, labels, config, config.categorical_pvalue
            )

    drifted = [name for name, feature in features.items() if feature.drift]
    score = len(drifted) / required if features else 0.0
    if rows < config.min_rows:
        verdict: Verdict = "insufficient_data"
        score = 0.0  # no verdict, so nothing near the drift level of 1.0
    else:
        verdict = "drift" if features and len(drifted) >= required else "no_drift"
    return DriftResult(
        rows=rows,
        verdict=verdict,
        drift_detected=verdict == "drift",
        score=score,
        share=len(drifted) / len(features) if features else 0.0,
        required_drifted=required,
        drifted_features=drifted,
        features=features,
        prediction=prediction,
        config=config,
    )


def _rows(column: npt.ArrayLike | KeyedColumn) -> int:
    return len(column) if isinstance(column, KeyedColumn) else len(np.asarray(column))


def feature_alpha(alpha: float, features: int, required: int) -> float:
    """Per-feature p-value threshold keeping P(noise drifts ``required`` of ``features``) <= ``alpha``."""
    if features <= 0:
        return alpha
    return min(alpha, math.pow(alpha / math.comb(features, required), 1.0 / required))


# ---- numeric -----------------------------------------------------------------------------------


def _numeric_drift(
    name: str, profile: NumericProfile, values: npt.NDArray[np.float64], config: DriftConfig, alpha: float
) -> FeatureDrift:
    rows = int(values.shape[0])
    present = values[~np.isnan(values)]
    present.sort()  # in place: the copy above is this feature's only full-size one
    missing = rows - int(present.shape[0])
    psi_value: float | None = None
    statistic: float | None = None
    p_value: float | None = None
    if rows:
        # Values below each edge, from the sorted column: bin counts without a pass per value.
        below = np.searchsorted(present, profile.edges, side="left")
        bins = np.diff(np.concatenate(([0], below, [present.shape[0]])))
        current_shares = np.append(bins, missing).astype(np.float64) / rows
        psi_value = stats.psi(profile.shares_with_missing, current_shares)
    if present.size and profile.sample.size:
        # float32 on both sides: the baseline sample is float32, and equal inputs must stay equal.
        result = stats.ks_2samp(profile.sample, present.astype(np.float32), presorted=True)
        statistic, p_value = result.statistic, result.pvalue
    reasons: list[str] = []
    if statistic is not None and p_value is not None and p_value < alpha and statistic >= config.ks_statistic:
        reasons.append("ks")
    if psi_value is not None and psi_value >= config.psi_threshold:
        reasons.append("psi")
    return FeatureDrift(
        name=name,
        kind="numeric",
        test="ks",
        statistic=statistic,
        threshold=config.ks_statistic,
        p_value_test="ks",
        p_value=p_value,
        p_value_threshold=alpha,
        psi=psi_value,
        psi_threshold=config.psi_threshold,
        drift=bool(reasons),
        reasons=reasons,
        rows=int(present.shape[0]),
        missing_rate=missing / rows if rows else 0.0,
        baseline_missing_rate=profile.missing_rate,
        distribution=_histogram(profile, present, missing / rows if rows else 0.0),
    )


def _histogram(
    profile: NumericProfile, present: npt.NDArray[np.float64], current_missing: float
) -> Distribution:
    """Equal-width histogram of both sides over their central 99% (one outlier must not squash it).

    Both inputs are sorted, so quantiles are index lookups and counts are binary searches.
    """
    sample = profile.sample.astype(np.float64)
    pooled = [part for part in (sample, present) if part.size]
    if not pooled:
        return Distribution(kind="histogram", labels=[], edges=[0.0, 1.0], baseline=[0.0], current=[0.0])
    low = min(float(part[int(0.005 * (part.size - 1))]) for part in pooled)
    high = max(float(part[math.ceil(0.995 * (part.size - 1))]) for part in pooled)
    if not high > low:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1)

    def shares(part: npt.NDArray[np.float64]) -> list[float]:
        if not part.size:
            return [0.0] * HISTOGRAM_BINS
        # Inner edges split the values; the outer bins also take what lies beyond the range.
        cuts = np.searchsorted(part, edges[1:-1], side="left")
        counts = np.diff(np.concatenate(([0], cuts, [part.size])))
        return [float(c) for c in counts / part.size]

    return Distribution(
        kind="histogram",
        labels=[],
        edges=[float(e) for e in edges],
        baseline=shares(sample),
        current=shares(present),
        baseline_missing=profile.missing_rate,
        current_missing=current_missing,
    )


# ---- categorical -------------------------------------------------------------------------------

OTHER_LABEL = "(other)"
NEW_LABEL = "(new)"
MISSING_LABEL = "(missing)"


def _categorical_drift(
    name: str,
    profile: CategoricalProfile,
    values: npt.NDArray[np.str_] | KeyedColumn,
    config: DriftConfig,
    alpha: float,
) -> FeatureDrift:
    rows = len(values)
    counted = count_categories(values)
    known = list(profile.counts)
    current_known = np.array([counted.get(category, 0) for category in known], dtype=np.float64)
    unmatched = {c: n for c, n in counted.items() if c not in profile.counts}
    unmatched_rows = sum(unmatched.values())
    # Without a cut in training, a category missing from the baseline is new; with one it may hide in "other".
    new_rows = 0 if profile.truncated else unmatched_rows
    new_values = (
        [] if profile.truncated else sorted(unmatched, key=lambda c: -unmatched[c])[:SHOWN_NEW_CATEGORIES]
    )

    baseline_counts = np.array([*profile.counts.values(), profile.other, 0], dtype=np.float64)
    current_counts = np.append(current_known, [unmatched_rows - new_rows, new_rows])
    js: float | None = None
    chi: stats.Chi2Result | None = None
    if rows and baseline_counts.sum() > 0:
        js = stats.jensen_shannon_distance(baseline_counts, current_counts)
        chi = _pooled_chi2(baseline_counts, current_counts, rows)
    reasons: list[str] = []
    if chi is not None and js is not None and chi.pvalue < alpha and js >= config.js_threshold:
        reasons.append("chi_squared+jensen_shannon")
    return FeatureDrift(
        name=name,
        kind="categorical",
        test="jensen_shannon",
        statistic=js,
        threshold=config.js_threshold,
        p_value_test="chi_squared",
        p_value=chi.pvalue if chi is not None else None,
        p_value_threshold=alpha,
        chi_squared=chi.statistic if chi is not None else None,
        drift=bool(reasons),
        reasons=reasons,
        rows=rows,
        missing_rate=counted.get(MISSING, 0) / rows if rows else 0.0,
        baseline_missing_rate=profile.missing_rate,
        new_categories=new_rows,
        new_category_values=new_values,
        distribution=_bars(known, baseline_counts, current_counts),
    )


def _pooled_chi2(
    baseline_counts: npt.NDArray[np.float64], current_counts: npt.NDArray[np.float64], rows: int
) -> stats.Chi2Result:
    """Chi-squared over the categories, the rare ones pooled so every kept one is expected >= 5 times."""
    baseline_shares = baseline_counts / baseline_counts.sum()
    named = len(baseline_counts) - 2  # the last two columns are "other" and "new"
    keep = np.zeros(len(baseline_counts), dtype=bool)
    keep[:named] = baseline_shares[:named] * rows >= CHI2_MIN_EXPECTED
    pooled_baseline = np.append(baseline_counts[keep], baseline_counts[~keep].sum())
    pooled_current = np.append(current_counts[keep], current_counts[~keep].sum())
    table = np.vstack([pooled_baseline, pooled_current])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return stats.Chi2Result(0.0, 1.0, 0)
    return stats.chi2_contingency(table)


def _bars(
    known: list[str], baseline_counts: npt.NDArray[np.float64], current_counts: npt.NDArray[np.float64]
) -> Distribution:
    baseline_shares = baseline_counts / max(baseline_counts.sum(), 1.0)
    current_shares = current_counts / max(current_counts.sum(), 1.0)
    named = len(known)
    order = sorted(range(named), key=lambda i: -max(baseline_shares[i], current_shares[i]))
    shown = order[:PLOTTED_CATEGORIES]
    rest = order[PLOTTED_CATEGORIES:]
    labels = [known[i] if known[i] != MISSING else MISSING_LABEL for i in shown]
    base = [float(baseline_shares[i]) for i in shown]
    cur = [float(current_shares[i]) for i in shown]
    other_base = float(baseline_shares[rest].sum() + baseline_shares[named])
    other_cur = float(current_shares[rest].sum() + current_shares[named])
    if other_base > 0 or other_cur > 0:
        labels.append(f"({len(rest)} more)" if rest and not baseline_shares[named] else OTHER_LABEL)
        base.append(other_base)
        cur.append(other_cur)
    if current_shares[named + 1] > 0:
        labels.append(NEW_LABEL)
        base.append(0.0)
        cur.append(float(current_shares[named + 1]))
    return Distribution(kind="bars", labels=labels, baseline=base, current=cur)
