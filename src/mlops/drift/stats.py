"""Drift statistics in numpy alone: PSI, two-sample Kolmogorov-Smirnov, chi-squared, Jensen-Shannon.

The drift function ships without scipy (its package stays small and imports fast), so the
distributions the tests need are computed here. The unit tests compare every function with scipy:

- ``ks_2samp`` returns scipy's statistic bit for bit (same ECDF evaluation) and its p-value within
  5e-3 (in practice ~1e-4 or better). Like ``scipy.stats.ks_2samp(method="auto")`` it uses the exact
  two-sample distribution when both samples have at most 10,000 values (Hodges' lattice-path count:
  the closed form for equal sizes, the "inside" recursion otherwise), and otherwise the one-sample
  Kolmogorov distribution at ``n = round(n1 * n2 / (n1 + n2))``: exact (Durbin's matrix, as in
  Marsaglia, Tsang & Wang 2003) up to n = 140, above that the limiting distribution with Vrbik's
  finite-n correction (2018), within 1.2e-4 of scipy's ``kstwo.sf`` from n = 141 to 1e6. Where that
  approximation puts the p-value below 1e-10 the exact count (the slow case) is skipped: both are 0
  for any decision.
- ``chi2_contingency`` matches ``scipy.stats.chi2_contingency`` (Pearson statistic, Yates'
  correction for one degree of freedom); its p-value is the chi-squared survival function, the
  regularized upper incomplete gamma function (series below ``a + 1``, Lentz's continued fraction
  above; Numerical Recipes §6.2), accurate to ~1e-13.
- ``jensen_shannon_distance`` matches ``scipy.spatial.distance.jensenshannon(p, q, base=2)``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

ArrayLike = npt.ArrayLike
FloatArray = npt.NDArray[np.float64]

PSI_EPSILON = 1e-4
"""Floor for a bin's share in PSI: an empty bin would make ln(actual/expected) infinite. 1e-4 is
the usual choice (Evidently uses it too): an empty baseline bin that gets 1% of current traffic
adds 0.01 * ln(100) = 0.046, a real but not alarming amount."""

KS_EXACT_MAX_N = 10_000
"""Both samples at most this size: exact two-sample distribution (scipy's ``method="auto"`` rule)."""

_KOLMOGOROV_EXACT_MAX_N = 140
_NEGLIGIBLE_TAIL = 1e-10


class KsResult(NamedTuple):
    statistic: float
    pvalue: float
    method: Literal["exact", "asymp"]


class Chi2Result(NamedTuple):
    statistic: float
    pvalue: float
    dof: int


# ---- PSI -------------------------------------------------------------------------------------


def psi(expected: ArrayLike, actual: ArrayLike, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index of two distributions over the same bins.

    Inputs are shares or counts (each normalized to sum 1). Shares below ``epsilon`` are raised to
    it before the logarithm; the shares are not renormalized afterwards.
    """
    e = _normalized(expected)
    a = _normalized(actual)
    if e.shape != a.shape:
        raise ValueError("PSI needs the same bins on both sides.")
    e = np.maximum(e, epsilon)
    a = np.maximum(a, epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


def _normalized(values: ArrayLike) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    total = float(array.sum())
    if array.ndim != 1 or total <= 0 or np.any(array < 0):
        raise ValueError("A distribution needs non-negative values with a positive sum.")
    return array / total


# ---- Jensen-Shannon ----------------------------------------------------------------------------


def jensen_shannon_distance(p: ArrayLike, q: ArrayLike) -> float:
    """Jensen-Shannon distance in base 2: 0 for identical distributions, 1 for disjoint ones."""
    pn = _normalized(p)
    qn = _normalized(q)
    if pn.shape != qn.shape:
        raise ValueError("Jensen-Shannon needs the same categories on both sides.")
    m = (pn + qn) / 2.0
    divergence = (_relative_entropy(pn, m) + _relative_entropy(qn, m)) / 2.0 / math.log(2.0)
    return math.sqrt(max(divergence, 0.0))


def _relative_entropy(p: FloatArray, m: FloatArray) -> float:
    mask = p > 0
    return float(np.sum(p[mask] * np.log(p[mask] / m[mask])))


# ---- chi-squared -------------------------------------------------------------------------------


def chi2_contingency(table: ArrayLike, correction: bool = True) -> Chi2Result:
    """Pearson's chi-squared test of homogeneity/independence on a contingency table.

    Every row and column needs a positive total (drop empty categories first).
    """
    observed = np.asarray(table, dtype=np.float64)
    if observed.ndim != 2 or np.any(observed < 0):
        raise ValueError("A contingency table is a 2-D array of non-negative counts.")
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
    if np.any(expected == 0):
        raise ValueError("A contingency table cannot have a row or column that sums to zero.")
    dof = int((observed.shape[0] - 1) * (observed.shape[1] - 1))
    if dof == 0:
        return Chi2Result(0.0, 1.0, 0)
    if dof == 1 and correction:
        # Yates: move each observed count half a unit towards its expectation.
        difference = expected - observed
        observed = observed + np.minimum(0.5, np.abs(difference)) * np.sign(difference)
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    return Chi2Result(statistic, chi2_sf(statistic, dof), dof)


def chi2_sf(x: float, dof: float) -> float:
    """Survival function of the chi-squared distribution: Q(dof/2, x/2)."""
    if dof <= 0:
        raise ValueError("Degrees of freedom must be positive.")
    return gammaincc(dof / 2.0, x / 2.0)


_GAMMA_EPS = 1e-15
_GAMMA_TINY = 1e-300
_GAMMA_MAX_ITER = 100_000


def gammaincc(a: float, x: float) -> float:
    """Regularized upper incomplete gamma function Q(a, x) = Γ(a, x) / Γ(a)."""
    if a <= 0:
        raise ValueError("gammaincc needs a > 0.")
    if x <= 0:
        return 1.0
    if math.isinf(x):
        return 0.0
    log_prefactor = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1.0:
        # Series for P(a, x), which converges fast here; Q = 1 - P.
        term = 1.0 / a
        total = term
        denominator = a
        for _ in range(_GAMMA_MAX_ITER):
            denominator += 1.0
            term *= x / denominator
            total += term
            if abs(term) < abs(total) * _GAMMA_EPS:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefactor))
    # Continued fraction for Q(a, x), modified Lentz.
    b = x + 1.0 - a
    c = 1.0 / _GAMMA_TINY
    d = 1.0 / b
    fraction = d
    for i in range(1, _GAMMA_MAX_ITER):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _GAMMA_TINY:
            d = _GAMMA_TINY
        c = b + an / c
        if abs(c) < _GAMMA_TINY:
            c = _GAMMA_TINY
        d = 1.0 / d
        delta = d * c
        fraction *= delta
        if abs(delta - 1.0) < _GAMMA_EPS:
            break
    return min(1.0, math.exp(log_prefactor) * fraction)


# ---- Kolmogorov-Smirnov ------------------------------------------------------------------------


def ks_2samp(sample1: ArrayLike, sample2: ArrayLike, *, presorted: bool = False) -> KsResult:
    """Two-sided two-sample Kolmogorov-Smirnov test, as ``scipy.stats.ks_2samp`` computes it.

    ``presorted`` skips sorting inputs already in ascending order (the baseline sample is stored
    sorted). NaN must be removed by the caller.
    """
    data1 = np.asarray(sample1)
    data2 = np.asarray(sample2)
    if not presorted:
        data1 = np.sort(data1)
        data2 = np.sort(data2)
    n1, n2 = int(data1.shape[0]), int(data2.shape[0])
    if min(n1, n2) == 0:
        raise ValueError("The Kolmogorov-Smirnov test needs two non-empty samples.")
    highest, lowest = _ecdf_extremes(data1, data2)
    max_s = highest
    min_s = float(np.clip(-lowest, 0, 1))
    d = min_s if min_s > max_s else max_s

    big, small = max(n1, n2), min(n1, n2)
    effective_n = max(int(np.round(big * small / (big + small))), 1)
    if max(n1, n2) <= KS_EXACT_MAX_N:
        g = math.gcd(n1, n2)
        lcm = (n1 // g) * n2
        h = int(np.round(d * lcm))
        d = h * 1.0 / lcm
        if h == 0:
            return KsResult(d, 1.0, "exact")
        tail = kolmogorov_sf(d, effective_n)
        if tail < _NEGLIGIBLE_TAIL:
            # Far in the tail the exact count costs the most and both answers are ~0.
            return KsResult(d, tail, "asymp")
        p = _prob_outside_square(n1, h) if n1 == n2 else _prob_outside_band(n1, n2, g, h)
        if 0.0 <= p <= 1.0:
            return KsResult(d, p, "exact")
    return KsResult(d, float(np.clip(kolmogorov_sf(d, effective_n), 0.0, 1.0)), "asymp")


def _ecdf_extremes(data1: npt.NDArray[Any], data2: npt.NDArray[Any]) -> tuple[float, float]:
    """Max and min of ECDF1 - ECDF2 over every observation of either sorted sample (right-continuous).

    scipy evaluates both ECDFs at every observation with two binary searches of all of them; with a
    million current values against a 100,000-value sample that is most of the test's time. Here
    each ECDF is taken at its own sample's values from the ranks (the last of a run of ties holds
    the value's count), and at the other sample's values from binary searches of the *smaller*
    sample only, so the counts, hence the differences, are exactly scipy's.
    """
    n1, n2 = data1.shape[0], data2.shape[0]
    # At data1's values: data1's own count is the rank, data2's a binary search of data2.
    at1 = np.flatnonzero(_last_of_ties(data1))
    on1 = (at1 + 1) / n1 - np.searchsorted(data2, data1[at1], side="right") / n2
    # At data2's values: data1[i] <= data2[j] exactly when fewer than j + 1 values of data2 lie
    # below data1[i], so data1's count at data2[j] is a running total over data1's positions in data2.
    counts1 = np.bincount(np.searchsorted(data2, data1, side="left"), minlength=n2 + 1)
    np.cumsum(counts1, out=counts1)
    at2 = np.flatnonzero(_last_of_ties(data2))
    on2 = counts1[at2] / n1
    del counts1  # a million-row window: the temporaries are what its evaluation holds
    ranks2 = at2.astype(np.float64)
    del at2
    ranks2 += 1.0  # exact: the ranks are integers far below 2**53
    ranks2 /= n2
    on2 -= ranks2
    return max(float(on1.max()), float(on2.max())), min(float(on1.min()), float(on2.min()))


def _last_of_ties(data: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """True where a sorted array's value is the last of its run of equal values."""
    last = np.ones(data.shape[0], dtype=bool)
    np.not_equal(data[1:], data[:-1], out=last[:-1])
    return last


def _prob_outside_square(n: int, h: int) -> float:
    """P(D_{n,n} >= h/n): 2 * sum_k (-1)^(k+1) C(2n, n - k h) / C(2n, n), Horner-like (Hodges)."""
    total = 0.0
    j = np.arange(h, dtype=np.float64)
    k = n // h
    while k >= 0:
        ratio = float(np.prod((n - k * h - j) / (n + k * h + j + 1)))
        total = ratio * (1.0 - total)
        k -= 1
    return 2.0 * total


def _prob_outside_band(n1: int, n2: int, g: int, h: int) -> float:
    """Share of lattice paths from (0,0) to (m,n) leaving the band |x/m - y/n| < h/lcm(m,n).

    Hodges' inside method in Viehmann's form that tracks 1 - p directly (scipy's
    ``_compute_outer_prob_inside_method``). One column of the path table at a time: the recurrence
    along a column, A(i,j) = (i A(i-1,j) + j A(i,j-1)) / (i+j), unrolls to a cumulative sum
    weighted by binomial coefficients: with u_j = A(i,j) C(i+j, j),
    u_j = u_{j-1} + A(i-1,j) C(i+j-1, j). It runs in log space with ``logaddexp.accumulate``, so a
    whole column is a few vector operations and nothing overflows.
    """
    # The count is symmetric in the two sizes; walking the smaller one means fewer, longer vector steps.
    m, n = (n1, n2) if n1 <= n2 else (n2, n1)
    mg, ng = m // g, n // g
    log_fact = _log_factorials(m + n + 1)
    min_j, max_j = 0, min(-(-h // mg), n + 1)
    # log A(i, j) over the band of the current column; column 0 inside the band is 0 (log: -inf).
    log_previous = np.full(max_j - min_j, -np.inf)
    for i in range(1, m + 1):
        last_min_j = min_j
        min_j = min(max((ng * i - h) // mg + 1, 0), n)
        max_j = min(-(-(ng * i + h) // mg), n + 1)
        if max_j <= min_j:
            return 1.0
        width = max_j - min_j
        shift = min_j - last_min_j
        carried = log_previous[shift : shift + width]
        if carried.shape[0] < width:
            # Cells past the previous column's band have left it: A = 1, log 0.
            carried = np.concatenate((carried, np.zeros(width - carried.shape[0])))
        log_binomial = log_fact[i + min_j - 1 : i + max_j - 1] - log_fact[min_j:max_j] - log_fact[i - 1]
        log_terms = carried + log_binomial
        if min_j > 0:
            # The cell below the band, (i, min_j - 1), has left it: A = 1.
            start = log_fact[i + min_j - 1] - log_fact[min_j - 1] - log_fact[i]
            log_sums = np.logaddexp.accumulate(np.concatenate(([start], log_terms)))[1:]
        else:
            log_sums = np.logaddexp.accumulate(log_terms)
        log_previous = log_sums - (log_fact[i + min_j : i + max_j] - log_fact[min_j:max_j] - log_fact[i])
    return float(np.exp(log_previous[-1]))


@lru_cache(maxsize=8)
def _log_factorials(n: int) -> FloatArray:
    return np.array([math.lgamma(k + 1.0) for k in range(n + 1)])


def kolmogorov_sf(d: float, n: int) -> float:
    """P(D_n >= d) for the one-sample two-sided Kolmogorov statistic (what scipy's ``kstwo.sf`` is)."""
    if d >= 1.0:
        return 0.0
    if d <= 0.0 or n * d <= 0.5:
        return 1.0
    if n <= _KOLMOGOROV_EXACT_MAX_N:
        return max(0.0, 1.0 - _kolmogorov_cdf_durbin(n, d))
    x = math.sqrt(n) * d
    # Vrbik (2018): the finite-n distribution is close to the limiting one, shifted.
    return kolmogorov_limit_sf(x + 1.0 / (6.0 * math.sqrt(n)) + (x - 1.0) / (4.0 * n))


def kolmogorov_limit_sf(x: float) -> float:
    """Kolmogorov's limiting distribution: P(sqrt(n) D_n >= x) as n grows."""
    if x <= 0.0:
        return 1.0
    k = np.arange(1, 21, dtype=np.float64)
    if x < 1.0:
        # The theta-function form converges fast for small x.
        cdf = (
            math.sqrt(2.0 * math.pi)
            / x
            * float(np.sum(np.exp(-((2 * k - 1) ** 2) * math.pi**2 / (8 * x * x))))
        )
        return min(1.0, max(0.0, 1.0 - cdf))
    signs = np.where(k % 2 == 1, 1.0, -1.0)
    return min(1.0, max(0.0, 2.0 * float(np.sum(signs * np.exp(-2.0 * k * k * x * x)))))


def _kolmogorov_cdf_durbin(n: int, d: float) -> float:
    """Exact P(D_n < d) by Durbin's matrix formula (Marsaglia, Tsang & Wang 2003).

    For n <= 140 the matrix power stays within float64 range without rescaling.
    """
    k = int(n * d) + 1
    size = 2 * k - 1
    h = k - n * d
    rows = np.arange(size)
    lag = rows[:, None] - rows[None, :] + 1  # i - j + 1
    matrix = (lag >= 0).astype(np.float64)
    powers = h ** np.arange(1, size + 1, dtype=np.float64)
    matrix[:, 0] -= powers
    matrix[size - 1, :] -= powers[::-1]
    if 2 * h - 1 > 0:
        matrix[size - 1, 0] += (2 * h - 1) ** size
    positive = lag > 0
    matrix[positive] *= np.exp(-_log_factorials(size + 1)[lag[positive]])
    power = np.linalg.matrix_power(matrix, n)
    scale = math.exp(math.lgamma(n + 1.0) - n * math.log(n))
    return float(min(1.0, max(0.0, power[k - 1, k - 1] * scale)))
