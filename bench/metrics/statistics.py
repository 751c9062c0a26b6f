"""Summary statistics of per-utterance scores: mean, std, percentile bootstrap CIs, paired tests.

The bootstrap is seeded and its settings are fixed here, so a summary is reproducible to the
last digit and says how it was made (`BOOTSTRAP`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import wilcoxon

BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95
MIN_SAMPLE = 6
"""The fewest values (pairs) given a bootstrap CI or a Wilcoxon p-value; below it both are NaN.

Six is the smallest sample on which the two-sided exact signed-rank test can reach p < 0.05
(2 / 2**6); one value would give a zero-width CI and p = 1, which look like findings.
"""
#: How the intervals are made; written into every summary.
BOOTSTRAP = {
    "method": "percentile bootstrap of the mean over utterances",
    "resamples": BOOTSTRAP_RESAMPLES,
    "seed": BOOTSTRAP_SEED,
    "generator": "numpy.random.default_rng",
    "confidence": CONFIDENCE,
    "minimum_n": MIN_SAMPLE,
}
_CHUNK = 1_000


def bootstrap_mean_interval(
    values: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """Percentile bootstrap CI (95 %) of the mean of `values`; (nan, nan) for fewer than MIN_SAMPLE values.

    For paired data, pass the per-utterance differences: resampling utterances keeps pairs.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size < MIN_SAMPLE:
        return float("nan"), float("nan")
    generator = np.random.default_rng(seed)
    means = np.empty(resamples)
    for start in range(0, resamples, _CHUNK):
        stop = min(start + _CHUNK, resamples)
        picks = generator.integers(0, values.size, size=(stop - start, values.size))
        means[start:stop] = values[picks].mean(axis=1)
    tail = (1.0 - CONFIDENCE) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


def describe(values: np.ndarray) -> dict:
    """n, mean, sample std (ddof 1) and 95 % bootstrap CI of the finite entries of `values`."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    count = int(values.size)
    low, high = bootstrap_mean_interval(values)
    return {
        "n": count,
        "mean": float(values.mean()) if count else math.nan,
        "std": float(values.std(ddof=1)) if count > 1 else math.nan,
        "ci95": [low, high],
    }


def paired_difference(first: np.ndarray, second: np.ndarray) -> dict:
    """Mean of first - second over pairs, its bootstrap 95 % CI and the Wilcoxon signed-rank p-value.

    The CI is NaN below MIN_SAMPLE pairs, the p-value below MIN_SAMPLE nonzero differences
    (the test drops zero ones), each with a note.
    """
    first = np.asarray(first, dtype=np.float64)
    second = np.asarray(second, dtype=np.float64)
    if first.shape != second.shape:
        raise ValueError(f"paired samples differ in size: {first.shape} and {second.shape}")
    difference = first - second
    low, high = bootstrap_mean_interval(difference)
    result = {
        "n": int(difference.size),
        "mean_a": float(first.mean()) if difference.size else math.nan,
        "mean_b": float(second.mean()) if difference.size else math.nan,
        "mean_difference": float(difference.mean()) if difference.size else math.nan,
        "ci95": [low, high],
        "wilcoxon_p": math.nan,
    }
    nonzero = int(np.count_nonzero(difference))
    if difference.size < MIN_SAMPLE:
        result["note"] = f"fewer than {MIN_SAMPLE} pairs ({difference.size}): no CI or Wilcoxon p-value"
    elif nonzero < MIN_SAMPLE:
        result["note"] = f"Wilcoxon test not run: fewer than {MIN_SAMPLE} nonzero differences ({nonzero})"
    else:
        result["wilcoxon_p"] = float(wilcoxon(first, second).pvalue)
    return result
