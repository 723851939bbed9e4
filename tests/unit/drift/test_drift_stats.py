"""The numpy statistics against scipy (scipy is a test dependency only)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special
from scipy import stats as sp
from scipy.spatial.distance import jensenshannon

from mlops.drift import stats

SIZES = [
    (10, 10),
    (10, 14),
    (100, 100),
    (100, 170),
    (1000, 1000),
    (1000, 650),
    (50_000, 50_000),
    (50_000, 300),
]


@pytest.mark.parametrize(("n1", "n2"), SIZES)
@pytest.mark.parametrize("shift", [0.0, 0.15, 0.6])
def test_ks_matches_scipy(n1: int, n2: int, shift: float) -> None:
    rng = np.random.default_rng(n1 * 7 + n2 + int(shift * 100))
    a = rng.normal(0.0, 1.0, n1)
    b = rng.normal(shift, 1.0, n2)
    ours = stats.ks_2samp(a, b)
    theirs = sp.ks_2samp(a, b)
    assert ours.statistic == theirs.statistic
    assert abs(ours.pvalue - theirs.pvalue) <= 5e-3


@pytest.mark.parametrize(("n1", "n2"), [(200, 100_000), (1000, 1_000_000), (9_000, 10_000), (37, 9_999)])
def test_ks_matches_scipy_on_the_sizes_drift_uses(n1: int, n2: int) -> None:
    # Current traffic (hundreds to a million rows) against a baseline sample of up to 100k.
    rng = np.random.default_rng(n1 + n2)
    a = rng.normal(0.0, 1.0, n1).astype(np.float32)
    b = rng.normal(0.03, 1.0, n2).astype(np.float32)
    ours = stats.ks_2samp(np.sort(a), np.sort(b), presorted=True)
    theirs = sp.ks_2samp(a, b)
    assert ours.statistic == theirs.statistic
    assert abs(ours.pvalue - theirs.pvalue) <= 5e-3


def test_ks_with_ties_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    a = rng.poisson(3, 800).astype(float)
    b = rng.poisson(3.3, 1300).astype(float)
    ours, theirs = stats.ks_2samp(a, b), sp.ks_2samp(a, b)
    assert ours.statistic == theirs.statistic
    assert abs(ours.pvalue - theirs.pvalue) <= 5e-3


@pytest.mark.parametrize("seed", range(6))
def test_ks_with_shared_ties_at_the_drift_sizes_matches_scipy(seed: int) -> None:
    # Runs of equal values within and across the samples, the extremes of either inside the other.
    rng = np.random.default_rng(seed)
    a = np.sort(np.round(rng.normal(0.0, 1.0, 3_000), 1).astype(np.float32))
    b = np.round(rng.normal(0.05 * seed, 1.2, 200_000), 1)
    ours = stats.ks_2samp(a, np.sort(b), presorted=True)
    theirs = sp.ks_2samp(a, b)
    assert ours.statistic == theirs.statistic
    assert abs(ours.pvalue - theirs.pvalue) <= 5e-3


def test_ks_identical_samples_and_empty_input() -> None:
    a = np.arange(50.0)
    assert stats.ks_2samp(a, a) == (0.0, 1.0, "exact")
    with pytest.raises(ValueError, match="non-empty"):
        stats.ks_2samp(a, np.array([]))


@pytest.mark.parametrize("n", [1, 3, 10, 50, 140, 141, 500, 10_000, 100_000])
def test_kolmogorov_distribution_matches_scipy_kstwo(n: int) -> None:
    d = np.linspace(0.0005, 0.99, 120)
    ours = np.array([stats.kolmogorov_sf(float(x), n) for x in d])
    theirs = sp.kstwo.sf(d, n)
    assert np.max(np.abs(ours - theirs)) <= (1e-9 if n <= 140 else 2e-4)


@pytest.mark.parametrize("a", [0.5, 1.0, 2.5, 10.0, 99.5, 1000.0])
def test_regularized_upper_gamma_matches_scipy(a: float) -> None:
    for x in np.concatenate([[0.0, 1e-6], np.linspace(0.01, 4 * a + 40, 60)]):
        assert stats.gammaincc(a, float(x)) == pytest.approx(special.gammaincc(a, x), abs=1e-11)


@pytest.mark.parametrize("dof", [1, 2, 3, 9, 39, 199])
def test_chi_squared_survival_matches_scipy(dof: int) -> None:
    for x in np.linspace(0.0, 3 * dof + 30, 40):
        assert stats.chi2_sf(float(x), dof) == pytest.approx(sp.chi2.sf(x, dof), abs=1e-11)


@pytest.mark.parametrize("columns", [2, 3, 5, 20, 60])
def test_chi_squared_contingency_matches_scipy(columns: int) -> None:
    rng = np.random.default_rng(columns)
    for _ in range(10):
        table = rng.integers(1, 400, size=(2, columns))
        ours = stats.chi2_contingency(table)
        statistic, pvalue, dof, _ = sp.chi2_contingency(table)
        assert ours.statistic == pytest.approx(statistic, rel=1e-12)
        assert ours.pvalue == pytest.approx(pvalue, abs=1e-12)
        assert ours.dof == dof


def test_chi_squared_rejects_an_empty_column() -> None:
    with pytest.raises(ValueError, match="sums to zero"):
        stats.chi2_contingency([[1, 0], [2, 0]])


def test_psi_known_values() -> None:
    assert stats.psi([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert stats.psi([0.5, 0.5], [0.6, 0.4]) == pytest.approx(0.1 * math.log(1.2) + 0.1 * math.log(1.25))
    # Counts normalize like shares.
    assert stats.psi([50, 50], [60, 40]) == pytest.approx(stats.psi([0.5, 0.5], [0.6, 0.4]))
    # An empty baseline bin is floored at epsilon: 0.1 * ln(0.1 / 1e-4) for the bin, the rest tiny.
    expected = (0.1 - 1e-4) * math.log(0.1 / 1e-4) + (0.9 - 1.0) * math.log(0.9 / 1.0)
    assert stats.psi([1.0, 0.0], [0.9, 0.1]) == pytest.approx(expected)


def test_psi_needs_matching_bins() -> None:
    with pytest.raises(ValueError, match="same bins"):
        stats.psi([0.5, 0.5], [1.0])


def test_jensen_shannon_matches_scipy() -> None:
    rng = np.random.default_rng(5)
    for size in (2, 4, 30):
        p, q = rng.random(size), rng.random(size)
        p[0] = 0.0
        assert stats.jensen_shannon_distance(p, q) == pytest.approx(jensenshannon(p, q, base=2), abs=1e-12)
    assert stats.jensen_shannon_distance([1, 0], [0, 1]) == pytest.approx(1.0)
    assert stats.jensen_shannon_distance([3, 1], [3, 1]) == 0.0
